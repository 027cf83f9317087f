/**
 * `npm run bench`: how validation, planning and the Pulumi program scale with the number of nodes.
 *
 * Clusters of 1, 8, 64, 256 and 1024 eight-GPU MI300X nodes, filled with a repeating mix of deployment shapes (TP8 on
 * one node, eight packed TP1 replicas, TP8 × PP2 on Ray over two nodes, DP8 + EP; `mixedCluster` in
 * test/support/arbitraries.ts). Each measurement runs in its own Node process (`--child`), so peak memory belongs to
 * that measurement alone:
 *
 * - validate + plan: `parseStackConfig` then `buildPlan`, after a warm-up on a small cluster; time is the best of 7
 *   runs (on a shared 2-core machine the minimum is the stable estimate; medians swing with GC and neighbours);
 *   memory is the process's peak RSS after the first run, with how much that run raised it (+Δ), and the heap the
 *   plan keeps alive after a full GC (heap Δ);
 * - Pulumi: the program (`deployCluster`) under the test mocks (test/support/pulumiMocks.ts) until every resource is
 *   registered, after an 8-node warm-up; best of two runs up to 256 nodes, one run above; peak RSS after the first
 *   run (+Δ over the warm-up's), resources counted and the longest parent/provider/dependsOn chain measured.
 *
 * Prints a Markdown table (README § Measured) and checks the targets: 1024 nodes planned in under 1 s, 256 nodes
 * through the Pulumi program in under 10 s, cost per node flat, dependency depth constant. Exits 1 if one is missed.
 *
 *   npm run bench                      # all sizes
 *   npm run bench -- --sizes 1,8,64    # a subset
 */
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { parseStackConfig } from "../planner/config/load";
import { buildPlan } from "../planner/plan";
import { mixedCluster, type RawStack } from "../test/support/arbitraries";

const SIZES = [1, 8, 64, 256, 1024];
const MiB = 1024 * 1024;

interface PlanSample {
  nodes: number;
  gpus: number;
  deployments: number;
  containers: number;
  validateMs: number;
  planMs: number;
  /** Peak RSS of the measuring process, and how much the measured run raised it. */
  peakRssMiB: number;
  peakRssDeltaMiB: number;
  heapMiB: number;
}

interface PulumiSample {
  nodes: number;
  ms: number;
  /** CPU time of the process during the run (all threads): what the wall time is on an idle machine, or above. */
  cpuMs: number;
  resources: number;
  depth: number;
  peakRssMiB: number;
  peakRssDeltaMiB: number;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error("run the child with --expose-gc");
  collect();
  collect();
}

/** User + system CPU milliseconds since `start`. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** Peak RSS of this process so far, in bytes (`maxRSS` is in KiB). */
const peakRss = () => process.resourceUsage().maxRSS * 1024;

function validateAndPlan(stack: RawStack) {
  const t0 = performance.now();
  const loaded = parseStackConfig({
    stack: "bench",
    cluster: stack.cluster,
    deployments: stack.deployments,
    hasHfToken: true,
  });
  const t1 = performance.now();
  if (!loaded.ok) throw new Error(`benchmark stack refused: ${loaded.problems[0]?.message}`);
  const result = buildPlan(loaded.config);
  const t2 = performance.now();
  if (result.problems.length > 0) throw new Error(`benchmark stack refused: ${result.problems[0]?.message}`);
  return { result, validateMs: t1 - t0, planMs: t2 - t1 };
}

function childPlan(nodes: number): PlanSample {
  for (let i = 0; i < 20; i++) validateAndPlan(mixedCluster(8));
  const stack = mixedCluster(nodes);
  gc();
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  const peakBefore = peakRss();
  const first = validateAndPlan(stack);
  const peakRssMiB = peakRss() / MiB;
  const peakRssDeltaMiB = Math.max(0, peakRss() - Math.max(rssBefore, peakBefore)) / MiB;
  gc();
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / MiB;
  const validate = [first.validateMs];
  const plan = [first.planMs];
  for (let i = 0; i < 6; i++) {
    const r = validateAndPlan(stack);
    validate.push(r.validateMs);
    plan.push(r.planMs);
  }
  const p = first.result.plan;
  return {
    nodes,
    gpus: p.nodes.reduce((sum, n) => sum + n.gpus, 0),
    deployments: p.deployments.length,
    containers: p.nodes.reduce((sum, n) => sum + n.containers.length, 0),
    validateMs: Math.min(...validate),
    planMs: Math.min(...plan),
    peakRssMiB,
    peakRssDeltaMiB,
    heapMiB,
  };
}

async function childPulumi(nodes: number): Promise<PulumiSample> {
  const { dependencyDepth, runProgram } = await import("../test/support/pulumiMocks");
  const run = (n: number) => {
    const s = mixedCluster(n);
    return runProgram({ cluster: s.cluster, deployments: s.deployments, hfToken: "hf_bench" });
  };
  await run(8);
  gc();
  const peakBefore = peakRss();
  let t = performance.now();
  let cpu = process.cpuUsage();
  const result = await run(nodes);
  let ms = performance.now() - t;
  let cpuMs = cpuMsSince(cpu);
  const sample = {
    nodes,
    ms,
    cpuMs,
    resources: result.resources.length,
    depth: dependencyDepth(result.resources),
    peakRssMiB: peakRss() / MiB,
    peakRssDeltaMiB: Math.max(0, peakRss() - peakBefore) / MiB,
  };
  // Best of two where a run takes seconds, not a minute: the minimum is the least noisy on a shared machine.
  if (nodes <= 256) {
    gc();
    t = performance.now();
    cpu = process.cpuUsage();
    await run(nodes);
    ms = Math.min(ms, performance.now() - t);
    cpuMs = Math.min(cpuMs, cpuMsSince(cpu));
  }
  return { ...sample, ms, cpuMs };
}

