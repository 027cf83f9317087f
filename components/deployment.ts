/**
 * What every deployment component does, whatever its kind: start the planned containers on their nodes, all at once,
 * then gate on the plan's readiness checks. The kind-specific components (`RayCluster`, `VllmDeployment`) only give
 * the resources a type and expose them by role.
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { ContainerSpec, DeploymentPlan } from "../planner/types";
import { createGpuContainer, type SecretEnv } from "./gpuContainer";
import type { Node } from "./node";
import { createReadiness } from "./readiness";

/** A planned container together with the node component that runs it. */
export interface PlacedContainer {
  node: Node;
  spec: ContainerSpec;
}

export interface DeploymentArgs {
  deployment: DeploymentPlan;
  /** This deployment's containers, in plan order (node order, then the node's container order). */
  containers: PlacedContainer[];
  secrets: SecretEnv;
  /** SSH key material for the readiness commands; ssh-agent is used when absent. */
  sshPrivateKey: pulumi.Output<string> | undefined;
}

export interface DeploymentResources {
  containers: { node: string; spec: ContainerSpec; container: docker.Container }[];
  readiness: command.remote.Command[];
}

/**
 * Creates the containers (no container waits on another: Ray workers retry joining and the head waits for them at
 * runtime) and one readiness command per check, which waits on all of the deployment's containers.
 */
export function createDeployment(name: string, args: DeploymentArgs, parent: pulumi.Resource): DeploymentResources {
  const containers = args.containers.map(({ node, spec }) => ({
    node: node.plan.name,
    spec,
    container: createGpuContainer(name, spec, node, args.secrets, parent),
  }));
  const all = containers.map((c) => c.container);
  const nodes = new Map(args.containers.map(({ node }) => [node.plan.name, node.plan]));

  const readiness = args.deployment.readiness.map((check) => {
    const node = nodes.get(check.node);
    if (!node)
      throw new Error(
        `readiness check of ${args.deployment.name} names node ${check.node}, which runs none of its containers`,
      );
    const instance = args.deployment.instances.find((i) => i.node === check.node && i.container === check.container);
    const placement = new Set(instance ? instance.placement.map((p) => p.node) : [check.node]);
    const mine = containers.filter((c) =>
      instance
        ? placement.has(c.node) && c.spec.replica === instance.replica
        : c.node === check.node && c.spec.name === check.container,
    );
    return createReadiness(
      name,
      {
        check,
        node,
        instanceContainers: mine.map((c) => c.container),
        deploymentContainers: all,
        sshPrivateKey: args.sshPrivateKey,
      },
      parent,
    );
  });
  return { containers, readiness };
}
