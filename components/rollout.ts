/**
 * A rolling update in the Pulumi graph. For each wave of `DeploymentPlan.rollout` (see `planner/rules/rollout.ts`):
 *
 *     drain(w) on every balancer node ─▶ containers of wave w ─▶ readiness, smoke test ─▶ undrain(w) ─▶ drain(w+1) …
 *
 * `drain(w)` depends on `undrain(w-1)` (the first drain on the balancer containers, so a new balancer configuration
never lands mid-rollout), and the wave's containers depend on `drain(w)`, through `dependsOn` only.
 * Why the old container is really stopped after its drain and not before: the Docker provider replaces a container
 * delete-before-create, and the engine issues that delete when it registers the container's new state
 * (pulumi/pulumi pkg/resource/deploy/step_generator.go, `GenerateSteps`: DeleteReplacement before CreateReplacement),
 * which the language host does only once every `dependsOn` resource is done. Why a later wave is not replaced early
 * along with an earlier one: when a resource is replaced delete-before-create, the engine also deletes early those
 * dependents that would need replacing, but it decides that per property (`calculateDependentReplacements` in the
 * same file: only `PropertyDependencies` count; a `dependsOn` edge alone never makes a dependent replace). The
 * readiness gates and smoke tests of the wave have the containers' IDs as triggers, so they are deleted early and
 * run again (they have no delete command); nothing of a later wave takes a property from an earlier one.
 *
 * A drain and its undrain re-run when their trigger changes: a hash of the inputs of the wave's containers (image IDs
 * and secrets included), so an unchanged wave passes straight through. A wave that fails its gates stops the update
 * there: it stays out of the balancer and later waves keep their old containers, serving.
 *
 * Session lanes (`components/sessions.ts`) take a wave as their stage, so a lane never makes a wave wait for a later
 * one. What it costs: the first `pulumi up` also brings the waves up one after the other (a graph orders creates as it
 * orders replaces): a rolling deployment of N replicas in W waves loads its model W times in sequence instead of once
 * (W ≤ 7 with the default `maxUnavailable` of 25 %, W = N for 2 ≤ N ≤ 7). The graph's depth grows by five resources
 * per wave and never with the number of nodes.
 */
import { createHash } from "node:crypto";
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { rolloutStep } from "../planner/scripts/nodeSteps";
import type { Node } from "./node";
import { createNodeStep } from "./nodeStep";
import { PHASE } from "./sessions";

/** Logical name of a rollout step: `<component>-w<wave>-drain-<node>` / `-undrain-`. */
export function waveStepLogicalName(component: string, wave: number, kind: "drain" | "undrain", node: string): string {
  return `${component}-w${wave}-${kind}-${node}`;
}

/**
 * The trigger of a wave's steps: a hash of its containers' inputs, so the steps run exactly when one of the wave's
 * containers changes (secret when a secret is among the inputs; it is a hash either way).
 */
export function waveTrigger(inputs: docker.ContainerArgs[]): pulumi.Output<string> {
  return pulumi
    .output(inputs)
    .apply((resolved) => createHash("sha256").update(JSON.stringify(resolved)).digest("hex").slice(0, 16));
}

export interface RolloutStepArgs {
  node: Node;
  deployment: string;
  wave: number;
  kind: "drain" | "undrain";
  /** The plan's drain or undrain script. */
  script: string;
  drainSeconds: number;
  trigger: pulumi.Input<string>;
  dependsOn: pulumi.Resource[];
}

/**
 * Runs a drain or undrain script on a balancer node, guarded like every step (`planner/scripts/nodeSteps.ts`); it has
 * no delete step and is safe to re-run. A drain takes the container phase of its wave's lane stage (registered before
 * the wave's containers), an undrain comes after the wave's gates.
 */
export function createRolloutStep(
  logicalName: string,
  args: RolloutStepArgs,
  parent: pulumi.Resource,
): command.local.Command {
  const place = args.node.sessions.place(args.kind === "drain" ? PHASE.container : PHASE.undrain, args.wave);
  const step = rolloutStep(args.node.plan.name, args.deployment, args.wave, args.kind, args.script, args.drainSeconds);
  return place.bind(
    createNodeStep(
      logicalName,
      { node: args.node.plan, step, triggers: [args.trigger], dependsOn: place.dependsOn(args.dependsOn) },
      parent,
    ),
  );
}
