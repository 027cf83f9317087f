/**
 * The human-readable plan report: per deployment its placement, memory budget, exact `vllm serve` line and the rules
 * behind each value; per node its containers. It renders the plan and decides nothing.
 */
import { createColors } from "picocolors";
import { shellJoin } from "../planner/scripts/shellQuote";
import type { ContainerSpec, DeploymentPlan, NodePlan, Plan } from "../planner/types";
import { colorEnabled } from "./color";

type Colors = ReturnType<typeof createColors>;

const fmt = (n: number) => n.toLocaleString("en-US");

function gpuRanges(gpus: readonly number[]): string {
  const parts: string[] = [];
  let start = gpus[0];
  for (let i = 1; i <= gpus.length; i++) {
    if (gpus[i] !== gpus[i - 1] + 1) {
      parts.push(start === gpus[i - 1] ? `${start}` : `${start}-${gpus[i - 1]}`);
      start = gpus[i];
    }
  }
  return parts.join(",");
}

function renderMemory(pc: Colors, d: DeploymentPlan): string[] {
  const m = d.memory;
  if (!m.checked) return [`  memory      not checked (${m.notes.join("; ")})`];
  const usable = Math.round(m.gpuMemoryUtilization * m.hbmGiB * 10) / 10;
  return [
    `  memory      weights ${m.weightsPerGpuGiB} GiB/GPU + ${m.overheadPerGpuGiB} GiB overhead of ${usable} GiB usable (${m.gpuMemoryUtilization} × ${m.hbmGiB} GiB)`,
    `              KV cache ${m.kvBudgetPerGpuGiB} GiB/GPU = ${fmt(m.kvCacheTokens ?? 0)} tokens per engine (${fmt(m.kvBytesPerTokenPerGpu ?? 0)} B/token/GPU), ${fmt(m.maxLengthSequences ?? 0)} max-length sequences at once`,
    ...m.notes.map((n) => `              ${pc.dim(n)}`),
  ];
}

function renderDeployment(pc: Colors, d: DeploymentPlan): string[] {
  const lines = [
    pc.bold(`Deployment ${d.name}`) +
      `  ${d.kind} · ${d.model}${d.servedModelName !== d.model ? ` (served as ${d.servedModelName})` : ""}`,
    `  attention   ${d.attention.backend}  ${pc.dim(`expect log line: "${d.attention.expectedLogLine}"`)}`,
  ];
  for (const i of d.instances) {
    const where = i.placement.map((p) => `${p.node} GPUs ${gpuRanges(p.gpus)}`).join(" + ");
    lines.push(`  replica ${i.replica}   ${where} → ${i.endpoint ?? "(headless)"}  [${i.container}]`);
  }
  for (const r of d.rayClusters) {
    lines.push(
      `  ray         head ${r.headNode} (${r.headAddress}:${r.gcsPort}), workers ${r.workerNodes.join(", ")}; serves once ${r.expectedNodes} nodes / ${r.expectedGpus} GPUs joined (timeout ${r.joinTimeoutSeconds}s)`,
    );
  }
  if (d.kind === "native-multi-node") {
    for (const i of d.instances) {
      const at = (flag: string) => i.argv[i.argv.indexOf(flag) + 1];
      const headless = i.placement.slice(1).map((p, k) => `${k + 1} ${p.node}`);
      lines.push(
        `  native      node rank 0 ${i.node} serves and holds the store at ${at("--master-addr")}:${at("--master-port")}; headless node ranks ${headless.join(", ")}`,
      );
    }
  }
  lines.push(...renderMemory(pc, d), ...renderOperations(d));
  const first = d.instances[0];
  if (first) {
    const env = Object.entries(d.env);
    lines.push(`  command     ${shellJoin(first.argv)}`);
    lines.push(`  env         ${env.map(([k, v]) => `${k}=${v}`).join(" ")}`);
    lines.push(
      `              ${pc.dim("plus per node: VLLM_HOST_IP (node address), CUDA_VISIBLE_DEVICES (partial-node instances)")}`,
    );
  }
  lines.push("  why");
  for (const r of d.reasons) lines.push(`    - ${r.what}  ${pc.dim(`(${r.rule}; ${r.source})`)}`);
  return lines;
}

/** Weights, gates, balancer, benchmark and the endpoints clients use (issue 6 features). */
function renderOperations(d: DeploymentPlan): string[] {
  const lines = [
    d.weights.predownload
      ? `  weights     pre-downloaded on every node by ${d.weights.jobs.join(", ")}${d.weights.revision ? ` at revision ${d.weights.revision}` : ""}; serving offline (HF_HUB_OFFLINE=1)`
      : `  weights     downloaded by vLLM at start${d.weights.revision ? ` (revision ${d.weights.revision})` : ""}`,
    `  gates       readiness (/health, /v1/models, a one-token generation, ${d.readiness[0]?.timeoutSeconds ?? 0}s)${d.smokeTests.length ? ", then one completion per instance" : ", no smoke test"}`,
    `  rollout     ${renderRollout(d)}`,
    `  healing     ${renderHealing(d)}`,
  ];
  if (d.loadBalancer) {
    const lb = d.loadBalancer;
    lines.push(
      `  balancer    nginx on ${lb.nodes.join(", ")}:${lb.port} over ${lb.upstreams.join(" ")}; an instance failing ${lb.maxFails}× is out ${lb.failTimeoutSeconds}s; ${lb.affinityHeader ? `session affinity on ${lb.affinityHeader} (consistent hash), else least connections` : "least connections"}`,
    );
  }
  if (d.benchmark) {
    const b = d.benchmark.settings;
    lines.push(
      `  benchmark   vllm bench serve on ${d.benchmark.node} after readiness: ${b.prompts} prompts, ${b.input}/${b.output} tokens in/out, concurrency ${b.concurrency}`,
    );
  }
  lines.push(`  endpoints   ${d.endpoints.join(" ")}`);
  return lines;
}

