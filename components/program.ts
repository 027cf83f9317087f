/**
 * The Pulumi program as a function: read and validate the stack config, plan, provision, export.
 *
 * `index.ts` only calls this, so tests run the exact program under `pulumi.runtime.runInPulumiStack` with mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseStackEntries } from "../planner/config/load";
import { CONFIG_NAMESPACE } from "../planner/config/schema";
import { formatProblems } from "../planner/problems";
import { type BenchmarkResult, parseBenchmarkResult } from "../planner/scripts/dayTwoScripts";
import { planLoaded } from "../planner/stack";
import type { Plan, Problem, Warning } from "../planner/types";
import { Cluster } from "./cluster";

/** Whether the stack stores a config key encrypted: `@pulumi/pulumi` exports it at run time but not in its typings. */
function isConfigSecret(key: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  if (!runtime.isConfigSecret) throw new Error("@pulumi/pulumi no longer exports runtime.isConfigSecret");
  return runtime.isConfigSecret(key);
}

/** Logical name of the `Cluster` component; part of every resource's URN, so it never changes. */
export const CLUSTER_COMPONENT_NAME = "rocm-vllm";

/** The stack outputs known from the plan alone. */
export interface PlanOutputs {
  /**
   * Per deployment, the base URLs clients use, e.g. `http://10.0.0.11:8000`: the load balancer's when there is one,
   * else one per serving instance.
   */
  endpoints: Record<string, string[]>;
  /** Per deployment, the model name clients put in requests (`--served-model-name`). */
  servedModelNames: Record<string, string>;
  /** Recommendations the config did not follow; they never block a deployment. */
  warnings: Warning[];
}

/** The stack outputs. */
export interface ProgramOutputs extends PlanOutputs {
  /** Per deployment with `benchmark`, what `vllm bench serve` measured during this `pulumi up` (not a secret). */
  benchmarks: pulumi.Output<Record<string, BenchmarkResult>>;
  /** Per node, the preflight's `ok:` lines from the last time it ran (a failing preflight fails `pulumi up`). */
  preflight: pulumi.Output<Record<string, string[]>>;
}

/**
 * A structured config value as Pulumi stores it (JSON text). Not `config.getObject`: it throws its own message for a
 * value that is not JSON, while the raw string lets the schema report it in the CLI's words.
 */
function configValue(key: string): unknown {
  const raw = pulumi.runtime.allConfig()[`${CONFIG_NAMESPACE}:${key}`];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Stops the program before any resource exists, with exactly the lines the CLI prints (one per problem). A
 * `RunError` is printed by Pulumi without a stack trace.
 */
function fail(problems: readonly Problem[]): never {
  throw new pulumi.RunError(formatProblems(problems));
}

/** The stack outputs of a plan: pure, so `rocm-vllm plan` and the program agree on them. */
export function planOutputs(plan: Plan): PlanOutputs {
  const endpoints: Record<string, string[]> = {};
  const servedModelNames: Record<string, string> = {};
  for (const d of plan.deployments) {
    endpoints[d.name] = d.endpoints;
    servedModelNames[d.name] = d.servedModelName;
  }
  return { endpoints, servedModelNames, warnings: plan.warnings };
}

/**
 * Reads `rocm-vllm:cluster`, `rocm-vllm:deployments` and the optional secrets `rocm-vllm:hfToken`, `rocm-vllm:apiKey` and
 * `rocm-vllm:registryPassword`, builds the plan and creates the `Cluster`. Config errors throw before any resource is
 * registered.
 */
export function deployCluster(): ProgramOutputs {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const hfToken = config.getSecret("hfToken");
  const apiKey = config.getSecret("apiKey");
  const registryPassword = config.getSecret("registryPassword");
  // The same checks as the CLI on the same keys: unknown rocm-vllm: keys, secrets stored in plaintext, then the
  // cluster and deployments (getObject, not requireObject: a missing key is reported in the CLI's words).
  const loaded = parseStackEntries({
    // The stack's name, as the CLI reads it from `stacks/Pulumi.<stack>.yaml`: both label containers with it.
    stack: pulumi.getStack(),
    values: {
      ...Object.fromEntries(
        Object.entries(pulumi.runtime.allConfig()).filter(([k]) => k.startsWith(`${CONFIG_NAMESPACE}:`)),
      ),
      [`${CONFIG_NAMESPACE}:cluster`]: configValue("cluster"),
      [`${CONFIG_NAMESPACE}:deployments`]: configValue("deployments"),
    },
    isEncrypted: isConfigSecret,
  });
  const planned = planLoaded(loaded);
  if (!planned.ok) fail(planned.problems);
  const { plan } = planned;

  for (const w of plan.warnings) pulumi.log.warn(`${w.path}: ${w.message} [${w.code}]`);
  const cluster = new Cluster(CLUSTER_COMPONENT_NAME, { plan, hfToken, apiKey, registryPassword });
  return { ...planOutputs(plan), benchmarks: benchmarkResults(cluster), preflight: preflightSummary(cluster) };
}

/** The preflight's output per node. Secret only through the SSH connection, and it holds no secret: unsecreted. */
function preflightSummary(cluster: Cluster): pulumi.Output<Record<string, string[]>> {
  const entries = Object.entries(cluster.nodes).flatMap(([name, node]) =>
    node.preflight
      ? [
          pulumi
            .unsecret(node.preflight.stdout)
            .apply((out): [string, string[]] => [name, (out ?? "").split("\n").filter((l) => l.trim() !== "")]),
        ]
      : [],
  );
  return pulumi.all(entries).apply((e) => Object.fromEntries(e));
}

/**
 * The benchmark jobs' results, parsed from their stdout. The stdout is secret only because the SSH connection is
 * (the provider taints every output with every input); throughput and latencies are not, so they are unsecreted.
 */
function benchmarkResults(cluster: Cluster): pulumi.Output<Record<string, BenchmarkResult>> {
  const results = Object.entries(cluster.deployments).flatMap(([name, d]) =>
    d.benchmark
      ? [
          pulumi
            .unsecret(d.benchmark.stdout)
            .apply((out): [string, BenchmarkResult] => [name, parseBenchmarkResult(out)]),
        ]
      : [],
  );
  return pulumi.all(results).apply((entries) => Object.fromEntries(entries));
}
