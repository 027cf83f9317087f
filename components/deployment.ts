/**
 * What every deployment component does, whatever its kind: download weights where the plan says so, start the planned
 * containers wave by wave (one wave with every replica when all at once; see `components/rollout.ts` for a rolling
 * update), gate each wave on readiness and smoke tests, and run the benchmark last. The kind-specific components
 * (`RayCluster`, `VllmDeployment`) only give the resources a type and expose them by role.
 *
 * A container waits for the images and weight downloads of every node of its group, and for its wave's drain; a gate
 * waits for its wave's containers. The depth of the graph grows with the number of waves (at most 7 with the default
 * `maxUnavailable` of 25 %), never with the number of nodes, and nothing waits on something that waits on it.
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LABELS } from "../planner/plan";
import type { ContainerSpec, DeploymentPlan, InstancePlan, JobPlan } from "../planner/types";
import { containerArgs, createContainer, createGpuContainer, type SecretEnv } from "./gpuContainer";
import { createJob } from "./job";
import type { Node } from "./node";
import { createReadiness, createSmokeTest } from "./readiness";
import { createRolloutStep, waveStepLogicalName, waveTrigger } from "./rollout";
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
  /** Drain and undrain steps of a rolling update, on the balancer nodes. */
  rolloutSteps: command.local.Command[];
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

/** Containers that form one engine: the same generation label (a group), or the container alone on its node. */
function groupKey(node: string, spec: ContainerSpec): string {
  return spec.labels[LABELS.generation] ?? `${node}/${spec.name}`;
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

  // Weight downloads: on each node once its image is there.
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

  // A member is replaced only once every node of its group has its image and weights: a full disk on one node
  // leaves the whole group as it was, never a mix of old and new members.
  const prerequisites = new Map<string, pulumi.Resource[]>();
  for (const { node, spec } of args.containers) {
    const key = groupKey(node.plan.name, spec);
    prerequisites.set(key, [
      ...(prerequisites.get(key) ?? []),
      node.image(spec.image),
      ...(setupByNode.get(node.plan.name) ?? []),
    ]);
  }

  const services = args.services.map(({ node, spec }) =>
    createGpuContainer(
      unique(seen, roleLogicalName(name, spec.role, node.plan.name), "services", parent),
      spec,
      node,
      args.secrets,
      parent,
      // Like the GPU containers: a switch between kinds (an image bump across vLLM 0.18 with `executor: auto`) keeps
      // the balancer, whose Docker name would otherwise be taken when its new resource is created.
      { aliases: [{ parent: identity.otherKindUrn }] },
    ),
  );
  const balancerNodes = args.services.filter((s) => s.spec.role === "load-balancer").map((s) => s.node);

  const nodes = new Map([...args.containers, ...args.services].map(({ node }) => [node.plan.name, node]));
  const nodeOf = (nodeName: string) => {
    const node = nodes.get(nodeName);
    if (!node) throw new pulumi.ResourceError(`${d.name}: node ${nodeName} runs none of its containers`, parent);
    return node;
  };

  // Waves in order: one wave with every replica when all at once; for a rolling update each wave waits for the one
  // before it to be back in the balancer (see components/rollout.ts for the order and what it costs).
  const rolling = d.rollout.strategy === "rolling";
  const waveOf = new Map<string, number>();
  d.rollout.waves.forEach((w, i) => {
    for (const c of w.containers) waveOf.set(`${c.node}/${c.name}`, i);
  });
  const containers: DeploymentResources["containers"] = [];
  const readiness: command.local.Command[] = [];
  const smokeTests: command.local.Command[] = [];
  const rolloutSteps: command.local.Command[] = [];
  // The balancers are (re)created before the first wave drains: a new balancer configuration never lands mid-rollout.
  let previous: pulumi.Resource[] = rolling ? services : [];
  d.rollout.waves.forEach((wave, w) => {
    const mine = args.containers.filter(({ node, spec }) => waveOf.get(`${node.plan.name}/${spec.name}`) === w);
    const inputs = mine.map(({ node, spec }) => ({
      node,
      spec,
      args: containerArgs(spec, node, args.secrets, parent),
    }));
    const step = (kind: "drain" | "undrain", script: string | undefined, dependsOn: pulumi.Resource[]) =>
      rolling && script
        ? balancerNodes.map((node) =>
            createRolloutStep(
              unique(seen, waveStepLogicalName(name, w, kind, node.plan.name), "rollout steps", parent),
              {
                node,
                deployment: d.name,
                wave: w,
                kind,
                script,
                drainSeconds: d.rollout.drainSeconds,
                trigger: waveTrigger(inputs.map((i) => i.args)),
                dependsOn,
              },
              parent,
            ),
          )
        : [];
    const drains = step("drain", wave.drain, previous);
    const barrier = rolling ? (drains.length > 0 ? drains : previous) : [];
    rolloutSteps.push(...drains);
    const made = inputs.map(({ node, spec, args: containerInputs }) => {
      const logical = unique(seen, containerLogicalName(name, spec.replica, node.plan.name), "containers", parent);
      const container = createContainer(logical, spec, containerInputs, node, parent, {
        aliases: [{ parent: identity.otherKindUrn }],
        dependsOn: [...new Set([...(prerequisites.get(groupKey(node.plan.name, spec)) ?? []), ...barrier])],
        stage: w,
      });
      return { node: node.plan.name, spec, container };
    });
    containers.push(...made);
    const gates = createGates(name, d, made, { seen, parent, nodeOf, stage: w, secrets: args.secrets });
    readiness.push(...gates.readiness);
    smokeTests.push(...gates.smokeTests);
    const passed = [...gates.readiness, ...gates.smokeTests];
    const undrains = step("undrain", wave.undrain, passed);
    rolloutSteps.push(...undrains);
    previous = undrains.length > 0 ? undrains : passed;
  });
  const unplaced = args.containers.filter(({ node, spec }) => !waveOf.has(`${node.plan.name}/${spec.name}`));
  if (unplaced.length > 0) {
    throw new pulumi.ResourceError(`${d.name}: ${unplaced[0]?.spec.name} is in no rollout wave`, parent);
  }

  // Jobs after readiness (the benchmark) run against a deployment that serves, through its balancer if any.
  const gates = [...readiness, ...smokeTests, ...services, ...rolloutSteps];
  let benchmark: command.local.Command | undefined;
  for (const { node, job } of args.jobs.filter((j) => j.job.after === "readiness")) {
    const logical = unique(seen, roleLogicalName(name, job.container.role, node.plan.name), "jobs", parent);
    const cmd = createJob(
      logical,
      {
        ...common,
        job,
        node,
        dependsOn: [node.image(job.container.image), ...gates],
        phase: PHASE.afterReadinessJob,
        // After every wave in the node's lanes.
        stage: d.rollout.waves.length,
      },
      parent,
    );
    if (job.container.name === d.benchmark?.job) benchmark = cmd;
  }
  return { containers, services, setupJobs, readiness, smokeTests, rolloutSteps, benchmark };
}

