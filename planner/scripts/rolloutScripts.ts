/**
 * Shell of a rolling update, run on each balancer node around a wave: `drain` takes the wave's replicas out of the
 * balancer and waits for their requests, `undrain` puts them back. Same text in the Pulumi program and the exported
 * scripts.
 *
 * Out of the balancer means `down` on the replicas' server lines of the running nginx (found by their
 * `# rocm-vllm replica <n>` marker) and a reload: nginx's workers finish the requests they hold and new requests go
 * to the other replicas. The change lives in the running container only: a balancer that restarts starts from the
 * plan's configuration, every replica in. Then the drain waits until vLLM reports no running or waiting request on
 * each instance of the wave (`vllm:num_requests_running`, `vllm:num_requests_waiting` on `/metrics`), at most
 * `drainSeconds`, so stopping them aborts nothing.
 */
import { REPLICA_MARKER } from "./dayTwoScripts";
import { shellJoin, shellQuote } from "./shellQuote";

export interface WaveScriptInput {
  deployment: string;
  /** Docker name of the balancer container (the same on every balancer node). */
  balancer: string;
  /** Index of the wave (0-based) and the number of waves. */
  wave: number;
  waves: number;
  replicas: number[];
  /** Base URLs of the wave's serving instances. */
  endpoints: string[];
  drainSeconds: number;
}

/** Seconds the drain waits after the reload, so requests nginx was already sending arrive and are counted. */
export const DRAIN_SETTLE_SECONDS = 2;

/** `sed` expressions that set (or clear) `down` on the server lines of `replicas`; idempotent. */
function downExpressions(replicas: number[], down: boolean): string[] {
  return replicas.flatMap((r) => [
    "-e",
    `/${REPLICA_MARKER} ${r}$/s/ \\(down \\)*max_fails=/ ${down ? "down " : ""}max_fails=/`,
  ]);
}

/** The shell run inside the balancer container: edit its nginx.conf, check it, reload. */
function nginxEdit(replicas: number[], down: boolean): string {
  return `sed -i ${shellJoin(downExpressions(replicas, down))} /etc/nginx/nginx.conf && nginx -t -q && nginx -s reload`;
}

function reloadBalancer(i: WaveScriptInput, down: boolean, done: string): string[] {
  const lb = shellQuote(i.balancer);
  return [
    `if [ "$(docker inspect -f '{{.State.Running}}' ${lb} 2>/dev/null)" = true ]; then`,
    `  docker exec ${lb} sh -c ${shellQuote(nginxEdit(i.replicas, down))} || { echo ${shellQuote(`rocm-vllm: ${i.deployment}: could not reload the balancer ${i.balancer}`)} >&2; exit 1; }`,
    `  echo ${shellQuote(`rocm-vllm: ${i.deployment}: ${done}`)}`,
    "else",
    `  echo ${shellQuote(`rocm-vllm: ${i.deployment}: no balancer ${i.balancer} running on this node (first deployment?): nothing to change`)}`,
    "fi",
  ];
}

const waveWords = (i: WaveScriptInput) =>
  `wave ${i.wave + 1}/${i.waves} (replica${i.replicas.length === 1 ? "" : "s"} ${i.replicas.join(", ")})`;

/** Before a wave: out of the balancer, then wait for the wave's in-flight requests (at most `drainSeconds`). */
export function drainScript(i: WaveScriptInput): string {
  return [
    "#!/bin/sh",
    "set -u",
    `# rocm-vllm rolling update of ${i.deployment}, ${waveWords(i)}: out of the balancer, then their requests finish (at most ${i.drainSeconds}s).`,
    ...reloadBalancer(i, true, `${waveWords(i)} taken out of the balancer`),
    `sleep ${DRAIN_SETTLE_SECONDS}`,
    `deadline=$(( $(date +%s) + ${i.drainSeconds} ))`,
    `for url in ${shellJoin(i.endpoints)}; do`,
    "  while :; do",
    // An instance that does not answer has no request to finish.
    '    metrics=$(curl -fsS -m 5 "$url/metrics" 2>/dev/null) || break',
    "    busy=$(printf '%s\\n' \"$metrics\" | awk '/^vllm:num_requests_(running|waiting)[{ ]/ {s += $NF} END {printf \"%d\", s}')",
    '    [ "$busy" -eq 0 ] && break',
    '    if [ "$(date +%s)" -ge "$deadline" ]; then',
    `      echo "rocm-vllm: ${i.deployment}: $busy request(s) still on $url after ${i.drainSeconds}s (rollout.drainSeconds); stopping it anyway" >&2`,
    "      break",
    "    fi",
    "    sleep 1",
    "  done",
    "done",
    `echo ${shellQuote(`rocm-vllm: ${i.deployment}: ${waveWords(i)} drained`)}`,
    "",
  ].join("\n");
}

/** After a wave passed its gates: back into the balancer. */
export function undrainScript(i: WaveScriptInput): string {
  return [
    "#!/bin/sh",
    "set -u",
    `# rocm-vllm rolling update of ${i.deployment}, ${waveWords(i)}: back into the balancer.`,
    ...reloadBalancer(i, false, `${waveWords(i)} back in the balancer`),
    "",
  ].join("\n");
}
