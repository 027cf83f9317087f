/**
 * Shell run inside and beside the containers: the Ray head (start Ray, wait for every worker, then serve), the Ray
 * worker (join, retrying until the head answers) and the readiness gate run on a node.
 *
 * The Pulumi program, the exported scripts and the end-to-end test all run exactly this text; it is part of the plan.
 * Every interpolated value is quoted with `shellQuote` or is validated to a safe alphabet by the schema.
 */

import { apiCurl, apiKeySecretEnv, requireSecretsLines } from "../rules/apiKey";
import { MEMBER_STATUS_FILE } from "../rules/healing";
import { shellJoin, shellQuote } from "./shellQuote";
import { RAY_FORMED_FILE, RAY_JOINED_FILE } from "./supervisor";

export interface RayHeadScriptInput {
  deployment: string;
  gcsPort: number;
  /** GPUs this node contributes. */
  gpus: number;
  /** Worker nodes the head waits for: address → node name. */
  workers: { name: string; ip: string }[];
  expectedNodes: number;
  expectedGpus: number;
  joinTimeoutSeconds: number;
  /** `vllm serve` argv to exec once the cluster is complete. */
  serveArgv: readonly string[];
}

/**
 * Ray custom resource every node of a group advertises (`ray start --resources`), named after the group's generation
 * (`ROCM_VLLM_GENERATION`, the `rocm-vllm.generation` label): the head counts only nodes of its own generation, and a
 * worker leaves a head of another generation, so a Ray cluster is never formed of old and new members.
 */
const GENERATION_RESOURCE = '"{\\"rocm_vllm_gen_${ROCM_VLLM_GENERATION:-none}\\": 1}"';

/**
 * Ray head: start Ray on this node, wait until Ray reports every expected node and GPU of this generation (and none
 * of another), record the nodes it formed with (the supervisor fails the member when one leaves), then exec
 * `vllm serve`. On timeout it exits 1 naming the missing nodes, so the container log says which node never joined.
 */
export function rayHeadScript(i: RayHeadScriptInput): string {
  const expected = JSON.stringify(Object.fromEntries(i.workers.map((w) => [w.ip, w.name])));
  return [
    "set -euo pipefail",
    `# rocm-vllm Ray head of ${i.deployment}: start Ray, wait for ${i.expectedNodes} nodes and ${i.expectedGpus} GPUs of this generation, then serve.`,
    // As PID 1, bash ignores SIGTERM without a handler: stop Ray and leave at once on `docker stop`.
    "trap 'ray stop --force >/dev/null 2>&1; exit 143' TERM INT",
    "ray stop --force >/dev/null 2>&1 || true",
    `ray start --head --node-ip-address="$VLLM_HOST_IP" --port=${i.gcsPort} --num-gpus=${i.gpus} --resources=${GENERATION_RESOURCE} --disable-usage-stats`,
    `python3 - ${shellQuote(expected)} ${i.expectedNodes} ${i.expectedGpus} ${i.joinTimeoutSeconds} ${shellQuote(RAY_FORMED_FILE)} <<'PY' &`,
    "import json, os, sys, time",
    "import ray",
    "expected, want_nodes, want_gpus, timeout, formed_file = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]",
    'gen = "rocm_vllm_gen_" + os.environ.get("ROCM_VLLM_GENERATION", "none")',
    'ray.init(address="auto", logging_level="ERROR")',
    "deadline = time.time() + timeout",
    "while True:",
    '    alive = [n for n in ray.nodes() if n.get("Alive")]',
    '    mine = [n for n in alive if n.get("Resources", {}).get(gen, 0) > 0]',
    '    others = sorted(n.get("NodeManagerAddress") for n in alive if n not in mine)',
    '    ips = {n.get("NodeManagerAddress") for n in mine}',
    '    gpus = sum(n.get("Resources", {}).get("GPU", 0) for n in mine)',
    '    missing = [f"{name} ({ip})" for ip, name in sorted(expected.items()) if ip not in ips]',
    "    if not missing and not others and len(mine) >= want_nodes and gpus >= want_gpus:",
    '        formed = [{"id": n["NodeID"], "ip": n["NodeManagerAddress"], "name": expected.get(n["NodeManagerAddress"], "head")} for n in mine]',
    '        with open(formed_file + ".new", "w") as f:',
    "            json.dump(formed, f)",
    '        os.replace(formed_file + ".new", formed_file)',
    '        print(f"rocm-vllm: Ray cluster complete: {len(mine)} nodes, {int(gpus)} GPUs", flush=True)',
    "        break",
    "    if time.time() > deadline:",
    '        stale = f"; nodes of another generation still joined: {\', \'.join(others)}" if others else ""',
    "        print(f\"rocm-vllm: Ray cluster incomplete after {timeout}s: {len(mine)}/{want_nodes} nodes, {int(gpus)}/{want_gpus} GPUs; missing: {', '.join(missing) or 'none'}{stale}\", file=sys.stderr, flush=True)",
    "        sys.exit(1)",
    "    time.sleep(2)",
    "PY",
    'wait "$!"',
    `exec ${shellJoin(i.serveArgv)}`,
    "",
  ].join("\n");
}