interface GateContext {
  seen: Set<string>;
  parent: pulumi.Resource;
  nodeOf: (node: string) => Node;
  /** The wave: the gates' stage in the node's session lanes. */
  stage: number;
  secrets: SecretEnv;
}

/**
 * The readiness gates and smoke tests of a wave's instances. A gate starts once every container of its wave exists
 * (the wave of a rolling update, or the whole deployment when all at once), never waiting on a later wave.
 */
function createGates(
  name: string,
  d: DeploymentPlan,
  waveContainers: { node: string; spec: ContainerSpec; container: docker.Container }[],
  ctx: GateContext,
): { readiness: command.local.Command[]; smokeTests: command.local.Command[] } {
  const names = new Set(waveContainers.map((c) => `${c.node}/${c.spec.name}`));
  const all = waveContainers.map((c) => c.container);
  const readinessByReplica = new Map<number, command.local.Command>();
  const readiness = d.readiness.flatMap((check, index) => {
    if (!names.has(`${check.node}/${check.container}`)) return [];
    const instance = d.instances.find((i) => i.node === check.node && i.container === check.container);
    const replica = instance?.replica ?? index;
    const mine = instance
      ? instanceContainers(instance, waveContainers)
      : waveContainers.filter((c) => c.spec.name === check.container);
    const cmd = createReadiness(
      unique(ctx.seen, gateLogicalName(name, replica, "ready"), "gates", ctx.parent),
      {
        check,
        deployment: d.name,
        node: ctx.nodeOf(check.node),
        instanceContainers: mine.map((c) => c.container),
        deploymentContainers: all,
        stage: ctx.stage,
        secrets: ctx.secrets,
      },
      ctx.parent,
    );
    readinessByReplica.set(replica, cmd);
    return [cmd];
  });
  const smokeTests = d.smokeTests.flatMap((test) => {
    const instance = d.instances.find((i) => i.node === test.node && i.port === test.port);
    if (!instance || !names.has(`${instance.node}/${instance.container}`)) {
      if (!instance) {
        throw new pulumi.ResourceError(
          `${d.name}: smoke test on ${test.node}:${test.port} matches no instance`,
          ctx.parent,
        );
      }
      return [];
    }
    const gate = readinessByReplica.get(instance.replica);
    if (!gate) {
      throw new pulumi.ResourceError(
        `${d.name}: smoke test on ${test.node}:${test.port} has no readiness gate`,
        ctx.parent,
      );
    }
    return [
      createSmokeTest(
        unique(ctx.seen, gateLogicalName(name, instance.replica, "smoke"), "gates", ctx.parent),
        {
          test,
          deployment: d.name,
          node: ctx.nodeOf(test.node),
          readiness: gate,
          instanceContainers: instanceContainers(instance, waveContainers).map((c) => c.container),
          stage: ctx.stage,
          secrets: ctx.secrets,
        },
        ctx.parent,
      ),
    ];
  });
  return { readiness, smokeTests };
}
