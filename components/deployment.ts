/**
 * What every deployment component does, whatever its kind: download weights where the plan says so, start the planned
 * containers on their nodes all at once, then gate on readiness and smoke tests, and run the benchmark last. The
 * kind-specific components (`RayCluster`, `VllmDeployment`) only give the resources a type and expose them by role.
 *
 * Every edge stays on one node except the gates, which wait for all of the deployment's containers: the depth of the
 * graph does not grow with the number of nodes, and nothing waits on something that waits on it.
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ContainerSpec, DeploymentPlan, InstancePlan, JobPlan } from "../planner/types";
import { createGpuContainer, type SecretEnv } from "./gpuContainer";
import { createJob } from "./job";
import type { Node } from "./node";
import { createReadiness, createSmokeTest } from "./readiness";
import { PHASE } from "./sessions";

/** A planned container together with the node component that runs it. */
export interface PlacedContainer {
  node: Node;
  spec: ContainerSpec;
}

/** A planned one-shot job together with the node component that runs it. */
export interface PlacedJob {
  node: Node;
  job: JobPlan;
}

export interface DeploymentArgs {
  deployment: DeploymentPlan;
  /** This deployment's GPU containers, in plan order (node order, then the node's container order). */
  containers: PlacedContainer[];
  /** This deployment's long-running containers without GPUs (load balancers). */
  services: PlacedContainer[];
  /** This deployment's one-shot jobs (weight downloads, benchmark). */
  jobs: PlacedJob[];
  secrets: SecretEnv;
  /** The cluster's model cache (`Plan.cluster.modelCache`), for the downloads' progress lines. */
  modelCache: string;
}

export interface DeploymentResources {
  containers: { node: string; spec: ContainerSpec; container: docker.Container }[];
  services: docker.Container[];
  /** Jobs that run once the image is on the node (weight downloads). */
  setupJobs: command.local.Command[];
  readiness: command.local.Command[];
  smokeTests: command.local.Command[];
  /** The benchmark job, when the deployment has one; its stdout ends with the result JSON. */
  benchmark: command.local.Command | undefined;
}

/** Type tokens of the deployment components. A deployment that changes kind moves its containers between them. */
export const RAY_CLUSTER_TYPE = "rocm-vllm:index:RayCluster";
export const VLLM_DEPLOYMENT_TYPE = "rocm-vllm:index:VllmDeployment";

/**
 * Logical name of a GPU container: `<component>-r<replica>-<node>`, never the Docker name. Docker names change with
 * the replica count (`rocm-vllm-x` becomes `rocm-vllm-x-0`) and with the kind (`-ray-head`); keyed this way such a
 * change is a replace of the same resource, which the provider does delete-before-create. Keyed by Docker name it
 * would be a create of a new resource next to the old one, on the same GPUs and port, and the old one would only be
 * deleted after readiness — which could then never pass.
 */
export function containerLogicalName(component: string, replica: number, node: string): string {
  return `${component}-r${replica}-${node}`;
}

/** Logical name of a service or job: one per role and node (`<component>-load-balancer-<node>`, `-weights-`). */
export function roleLogicalName(component: string, role: string, node: string): string {
  return `${component}-${role}-${node}`;
}

