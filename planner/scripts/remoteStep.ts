/**
 * Every step rocm-vllm runs on a node (host preflight, weight downloads, readiness gates, smoke tests, benchmarks)
 * runs inside this guard, in the Pulumi program and in the exported scripts alike. The guard, a POSIX `sh` script
 * sent on the standard input of `ssh … sh -s` (so the node's login shell never interprets it, and no `#!` line is
 * needed):
 *
 * - enforces the step's time limit **on the node**: past it the step's process group is killed, its cleanup runs
 *   (e.g. `docker rm --force` of a job container), and it fails naming the node, the phase and the last lines;
 * - stops the step when the ssh session that started it ends (`pulumi up` interrupted or timed out, network gone),
 *   so nothing keeps running on the node after its step failed or was interrupted;
 * - prints a progress line (phase, elapsed time, limit) whenever the step has been silent for `PROGRESS_SECONDS`, so
 *   the operator sees progress and the connection never idles long enough for a NAT or firewall to drop it.
 */
import { shellQuote } from "./shellQuote";

/** A progress line at least this often, whatever the step prints itself. */
export const PROGRESS_SECONDS = 30;

/** Lines of the step's own output quoted when it fails or times out. */
export const LAST_LINES = 30;

/** Exit status of a step stopped at its time limit (as `timeout(1)`). */
export const TIMEOUT_EXIT = 124;

/** Exit status of a step stopped because its ssh session ended. */
export const SESSION_LOST_EXIT = 129;

export interface RemoteStepInput {
  /** Node name, as in the stack file. */
  node: string;
  /** What the step does, in words (`readiness of llama405b`, `weights download rocm-vllm-x-weights`). */
  phase: string;
  /** Enforced on the node. */
  timeoutSeconds: number;
  /** POSIX `sh` run with stdin from /dev/null, in its own process group; its output is streamed. */
  body: string;
  /** `sh` run when the step is stopped early (time limit, session lost), e.g. removing a job's container. */
  cleanup?: string;
  /** `sh` printing one short line appended to progress lines, e.g. how much a download has written. */
  progress?: string;
}

/** Heredoc delimiter that is not a line of `body`. */
function delimiter(base: string, body: string): string {
  const lines = new Set(body.split("\n"));
  let d = base;
  for (let n = 1; lines.has(d); n++) d = `${base}_${n}`;
  return d;
}

function fileFrom(path: string, body: string, base: string): string[] {
  const d = delimiter(base, body);
  return [`cat >${path} <<'${d}'`, ...(body.endsWith("\n") ? body.slice(0, -1) : body).split("\n"), d];
}

/** The guarded step: the text to send to `sh -s` on the node (see the file comment). */
export function remoteStep(i: RemoteStepInput): string {
  const tag = shellQuote(`rocm-vllm: ${i.node}: ${i.phase}`);
  return [
    `# rocm-vllm step on ${i.node.replace(/\n/g, " ")}: ${i.phase.replace(/\n/g, " ")}; stopped on the node after ${i.timeoutSeconds}s or when its ssh session ends.`,
    "set -u",
    `tag=${tag}`,
    `limit=${i.timeoutSeconds}`,
    'dir=$(mktemp -d -t rocm-vllm-step.XXXXXX) || { echo "$tag: cannot create a temporary directory on the node" >&2; exit 1; }',
    ...fileFrom('"$dir/body"', i.body, "ROCM_VLLM_STEP_BODY"),
    ...fileFrom('"$dir/cleanup"', i.cleanup ?? ":", "ROCM_VLLM_STEP_CLEANUP"),
    ...fileFrom('"$dir/progress"', i.progress ?? ":", "ROCM_VLLM_STEP_PROGRESS"),
    // The ssh session this step runs in: the nearest sshd ancestor. Its end means the client is gone.
    "session=''",
    "p=$$",
    'while [ "${p:-0}" -gt 1 ] 2>/dev/null; do',
    "  p=$(sed 's/.*) //' \"/proc/$p/stat\" 2>/dev/null | cut -d ' ' -f 2)",
    '  case $(cat "/proc/${p:-0}/comm" 2>/dev/null) in sshd*) session=$p; break ;; esac',
    "done",
    "start=$(date +%s)",
    'setsid sh "$dir/body" </dev/null >"$dir/out" 2>&1 &',
    "pid=$!",
    // Running and not a zombie (`kill -0` also succeeds on a child that exited but was not waited for).
    'alive() { s=$(sed \'s/.*) //\' "/proc/$pid/stat" 2>/dev/null | cut -c 1); [ -n "$s" ] && [ "$s" != Z ]; }',
    "shown=0",
    // Prints what the step wrote since the last call.
    'flush() { size=$(wc -c <"$dir/out"); if [ "$size" -gt "$shown" ]; then tail -c +"$((shown + 1))" "$dir/out" | head -c "$((size - shown))"; shown=$size; fi; }',
    'stop() { kill -TERM "-$pid" 2>/dev/null; n=0; while alive && [ "$n" -lt 10 ]; do sleep 1; n=$((n + 1)); done; kill -KILL "-$pid" 2>/dev/null; sh "$dir/cleanup" >/dev/null 2>&1; }',
    'last_lines() { echo "$tag: $1; last lines:" >&2; tail -n ' +
      String(LAST_LINES) +
      " \"$dir/out\" | sed 's/^/  /' >&2; }",
    "quiet=$start",
    "while alive; do",
    "  now=$(date +%s)",
    '  before=$shown; flush; [ "$shown" -eq "$before" ] || quiet=$now',
    '  if [ $((now - start)) -ge "$limit" ]; then',
    '    stop; flush; last_lines "timed out after ${limit}s on the node; stopped"; rm -rf "$dir"; exit ' +
      String(TIMEOUT_EXIT),
    "  fi",
    '  if [ -n "$session" ] && [ ! -d "/proc/$session" ]; then stop; rm -rf "$dir"; exit ' +
      String(SESSION_LOST_EXIT) +
      "; fi",
    `  if [ $((now - quiet)) -ge ${PROGRESS_SECONDS} ]; then`,
    '    extra=$(sh "$dir/progress" 2>/dev/null | head -n 1)',
    '    echo "$tag: still running after $((now - start))s (limit ${limit}s)${extra:+; $extra}"',
    "    quiet=$now",
    "  fi",
    "  sleep 1",
    "done",
    'wait "$pid"',
    "rc=$?",
    "flush",
    'if [ "$rc" -ne 0 ]; then last_lines "failed with exit status $rc after $(( $(date +%s) - start ))s"; fi',
    'rm -rf "$dir"',
    'exit "$rc"',
    "",
  ].join("\n");
}