export interface RayWorkerScriptInput {
  deployment: string;
  headAddress: string;
  gcsPort: number;
  gpus: number;
  /** How long the worker waits for a head of its generation before it fails (`timeouts.rayJoinSeconds`). */
  joinTimeoutSeconds: number;
}

/**
 * Ray worker: join the head, once it answers and runs this generation, and block while joined; when the head goes
 * away (its raylet exits with it) rejoin the next head. It never waits forever: without a head of its generation
 * for `joinTimeoutSeconds` it exits 1 (its supervisor then backs off and, after the cap, stays failed).
 */
export function rayWorkerScript(i: RayWorkerScriptInput): string {
  const head = shellQuote(`${i.headAddress}:${i.gcsPort}`);
  return [
    "set -uo pipefail",
    `# rocm-vllm Ray worker of ${i.deployment}: join the head at ${i.headAddress}:${i.gcsPort} (same generation), rejoin when it restarts, give up after ${i.joinTimeoutSeconds}s without one.`,
    // Children run in the background and bash waits, so the TERM handler runs as soon as `docker stop` sends it.
    "trap 'ray stop --force >/dev/null 2>&1; exit 0' TERM INT",
    `joined=${shellQuote(RAY_JOINED_FILE)}`,
    `deadline=$(( $(date +%s) + ${i.joinTimeoutSeconds} ))`,
    "while true; do",
    '  rm -f "$joined"',
    "  ray stop --force >/dev/null 2>&1 || true",
    `  ray start --address=${head} --node-ip-address="$VLLM_HOST_IP" --num-gpus=${i.gpus} --resources=${GENERATION_RESOURCE} --disable-usage-stats --block &`,
    "  ray_pid=$!",
    // Marks the node joined once the head lists it alive, if the head runs this generation; leaves otherwise.
    `  python3 - ${head} "$ray_pid" "$joined" <<'PY' &`,
    "import os, sys, time",
    "import ray",
    "head, ray_pid, joined = sys.argv[1], int(sys.argv[2]), sys.argv[3]",
    'gen = "rocm_vllm_gen_" + os.environ.get("ROCM_VLLM_GENERATION", "none")',
    'me = os.environ.get("VLLM_HOST_IP")',
    "while True:",
    "    try:",
    "        os.kill(ray_pid, 0)",
    "    except OSError:",
    "        sys.exit(1)",
    "    try:",
    '        ray.init(address=head, logging_level="ERROR", ignore_reinit_error=True)',
    '        nodes = [n for n in ray.nodes() if n.get("Alive")]',
    "    except Exception:",
    "        time.sleep(1)",
    "        continue",
    '    heads = [n for n in nodes if "node:__internal_head__" in n.get("Resources", {})]',
    '    if heads and not any(gen in n.get("Resources", {}) for n in heads):',
    '        print(f"rocm-vllm: the Ray head at {head} runs another generation; leaving it", flush=True)',
    "        sys.exit(3)",
    '    if heads and any(n.get("NodeManagerAddress") == me for n in nodes):',
    '        open(joined, "w").close()',
    '        print(f"rocm-vllm: joined the Ray head at {head}", flush=True)',
    "        sys.exit(0)",
    "    ray.shutdown()",
    "    time.sleep(1)",
    "PY",
    "  watch_pid=$!",
    '  wait "$watch_pid"',
    '  if [ "$?" -eq 3 ]; then kill "$ray_pid" 2>/dev/null; fi',
    '  wait "$ray_pid"',
    '  if [ -f "$joined" ]; then',
    "    echo 'rocm-vllm: the Ray head went away; rejoining'",
    `    deadline=$(( $(date +%s) + ${i.joinTimeoutSeconds} ))`,
    "  fi",
    '  rm -f "$joined"',
    '  if [ "$(date +%s)" -ge "$deadline" ]; then',
    `    echo 'rocm-vllm: no Ray head of this generation at '${head}' for ${i.joinTimeoutSeconds}s; giving up' >&2`,
    "    exit 1",
    "  fi",
    `  echo 'rocm-vllm: Ray head '${head}' not reachable yet; retrying in 5s' >&2`,
    "  sleep 5 &",
    '  wait "$!"',
    "done",
    "",
  ].join("\n");
}

export interface ReadinessScriptInput {
  deployment: string;
  node: string;
  endpoint: string;
  port: number;
  container: string;
  servedModelName: string;
  timeoutSeconds: number;
  /** `rocm-vllm:apiKey` guards the API: `/v1` requests carry `Authorization: Bearer $VLLM_API_KEY`. */
  apiKey: boolean;
  /** Nodes of an engine spanning nodes whose ranks meet at this one, by node rank (named when the gate fails). */
  ranks?: { node: string; ip: string; container: string }[];
}

