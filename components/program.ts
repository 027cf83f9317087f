/**
 * The Pulumi program as a function: read and validate the stack config, plan, provision, export.
 *
 * `index.ts` only calls this, so tests run the exact program under `pulumi.runtime.runInPulumiStack` with mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseStackConfig } from "../planner/config/load";
import { CONFIG_NAMESPACE } from "../planner/config/schema";
import { buildPlan } from "../planner/plan";
import { formatProblems } from "../planner/problems";
import type { Plan, Problem, Warning } from "../planner/types";
import { Cluster } from "./cluster";

/** Logical name of the `Cluster` component; part of every resource's URN, so it never changes. */
export const CLUSTER_COMPONENT_NAME = "rocm-vllm";

/** The stack outputs. */
export interface ProgramOutputs {
  /** Per deployment, the base URLs clients use (one per serving instance), e.g. `http://10.0.0.11:8000`. */
  endpoints: Record<string, string[]>;
  /** Per deployment, the model name clients put in requests (`--served-model-name`). */
  servedModelNames: Record<string, string>;
  /** Recommendations the config did not follow; they never block a deployment. */
  warnings: Warning[];
}

/** Stops the program before any resource exists, with the same one-line-per-problem text the CLI prints. */
function fail(problems: readonly Problem[]): never {
  throw new pulumi.RunError(`invalid stack config:\n${formatProblems(problems)}`);
}

/** The stack outputs of a plan: pure, so `rocm-vllm plan` and the program agree on them. */
export function planOutputs(plan: Plan): ProgramOutputs {
  const endpoints: Record<string, string[]> = {};
  const servedModelNames: Record<string, string> = {};
  for (const d of plan.deployments) {
    endpoints[d.name] = d.instances.flatMap((i) => (i.endpoint ? [i.endpoint] : []));
    servedModelNames[d.name] = d.servedModelName;
  }
  return { endpoints, servedModelNames, warnings: plan.warnings };
}

/**
 * Reads `rocm-vllm:cluster`, `rocm-vllm:deployments` and the optional secrets `rocm-vllm:hfToken` and
 * `rocm-vllm:sshPrivateKey`, builds the plan and creates the `Cluster`. Config errors throw before any resource is
 * registered.
 */
export function deployCluster(): ProgramOutputs {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const hfToken = config.getSecret("hfToken");
  const sshPrivateKey = config.getSecret("sshPrivateKey");
  // getObject, not requireObject: a missing key is reported like every other problem, in the CLI's words.
  const loaded = parseStackConfig({
    cluster: config.getObject<unknown>("cluster"),
    deployments: config.getObject<unknown>("deployments"),
    hasHfToken: hfToken !== undefined,
  });
  if (!loaded.ok) fail(loaded.problems);
  const { plan, problems } = buildPlan(loaded.config);
  if (problems.length > 0) fail(problems);

  for (const w of plan.warnings) pulumi.log.warn(`${w.path}: ${w.message} [${w.code}]`);
  new Cluster(CLUSTER_COMPONENT_NAME, { plan, hfToken, sshPrivateKey });
  return planOutputs(plan);
}
