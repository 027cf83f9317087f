/**
 * Small stack configs for tests: a raw config (as a user writes it) goes through the real loader, so defaults and
 * validation are exercised exactly as in the CLI and the Pulumi program.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseStackConfig, parseStackYaml } from "../../planner/config/load";
import type { StackConfig } from "../../planner/config/schema";
import { buildPlan, type PlanResult } from "../../planner/plan";
import type { Problem } from "../../planner/types";

export type RawCluster = Record<string, unknown>;
export type RawDeployment = Record<string, unknown>;

export const STACKS_DIR = join(__dirname, "..", "..", "stacks");

/** The stack name of test configs: the one the Pulumi mocks run (`test/support/pulumiMocks.ts`). */
export const TEST_STACK = "test";

export function rawCluster(overrides: RawCluster = {}): RawCluster {
  return {
    gpu: "mi300x",
    image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
    nodes: [{ name: "node-a", host: "10.0.0.11" }],
    ...overrides,
  };
}

/** An image of a release whose images ship Ray and run it across nodes (0.11.1 cannot: vllm#28997). */
export const RAY_IMAGE = "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251006";

/** `rawCluster` on a release where an engine spanning nodes runs on Ray by default. */
export function rayCluster(overrides: RawCluster = {}): RawCluster {
  return rawCluster({ image: RAY_IMAGE, ...overrides });
}

export function rawDeployment(overrides: RawDeployment = {}): RawDeployment {
  return { name: "llama70b", model: "meta-llama/Llama-3.3-70B-Instruct", parallelism: { tensor: 8 }, ...overrides };
}

/**
 * Test stacks have `rocm-vllm:hfToken` unless a test says otherwise (`hasHfToken` false): the default model is a gated
 * Meta model, and a real stack serving it has the token (without it, every plan would carry the gated-model warning).
 */

/** Validates a raw config; throws with the problems when it is invalid. */
export function stackConfig(cluster: RawCluster, deployments: RawDeployment[], hasHfToken = true): StackConfig {
  const r = parseStackConfig({ stack: TEST_STACK, cluster, deployments, hasHfToken });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return r.config;
}

/** Loads and plans; returns the plan result (problems included) or the load problems. */
export function planRaw(
  cluster: RawCluster,
  deployments: RawDeployment[],
  hasHfToken = true,
  stack = TEST_STACK,
): PlanResult & { loadProblems: Problem[] } {
  const r = parseStackConfig({ stack, cluster, deployments, hasHfToken });
  if (!r.ok) {
    return {
      plan: { planVersion: 1, stack, cluster: {} as never, nodes: [], deployments: [], warnings: [] },
      problems: r.problems,
      loadProblems: r.problems,
    };
  }
  return { ...buildPlan(r.config), loadProblems: [] };
}

/** Plans a single deployment on a cluster and insists it is valid. */
export function planOk(cluster: RawCluster, deployments: RawDeployment[], hasHfToken = true, stack = TEST_STACK) {
  const r = planRaw(cluster, deployments, hasHfToken, stack);
  if (r.problems.length > 0) throw new Error(r.problems.map((p) => `${p.path}: ${p.message} (${p.fix})`).join("\n"));
  return r.plan;
}

/** Problems (load or plan) of a config, as `path: message` lines. */
export function problemsOf(cluster: RawCluster, deployments: RawDeployment[]): Problem[] {
  return planRaw(cluster, deployments).problems;
}

/** Every example stack file: name → text. */
export function exampleStacks(): { name: string; file: string; text: string }[] {
  return readdirSync(STACKS_DIR)
    .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
    .sort()
    .map((f) => ({
      name: f.replace(/^Pulumi\.|\.yaml$/g, ""),
      file: join(STACKS_DIR, f),
      text: readFileSync(join(STACKS_DIR, f), "utf8"),
    }));
}

/** Loads an example stack into a validated config (stack name: that of the test stacks, `TEST_STACK`). */
export function exampleConfig(text: string): StackConfig {
  const r = parseStackYaml(text, `Pulumi.${TEST_STACK}.yaml`);
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join("\n"));
  return r.config;
}
