/**
 * What every deployment component does, whatever its kind: start the planned containers on their nodes, all at once,
 * then gate on the plan's readiness checks. The kind-specific components (`RayCluster`, `VllmDeployment`) only give
 * the resources a type and expose them by role.
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
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

/** Type tokens of the deployment components. A deployment that changes kind moves its containers between them. */
export const RAY_CLUSTER_TYPE = "rocm-vllm:index:RayCluster";
export const VLLM_DEPLOYMENT_TYPE = "rocm-vllm:index:VllmDeployment";

/**
 * Logical name of a container: `<component>-r<replica>-<node>`, never the Docker name. Docker names change with the
 * replica count (`rocm-vllm-x` becomes `rocm-vllm-x-0`) and with the kind (`-ray-head`); keyed this way such a change
 * is a replace of the same resource, which the provider does delete-before-create. Keyed by Docker name it would be
 * a create of a new resource next to the old one, on the same GPUs and port, and the old one would only be deleted
 * after readiness — which could then never pass.
 */
export function containerLogicalName(component: string, replica: number, node: string): string {
  return `${component}-r${replica}-${node}`;
}

/** Logical name of the readiness gate of one replica. */
export function readinessLogicalName(component: string, replica: number): string {
  return `${component}-r${replica}-ready`;
}

/** Options that give a deployment component's containers their identity across kinds. */
export interface DeploymentIdentity {
  /**
   * URN the same deployment has under the other component type: containers alias themselves to it, so changing
   * `kind` (e.g. TP 8 on one node → TP 16 over two nodes on Ray) replaces containers instead of starting new ones
   * beside the old.
   */
  otherKindUrn: pulumi.Input<string>;
}

/**
 * Creates the containers (no container waits on another: Ray workers retry joining and the head waits for them at
 * runtime) and one readiness command per check, which waits on all of the deployment's containers.
 */
export function createDeployment(
  name: string,
  args: DeploymentArgs,
  parent: pulumi.Resource,
  identity: DeploymentIdentity,
): DeploymentResources {
  const seen = new Set<string>();
  const containers = args.containers.map(({ node, spec }) => {
    const logical = containerLogicalName(name, spec.replica, node.plan.name);
    if (seen.has(logical)) {
      throw new pulumi.ResourceError(
        `plan puts two containers of ${args.deployment.name} replica ${spec.replica} on node ${node.plan.name}`,
        parent,
      );
    }
    seen.add(logical);
    return {
      node: node.plan.name,
      spec,
      container: createGpuContainer(logical, spec, node, args.secrets, parent, [{ parent: identity.otherKindUrn }]),
    };
  });
  const all = containers.map((c) => c.container);
  const nodes = new Map(args.containers.map(({ node }) => [node.plan.name, node.plan]));

  const readiness = args.deployment.readiness.map((check, index) => {
    const node = nodes.get(check.node);
    if (!node) {
      throw new pulumi.ResourceError(
        `readiness check of ${args.deployment.name} names node ${check.node}, which runs none of its containers`,
        parent,
      );
    }
    const instance = args.deployment.instances.find((i) => i.node === check.node && i.container === check.container);
    const replica = instance?.replica ?? index;
    const placement = new Set(instance ? instance.placement.map((p) => p.node) : [check.node]);
    const mine = containers.filter((c) =>
      instance
        ? placement.has(c.node) && c.spec.replica === instance.replica
        : c.node === check.node && c.spec.name === check.container,
    );
    return createReadiness(
      readinessLogicalName(name, replica),
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