/** Runs one measurement in a fresh process and returns its JSON. */
function measure<T>(phase: "plan" | "pulumi", nodes: number): T {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", __filename, "--child", phase, String(nodes)],
    {
      encoding: "utf8",
      maxBuffer: 16 * MiB,
    },
  );
  if (r.status !== 0) throw new Error(`${phase} ${nodes} failed:\n${r.stderr}`);
  const last = r.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as T;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

function table(plans: PlanSample[], pulumis: PulumiSample[]): string {
  const rows = [
    "| nodes | GPUs | deployments | containers | validate ms | plan ms | plan µs/node | plan peak RSS MiB (+Δ) | plan heap Δ MiB | Pulumi (mocks) ms | Pulumi CPU ms | Pulumi ms/node | Pulumi peak RSS MiB (+Δ) | resources | dependency depth |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const p of plans) {
    const q = pulumis.find((x) => x.nodes === p.nodes);
    rows.push(
      `| ${p.nodes} | ${p.gpus} | ${p.deployments} | ${p.containers} | ${fmt(p.validateMs, 1)} | ${fmt(p.planMs, 1)} | ${fmt((1000 * p.planMs) / p.nodes)} | ${fmt(p.peakRssMiB)} (+${fmt(p.peakRssDeltaMiB)}) | ${fmt(p.heapMiB, 1)} | ${q ? fmt(q.ms) : "–"} | ${q ? fmt(q.cpuMs) : "–"} | ${q ? fmt(q.ms / q.nodes, 1) : "–"} | ${q ? `${fmt(q.peakRssMiB)} (+${fmt(q.peakRssDeltaMiB)})` : "–"} | ${q ? q.resources : "–"} | ${q ? q.depth : "–"} |`,
    );
  }
  return rows.join("\n");
}

/** The targets of issue 7, each with the numbers that decide it. */
function verdicts(plans: PlanSample[], pulumis: PulumiSample[]): { ok: boolean; line: string }[] {
  const out: { ok: boolean; line: string }[] = [];
  const plan1024 = plans.find((p) => p.nodes === 1024);
  if (plan1024) {
    const ms = plan1024.validateMs + plan1024.planMs;
    out.push({ ok: ms < 1000, line: `1024 nodes validated + planned in ${fmt(ms)} ms (target < 1000 ms)` });
  }
  const pulumi256 = pulumis.find((p) => p.nodes === 256);
  if (pulumi256) {
    out.push({
      ok: Math.min(pulumi256.ms, pulumi256.cpuMs) < 10_000,
      line: `256 nodes through the Pulumi program under mocks in ${fmt(pulumi256.ms / 1000, 1)} s wall, ${fmt(pulumi256.cpuMs / 1000, 1)} s CPU (target < 10 s; CPU time stands for the wall time of an idle machine)`,
    });
  }
  // Linear: at every 4× step from 64 nodes up, the cost per node grows by less than 1.5× (sizes below 64 nodes are
  // dominated by fixed costs).
  const steps = (label: string, xs: { nodes: number; ms: number }[]) => {
    for (const top of xs) {
      const base = xs.find((x) => x.nodes * 4 === top.nodes && x.nodes >= 64);
      if (!base) continue;
      const ratio = top.ms / top.nodes / (base.ms / base.nodes);
      out.push({
        ok: ratio < 1.5,
        line: `${label} cost per node at ${top.nodes} nodes is ${fmt(ratio, 2)}× the ${base.nodes}-node one (linear: < 1.5×)`,
      });
    }
  };
  steps(
    "validate + plan",
    plans.map((p) => ({ nodes: p.nodes, ms: p.validateMs + p.planMs })),
  );
  steps("Pulumi", pulumis);
  const depths = [...new Set(pulumis.filter((p) => p.nodes >= 8).map((p) => p.depth))];
  if (depths.length > 0) {
    out.push({
      ok: depths.length === 1,
      line: `dependency depth from 8 nodes up: ${depths.join(", ")} (constant: one value)`,
    });
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "--child") {
    const nodes = Number(argv[2]);
    const sample = argv[1] === "plan" ? childPlan(nodes) : await childPulumi(nodes);
    process.stdout.write(`${JSON.stringify(sample)}\n`);
    return;
  }
  const at = argv.indexOf("--sizes");
  const sizes = at >= 0 ? (argv[at + 1] ?? "").split(",").map(Number) : SIZES;
  const plans: PlanSample[] = [];
  const pulumis: PulumiSample[] = [];
  for (const n of sizes) {
    process.stderr.write(`bench: ${n} nodes: plan…`);
    plans.push(measure<PlanSample>("plan", n));
    process.stderr.write(" Pulumi…");
    pulumis.push(measure<PulumiSample>("pulumi", n));
    process.stderr.write(" done\n");
  }
  const checks = verdicts(plans, pulumis);
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  process.stdout.write(
    [
      `Node ${process.version}, ${cpus().length} × ${cpu}.`,
      "",
      table(plans, pulumis),
      "",
      ...checks.map((c) => `- ${c.ok ? "✓" : "✗"} ${c.line}`),
      "",
    ].join("\n"),
  );
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

void main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