function renderRollout(d: DeploymentPlan): string {
  const r = d.rollout;
  const shutdown = r.gracefulShutdown
    ? "vLLM drains on stop (--shutdown-timeout)"
    : "no graceful shutdown in this release";
  if (r.strategy === "all-at-once") return `all at once (${r.why}); ${shutdown}`;
  const waves = r.waves.map((w) => `[${w.replicas.join(",")}]`).join(" → ");
  return `rolling, ${r.maxUnavailable} replica(s) at a time: ${waves}; each out of the balancer, drained (≤ ${r.drainSeconds}s), replaced, ready, back in; ${shutdown}`;
}

function renderHealing(d: DeploymentPlan): string {
  const h = d.healing;
  const probe =
    h.probeSeconds > 0
      ? `one-token generation every ${h.probeSeconds}s, ${h.probeFailures} misses = dead`
      : "no liveness probe";
  return `${probe}; restart after ${h.backoffSeconds}s doubling to ${h.maxBackoffSeconds}s, at most ${h.maxRestarts} restarts without ${h.stableSeconds}s of serving, then failed; state in ${h.statusFile}`;
}

function renderContainer(pc: Colors, c: ContainerSpec): string[] {
  const ulimits = c.ulimits.map((u) => `${u.name}=${u.soft}`).join(" ");
  return [
    `  ${pc.bold(c.name)}  ${c.role} · ${c.image}`,
    `    devices ${c.devices.join(" ")} · groups ${c.groupAdd.join(",")} · ipc ${c.ipcMode} · network ${c.networkMode} · ${c.securityOpt.join(" ")} · cap ${c.capAdd.join(",")} · ulimits ${ulimits} · restart ${c.restart}`,
    `    shared memory: ${c.shmSizeMb ? `${c.shmSizeMb} MB /dev/shm` : c.sharedMemory}`,
    `    volumes ${c.volumes.map((v) => `${v.hostPath}${v.perImage ? "/<image ID>" : ""} → ${v.containerPath}${v.readOnly ? " (ro)" : ""}`).join(", ")}`,
    `    init ${c.init ? "yes" : "no"} · stop grace ${c.stopGraceSeconds}s${c.healthcheck ? " · health: member state (serving = healthy)" : ""}`,
    `    ports ${c.ports.join(", ") || "none"} · env VLLM_HOST_IP=${c.env.VLLM_HOST_IP ?? ""}${c.env.CUDA_VISIBLE_DEVICES ? ` CUDA_VISIBLE_DEVICES=${c.env.CUDA_VISIBLE_DEVICES}` : ""}${c.secretEnv.length ? ` · secrets ${c.secretEnv.join(",")} (from Pulumi secret config)` : ""}`,
  ];
}

function renderNode(pc: Colors, n: NodePlan): string[] {
  const used = n.containers.length;
  return [
    pc.bold(`Node ${n.name}`) +
      `  ${n.ip} · ssh ${n.ssh.user}@${n.host}:${n.ssh.port} · ${n.gpus} GPUs · ${used} container${used === 1 ? "" : "s"}`,
    ...n.containers.flatMap((c) => renderContainer(pc, c)),
    ...n.services.flatMap((s) => [`  ${pc.bold(s.name)}  ${s.role} · ${s.image} · ports ${s.ports.join(", ")}`]),
    ...n.jobs.map(
      (j) =>
        `  ${pc.bold(j.container.name)}  one-shot ${j.container.role} after ${j.after}${j.container.secretEnv.length ? ` · secrets ${j.container.secretEnv.join(",")}` : ""}`,
    ),
    ...(n.preflight ? [`  preflight   ${n.preflight.checks.join("; ")}`] : ["  preflight   off"]),
  ];
}

/** The plan's warnings as `plan` prints them (`export` prints the same lines). */
export function renderWarnings(warnings: Plan["warnings"], color: boolean): string[] {
  if (warnings.length === 0) return ["No warnings."];
  const pc = createColors(color);
  return [
    pc.yellow(`Warnings (${warnings.length})`),
    ...warnings.map((w) => `  - ${w.path}: ${w.message} [${w.code}]`),
  ];
}

/** Renders the whole plan as text; colours only on a terminal by default (see `colorEnabled`). */
export function renderPlan(plan: Plan, file: string, color = colorEnabled(process.stdout)): string {
  const pc = createColors(color);
  const c = plan.cluster;
  const lines = [
    `rocm-vllm plan · ${file} · stack ${plan.stack}`,
    `cluster: ${plan.nodes.length} node${plan.nodes.length === 1 ? "" : "s"} × ${c.gpu} (${c.gpuArch}, ${c.hbmGiB} GiB HBM) · ${c.image} · vLLM ${c.vllmVersion}${c.vllmCheckedAgainst ? ` (checked against ${c.vllmCheckedAgainst})` : ""} · HF cache ${c.modelCache} · compile caches ${c.compileCache ? `${c.compileCache.path}/<container>/<image ID> (local disk)` : "off"}`,
    "",
  ];
  for (const d of plan.deployments) lines.push(...renderDeployment(pc, d), "");
  for (const n of plan.nodes) lines.push(...renderNode(pc, n), "");
  lines.push(...renderWarnings(plan.warnings, color));
  return `${lines.join("\n")}\n`;
}
