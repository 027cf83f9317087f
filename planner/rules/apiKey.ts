/**
 * vLLM's API key, kept a secret end to end. `rocm-vllm:apiKey` (a Pulumi secret, like `rocm-vllm:hfToken`) applies to
 * every deployment of the stack: the plan records only that a key is required (the variable name in `secretEnv`),
 * never its value.
 *
 * - The server reads it from `VLLM_API_KEY` when `--api-key` is not given (vllm v0.11.0 vllm/envs.py `VLLM_API_KEY`,
 *   vllm v0.11.0 vllm/entrypoints/openai/api_server.py `build_app`), so it reaches the containers as a secret
 *   environment variable, never in their command. Every release in `vllm-envs.generated.json` reads it (tested).
 * - With a key, the server answers 401 to every request whose path starts with `/v1` and that lacks
 *   `Authorization: Bearer <key>`; `/health`, `/metrics`, `/version` and `/ping` stay open (the same `build_app`:
 *   its authentication middleware passes any other path). So the readiness gate's `/v1/models` and one-token
 *   generation, the smoke test, the member supervisor's live probe and the benchmark send the header; a rolling
 *   update's drain reads only `/metrics`.
 * - `vllm bench serve` sends `Authorization: Bearer $OPENAI_API_KEY` (vllm v0.11.0
 *   vllm/benchmarks/lib/endpoint_request_func.py), so the benchmark job sets it from `VLLM_API_KEY` inside its own
 *   shell.
 */

/** The variable vLLM reads its API key from; also the name deploy.sh and the steps take it from. */
export const API_KEY_ENV = "VLLM_API_KEY";

/** The variable `vllm bench serve` takes the bearer token of its requests from. */
export const BENCHMARK_API_KEY_ENV = "OPENAI_API_KEY";

/** How to set the key instead of `--api-key` or `extraEnv.VLLM_API_KEY` (plaintext in plan, state and scripts). */
export const API_KEY_FIX = "remove it and run: pulumi config set --secret apiKey <key>";

/** Secret variables a deployment's serving containers (and its benchmark) need for the key: none without one. */
export function apiKeySecretEnv(hasApiKey: boolean): string[] {
  return hasApiKey ? [API_KEY_ENV] : [];
}

/**
 * The start of a POSIX shell command that calls a server's `/v1` API: `curl`, and with a key, curl reading its
 * `Authorization` header from standard input (`-H @-`) where the shell builtin `printf` writes it, so the key is on
 * no command line (`ps`) and in no file.
 */
export function apiCurl(apiKey: boolean): string {
  return apiKey ? `printf 'Authorization: Bearer %s\\n' "$${API_KEY_ENV}" | curl -H @-` : "curl";
}

/**
 * POSIX shell lines that stop a step, with one clear line, when a secret it needs is not in its environment.
 * `who` names the step (plain text, no quote).
 */
export function requireSecretsLines(names: readonly string[], who: string): string[] {
  return names.map(
    (name) =>
      `[ -n "\${${name}:-}" ] || { echo 'rocm-vllm: ${who.replace(/'/g, "")} needs ${name} in its environment' >&2; exit 1; }`,
  );
}
