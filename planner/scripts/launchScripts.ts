/**
 * Shell run inside and beside the containers: the Ray head (start Ray, wait for every worker, then serve), the Ray
 * worker (join, retrying until the head answers) and the readiness gate run on a node.
 *
 * The Pulumi program, the exported scripts and the end-to-end test all run exactly this text; it is part of the plan.
 * Every interpolated value is quoted with `shellQuote` or is validated to a safe alphabet by the schema.
 */
import { shellJoin, shellQuote } from "./shellQuote";

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
 * Ray head: start Ray on this node, wait until Ray reports every expected node and GPU, then exec `vllm serve`.
 * On timeout it exits 1 naming the missing nodes, so the container log says which node never joined.
 */
export function rayHeadScript(i: RayHeadScriptInput): string {
  const expected = JSON.stringify(Object.fromEntries(i.workers.map((w) => [w.ip, w.name])));
  return [
    "set -euo pipefail",
    `# rocm-vllm Ray head of ${i.deployment}: start Ray, wait for ${i.expectedNodes} nodes and ${i.expectedGpus} GPUs, then serve.`,
    // As PID 1, bash ignores SIGTERM without a handler: stop Ray and leave at once on `docker stop`.
    "trap 'ray stop --force >/dev/null 2>&1; exit 143' TERM INT",
    "ray stop --force >/dev/null 2>&1 || true",
    `ray start --head --node-ip-address="$VLLM_HOST_IP" --port=${i.gcsPort} --num-gpus=${i.gpus} --disable-usage-stats`,
    `python3 - ${shellQuote(expected)} ${i.expectedNodes} ${i.expectedGpus} ${i.joinTimeoutSeconds} <<'PY' &`,
    "import json, sys, time",
    "import ray",
    "expected, want_nodes, want_gpus, timeout = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])",
    'ray.init(address="auto", logging_level="ERROR")',
    "deadline = time.time() + timeout",
    "while True:",
    '    alive = [n for n in ray.nodes() if n.get("Alive")]',
    '    ips = {n.get("NodeManagerAddress") for n in alive}',
    '    gpus = sum(n.get("Resources", {}).get("GPU", 0) for n in alive)',
    '    missing = [f"{name} ({ip})" for ip, name in sorted(expected.items()) if ip not in ips]',
    "    if not missing and len(alive) >= want_nodes and gpus >= want_gpus:",
    '        print(f"rocm-vllm: Ray cluster complete: {len(alive)} nodes, {int(gpus)} GPUs", flush=True)',
    "        break",
    "    if time.time() > deadline:",
    "        print(f\"rocm-vllm: Ray cluster incomplete after {timeout}s: {len(alive)}/{want_nodes} nodes, {int(gpus)}/{want_gpus} GPUs; missing: {', '.join(missing) or 'none'}\", file=sys.stderr, flush=True)",
    "        sys.exit(1)",
    "    time.sleep(5)",
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
}

/** Ray worker: join the head and block; when the head is not up yet (or goes away), retry every 5 seconds. */
export function rayWorkerScript(i: RayWorkerScriptInput): string {
  const head = shellQuote(`${i.headAddress}:${i.gcsPort}`);
  return [
    "set -uo pipefail",
    `# rocm-vllm Ray worker of ${i.deployment}: join the head at ${i.headAddress}:${i.gcsPort}, retrying until it answers.`,
    // Children run in the background and bash waits, so the TERM handler runs as soon as `docker stop` sends it.
    "trap 'ray stop --force >/dev/null 2>&1; exit 0' TERM INT",
    "while true; do",
    "  ray stop --force >/dev/null 2>&1 || true",
    `  ray start --address=${head} --node-ip-address="$VLLM_HOST_IP" --num-gpus=${i.gpus} --disable-usage-stats --block &`,
    '  if wait "$!"; then',
    "    echo 'rocm-vllm: Ray worker stopped; rejoining'",
    "  else",
    `    echo 'rocm-vllm: Ray head '${head}' not reachable yet; retrying in 5s' >&2`,
    "  fi",
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
  /** Nodes of an engine spanning nodes whose ranks meet at this one, by node rank (named when the gate fails). */
  ranks?: { node: string; ip: string; container: string }[];
}

/** Names the nodes of an engine by node rank: node 0 waits for every other rank, so a missing one stalls it. */
function ranksLine(deployment: string, ranks: NonNullable<ReadinessScriptInput["ranks"]>): string {
  const listed = ranks.map((r, k) => `node rank ${k} = ${r.node} (${r.ip}, container ${r.container})`).join("; ");
  return `rocm-vllm: ${deployment} is one engine over ${ranks.length} nodes and serves only once every node rank has joined node rank 0: ${listed}`;
}

/** Restarts after which the readiness gate stops waiting: the container is crash-looping, not loading. */
export const READINESS_MAX_RESTARTS = 3;

/** The readiness gate prints what it waits for at least this often (seconds). */
export const READINESS_PROGRESS_SECONDS = 30;

/**
 * Readiness gate, run on the node: the planned container is running, `/health` answers and `/v1/models` lists the
 * served model, within the timeout. Every `READINESS_PROGRESS_SECONDS` it prints what it is waiting for and for how
 * long. On timeout, or once the container has restarted `READINESS_MAX_RESTARTS` times, it prints the last 40 lines of
 * the container's log and exits 1, so `pulumi up` shows why. POSIX `sh`; it needs no `#!` line.
 */
export function readinessScript(i: ReadinessScriptInput): string {
  const name = shellQuote(i.container);
  const modelId = shellQuote(`"id":"${i.servedModelName}"`);
  const who = shellQuote(`rocm-vllm: ${i.deployment} on ${i.node}`);
  return [
    `# rocm-vllm readiness of ${i.deployment} on ${i.node}: /health and /v1/models within ${i.timeoutSeconds}s.`,
    "set -u",
    `url=http://127.0.0.1:${i.port}`,
    "start=$(date +%s)",
    `deadline=$((start + ${i.timeoutSeconds}))`,
    "reported=$start",
    "fail_with_log() {",
    `  echo ${shellQuote(`rocm-vllm: ${i.deployment} on ${i.node} (container ${i.container})`)} "$1; last log lines:" >&2`,
    `  docker logs --tail 40 ${name} 2>&1 | sed 's/^/  /' >&2`,
    ...(i.ranks ? [`  echo ${shellQuote(ranksLine(i.deployment, i.ranks))} >&2`] : []),
    "  exit 1",
    "}",
    "while :; do",
    // The named container must be the one running: a stale server on the port must not pass the gate.
    `  if [ "$(docker inspect -f '{{.State.Running}}' ${name} 2>/dev/null)" != true ]; then`,
    `    waiting="container ${i.container.replace(/[^\w.-]/g, "")} to run"`,
    '  elif ! curl -fsS -m 5 "$url/health" >/dev/null 2>&1; then',
    `    waiting="/health on port ${i.port} (model loading)"`,
    `  elif ! curl -fsS -m 5 "$url/v1/models" 2>/dev/null | grep -qF ${modelId}; then`,
    `    waiting="/v1/models to list the served model"`,
    "  else",
    `    echo ${shellQuote(`rocm-vllm: ${i.deployment} ready at ${i.endpoint}`)} "after $(( $(date +%s) - start ))s"`,
    "    exit 0",
    "  fi",
    `  restarts=$(docker inspect -f '{{.RestartCount}}' ${name} 2>/dev/null || echo 0)`,
    `  if [ "\${restarts:-0}" -ge ${READINESS_MAX_RESTARTS} ]; then fail_with_log "crashed and restarted $restarts times"; fi`,
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