/** Names the nodes of an engine by node rank: node 0 waits for every other rank, so a missing one stalls it. */
function ranksLine(deployment: string, ranks: NonNullable<ReadinessScriptInput["ranks"]>): string {
  const listed = ranks.map((r, k) => `node rank ${k} = ${r.node} (${r.ip}, container ${r.container})`).join("; ");
  return `rocm-vllm: ${deployment} is one engine over ${ranks.length} nodes and serves only once every node rank has joined node rank 0: ${listed}`;
}

/** The readiness gate prints what it waits for at least this often (seconds). */
export const READINESS_PROGRESS_SECONDS = 30;

/**
 * Readiness gate, run on the node: the planned container is running and its engine is live — `/health` answers,
 * `/v1/models` lists the served model and a one-token generation completes (`/health` alone has answered while the
 * engine was dead, vllm-project/vllm#39863) — within the timeout. It prints each state its member supervisor reports
 * (forming, loading, backoff, …) as it changes, and every `READINESS_PROGRESS_SECONDS` what it is waiting for and for
 * how long. When the member gave up (`failed`, after its restart cap) or the time is up, it prints the state, the last
 * 40 lines of the container's log and what is left on the node, and exits 1. POSIX `sh`; it needs no `#!` line.
 */
export function readinessScript(i: ReadinessScriptInput): string {
  const name = shellQuote(i.container);
  const modelId = shellQuote(`"id":"${i.servedModelName}"`);
  const body = shellQuote(JSON.stringify({ model: i.servedModelName, prompt: "ping", max_tokens: 1, temperature: 0 }));
  const who = shellQuote(`rocm-vllm: ${i.deployment} on ${i.node}`);
  const curl = apiCurl(i.apiKey);
  return [
    `# rocm-vllm readiness of ${i.deployment} on ${i.node}: /health, /v1/models and a one-token generation within ${i.timeoutSeconds}s.`,
    "set -u",
    ...requireSecretsLines(apiKeySecretEnv(i.apiKey), `the readiness gate of ${i.deployment}`),
    `url=http://127.0.0.1:${i.port}`,
    "start=$(date +%s)",
    `deadline=$((start + ${i.timeoutSeconds}))`,
    "reported=$start",
    `member() { docker exec ${name} cat ${shellQuote(MEMBER_STATUS_FILE)} 2>/dev/null | sed -n 's/^state=//p;s/^reason=/  /p' | tr '\\n' ' '; }`,
    "fail_with_log() {",
    `  echo ${shellQuote(`rocm-vllm: ${i.deployment} on ${i.node} (container ${i.container})`)} "$1; member: $(member); last log lines:" >&2`,
    `  docker logs --tail 40 ${name} 2>&1 | sed 's/^/  /' >&2`,
    ...(i.ranks ? [`  echo ${shellQuote(ranksLine(i.deployment, i.ranks))} >&2`] : []),
    `  echo ${shellQuote(`rocm-vllm: left on ${i.node}: ${i.container}, which restarts with back-off until its restart cap, then stays failed without holding a GPU; to retry after fixing the cause, run deploy.sh again, or remove it (docker rm -f ${i.container}) and run pulumi up --refresh`)} >&2`,
    "  exit 1",
    "}",
    "shown=''",
    "while :; do",
    // The named container must be the one running: a stale server on the port must not pass the gate.
    `  if [ "$(docker inspect -f '{{.State.Running}}' ${name} 2>/dev/null)" != true ]; then`,
    `    waiting="container ${i.container.replace(/[^\w.-]/g, "")} to run"`,
    '  elif ! curl -fsS -m 5 "$url/health" >/dev/null 2>&1; then',
    `    waiting="/health on port ${i.port} (model loading)"`,
    `  elif ! ${curl} -fsS -m 5 "$url/v1/models" 2>/dev/null | grep -qF ${modelId}; then`,
    `    waiting="/v1/models to list the served model"`,
    `  elif ! ${curl} -fsS -m 60 -H 'Content-Type: application/json' -d ${body} "$url/v1/completions" 2>/dev/null | grep -qF '"choices"'; then`,
    `    waiting="a one-token generation to complete"`,
    "  else",
    `    echo ${shellQuote(`rocm-vllm: ${i.deployment} ready at ${i.endpoint}`)} "after $(( $(date +%s) - start ))s"`,
    "    exit 0",
    "  fi",
    "  state=$(member)",
    `  if [ -n "$state" ] && [ "$state" != "$shown" ]; then echo ${who}: member "$state"; shown=$state; fi`,
    '  case "$state" in failed*) fail_with_log "gave up" ;; esac',
    "  now=$(date +%s)",
    `  if [ "$now" -ge "$deadline" ]; then fail_with_log "not ready after ${i.timeoutSeconds}s (was waiting for $waiting)"; fi`,
    `  if [ $((now - reported)) -ge ${READINESS_PROGRESS_SECONDS} ]; then`,
    `    echo ${who} "waiting for $waiting: $((now - start))s of ${i.timeoutSeconds}s"`,
    "    reported=$now",
    "  fi",
    "  sleep 5",
    "done",
    "",
  ].join("\n");
}