/** Logical name of a gate of one replica: `<component>-r<replica>-ready` / `-smoke`. */
export function gateLogicalName(component: string, replica: number, gate: "ready" | "smoke"): string {
  return `${component}-r${replica}-${gate}`;
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

function unique(seen: Set<string>, logical: string, what: string, parent: pulumi.Resource): string {
  if (seen.has(logical)) throw new pulumi.ResourceError(`plan has two ${what} named ${logical}`, parent);
  seen.add(logical);
  return logical;
}

/** The containers an instance runs in: same replica, on the nodes of its placement. */
function instanceContainers<T extends { node: string; spec: ContainerSpec }>(instance: InstancePlan, all: T[]): T[] {
  const nodes = new Set(instance.placement.map((p) => p.node));
  return all.filter((c) => nodes.has(c.node) && c.spec.replica === instance.replica);
}

/** Creates every resource of one deployment under `parent` (see the file comment for the order). */
export function createDeployment(
  name: string,
  args: DeploymentArgs,
  parent: pulumi.Resource,
  identity: DeploymentIdentity,
): DeploymentResources {
  const d = args.deployment;
  const seen = new Set<string>();
  const common = { secrets: args.secrets, modelCache: args.modelCache };

  // Weight downloads: on each node once its image is there; that node's containers wait for it.
  const setupByNode = new Map<string, command.local.Command[]>();
  const setupJobs = args.jobs
    .filter((j) => j.job.after === "image")
    .map(({ node, job }) => {
      const logical = unique(seen, roleLogicalName(name, job.container.role, node.plan.name), "jobs", parent);
      const cmd = createJob(
        logical,
        { ...common, job, node, dependsOn: [node.image(job.container.image)], phase: PHASE.setupJob },
        parent,
      );
      setupByNode.set(node.plan.name, [...(setupByNode.get(node.plan.name) ?? []), cmd]);
      return cmd;
    });

  const containers = args.containers.map(({ node, spec }) => {
    const logical = unique(seen, containerLogicalName(name, spec.replica, node.plan.name), "containers", parent);
    const container = createGpuContainer(logical, spec, node, args.secrets, parent, {
      aliases: [{ parent: identity.otherKindUrn }],
      dependsOn: setupByNode.get(node.plan.name) ?? [],
    });
    return { node: node.plan.name, spec, container };
  });
  const all = containers.map((c) => c.container);

  const services = args.services.map(({ node, spec }) =>
    createGpuContainer(
      unique(seen, roleLogicalName(name, spec.role, node.plan.name), "services", parent),
      spec,
      node,
      args.secrets,
      parent,
    ),
  );

  const nodes = new Map([...args.containers, ...args.services].map(({ node }) => [node.plan.name, node]));
  const nodeOf = (nodeName: string) => {
    const node = nodes.get(nodeName);
    if (!node) throw new pulumi.ResourceError(`${d.name}: node ${nodeName} runs none of its containers`, parent);
    return node;
  };

  const readinessByReplica = new Map<number, command.local.Command>();
  const readiness = d.readiness.map((check, index) => {
    const instance = d.instances.find((i) => i.node === check.node && i.container === check.container);
    const replica = instance?.replica ?? index;
    const mine = instance
      ? instanceContainers(instance, containers)
      : containers.filter((c) => c.spec.name === check.container);
    const cmd = createReadiness(
      unique(seen, gateLogicalName(name, replica, "ready"), "gates", parent),
      {
        check,
        deployment: d.name,
        node: nodeOf(check.node),
        instanceContainers: mine.map((c) => c.container),
        deploymentContainers: all,
      },
      parent,
    );
    readinessByReplica.set(replica, cmd);
    return cmd;
  });

  const smokeTests = d.smokeTests.map((test) => {
    const instance = d.instances.find((i) => i.node === test.node && i.port === test.port);
    const gate = instance ? readinessByReplica.get(instance.replica) : undefined;
    if (!instance || !gate) {
      throw new pulumi.ResourceError(`${d.name}: smoke test on ${test.node}:${test.port} matches no instance`, parent);
    }
    return createSmokeTest(
      unique(seen, gateLogicalName(name, instance.replica, "smoke"), "gates", parent),
      {
        test,
        deployment: d.name,
        node: nodeOf(test.node),
        readiness: gate,
        instanceContainers: instanceContainers(instance, containers).map((c) => c.container),
      },
      parent,
    );
  });

  // Jobs after readiness (the benchmark) run against a deployment that serves, through its balancer if any.
  const gates = [...readiness, ...smokeTests, ...services];
  let benchmark: command.local.Command | undefined;
  for (const { node, job } of args.jobs.filter((j) => j.job.after === "readiness")) {
    const logical = unique(seen, roleLogicalName(name, job.container.role, node.plan.name), "jobs", parent);
    const cmd = createJob(
      logical,
      { ...common, job, node, dependsOn: [node.image(job.container.image), ...gates], phase: PHASE.afterReadinessJob },
      parent,
    );
    if (job.container.name === d.benchmark?.job) benchmark = cmd;
  }
  return { containers, services, setupJobs, readiness, smokeTests, benchmark };
}
