/**
 * One-shot jobs of the plan (`NodePlan.jobs`: weight downloads, benchmarks): the plan's `docker run --rm` in the
 * foreground, inside the guarded step (`jobStep`), so the job's exit status is the step's, a failed job fails
 * `pulumi up`, and a job stopped at its limit or by an interrupted `pulumi up` is removed from the node. A
 * `docker.Container` would not do: the provider neither waits for a detached container to finish nor fails on its
 * exit code.
 */
import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import { jobStep } from "../planner/scripts/nodeSteps";
import type { JobPlan } from "../planner/types";
import type { SecretEnv } from "./gpuContainer";
import type { Node } from "./node";
import { createNodeStep } from "./nodeStep";

/**
 * A step's secret values by name (a job's, a gate's); a name the program has no value for is an error (checked
 * before any resource).
 */
export function stepSecrets(
  who: string,
  names: readonly string[],
  secrets: SecretEnv,
): { name: string; value: pulumi.Output<string> }[] {
  return names.map((name) => {
    const value = secrets[name];
    if (value === undefined) throw new Error(`${who} needs the secret ${name}, which is not configured`);
    return { name, value };
  });
}

export interface JobArgs {
  job: JobPlan;
  node: Node;
  secrets: SecretEnv;
  /** The cluster's model cache, for the download's progress lines. */
  modelCache: string;
  /** What must be done first: the image pull on the node (`after: image`) or the deployment's gates (`readiness`). */
  dependsOn: pulumi.Resource[];
  /** The node's session lane phase of the job. */
  phase: number;
  /** The node's session lane stage: after every wave of a rolling deployment for a job after readiness. */
  stage?: number;
}

/** Runs a job once, and again only when the plan's `trigger` for it changes. */
export function createJob(logicalName: string, args: JobArgs, parent: pulumi.Resource): command.local.Command {
  const place = args.node.sessions.place(args.phase, args.stage);
  return place.bind(
    createNodeStep(
      logicalName,
      {
        node: args.node.plan,
        step: jobStep(args.node.plan, args.job, args.modelCache),
        secrets: stepSecrets(`job ${args.job.container.name}`, args.job.container.secretEnv, args.secrets),
        triggers: [args.job.trigger],
        dependsOn: place.dependsOn(args.dependsOn),
      },
      parent,
    ),
  );
}
