/**
 * Readiness gates: `pulumi up` succeeds only when every serving instance answers `/health`, lists its model on
 * `/v1/models` and (unless `smokeTest: false`) completes one request. The plan ships the POSIX scripts (the readiness
 * script polls, says what it waits for every 30 s, and on timeout prints the container's last log lines and exits 1);
 * this file only runs them on the node, guarded (`planner/scripts/nodeSteps.ts`).
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { type NodeStep, readinessStep, smokeTestStep } from "../planner/scripts/nodeSteps";
import type { ReadinessCheck, SmokeTest } from "../planner/types";
import type { SecretEnv } from "./gpuContainer";
import { stepSecrets } from "./job";
import type { Node } from "./node";
import { createNodeStep } from "./nodeStep";
import { PHASE } from "./sessions";

export interface ReadinessArgs {
  check: ReadinessCheck;
  deployment: string;
  node: Node;
  /** Containers the instance runs in: their IDs are the triggers, so a replaced container re-runs the check. */
  instanceContainers: docker.Container[];
  /**
   * Every container of the deployment (of its wave, in a rolling update): the check starts only once all of them
   * exist (none waits on another).
   */
  deploymentContainers: docker.Container[];
  /** The node's session lane stage: the instance's rolling-update wave (0 otherwise). */
  stage?: number;
  /** Secret values by name: the check's `secretEnv` (the API key) reaches the step on its stdin. */
  secrets: SecretEnv;
}

/** A gate step on `node` in the given lane phase, re-run when the instance's containers are replaced. */
function createGate(
  logicalName: string,
  node: Node,
  lane: { phase: number; stage: number | undefined },
  step: NodeStep,
  instanceContainers: docker.Container[],
  waitFor: pulumi.Resource[],
  secrets: { name: string; value: pulumi.Output<string> }[],
  parent: pulumi.Resource,
): command.local.Command {
  const place = node.sessions.place(lane.phase, lane.stage);
  const triggers = instanceContainers.map((c) => c.id);
  return place.bind(
    createNodeStep(
      logicalName,
      { node: node.plan, step, secrets, triggers, dependsOn: place.dependsOn(waitFor) },
      parent,
    ),
  );
}

/** Runs the plan's readiness script for one instance. It only reads, so it is safe to re-run. */
export function createReadiness(
  logicalName: string,
  args: ReadinessArgs,
  parent: pulumi.Resource,
): command.local.Command {
  const step = readinessStep(args.check, args.deployment);
  return createGate(
    logicalName,
    args.node,
    { phase: PHASE.readiness, stage: args.stage },
    step,
    args.instanceContainers,
    args.deploymentContainers,
    stepSecrets(step.phase, args.check.secretEnv, args.secrets),
    parent,
  );
}

export interface SmokeTestArgs {
  test: SmokeTest;
  deployment: string;
  node: Node;
  /** The instance's readiness gate: the request is sent only once the model is served. */
  readiness: command.local.Command;
  /** Same triggers as the readiness gate: a replaced container is tested again. */
  instanceContainers: docker.Container[];
  /** The node's session lane stage: the instance's rolling-update wave (0 otherwise). */
  stage?: number;
  /** Secret values by name: the test's `secretEnv` (the API key) reaches the step on its stdin. */
  secrets: SecretEnv;
}

/** Runs the plan's smoke test (one completion request) for one instance; its failure fails `pulumi up`. */
export function createSmokeTest(
  logicalName: string,
  args: SmokeTestArgs,
  parent: pulumi.Resource,
): command.local.Command {
  const step = smokeTestStep(args.test, args.deployment);
  return createGate(
    logicalName,
    args.node,
    { phase: PHASE.smokeTest, stage: args.stage },
    step,
    args.instanceContainers,
    [args.readiness],
    stepSecrets(step.phase, args.test.secretEnv, args.secrets),
    parent,
  );
}
