/**
 * The planner: a validated stack config in, the complete deployment plan out.
 *
 * It only sequences the rules in `planner/rules` (each rule decides one thing and says why) and assembles their
 * decisions into containers per node. Pure and synchronous: same config, same plan, byte for byte.
 */

import { createHash } from "node:crypto";
import { GPUS, type GpuSpec } from "./catalog/gpus";
import { findModel, type ModelEntry, modelFromConfig } from "./catalog/models";
import type { VllmVersionSpec } from "./catalog/vllmVersions";
import type { ClusterConfig, DeploymentConfig, StackConfig } from "./config/schema";
import { attentionTraits, chooseAttention } from "./rules/attention";
import { gpuContainerRuntime, HF_CACHE_IN_CONTAINER } from "./rules/containerRuntime";
import {
  benchmarkJob,
  checkpointGiB,
  downloadsFromHub,
  IMAGE_DISK_GIB,
  loadBalancer,
  MIN_DOCKER,
  triggerHash,
  weightsJob,
  weightsPolicy,
} from "./rules/dayTwo";
import { Decisions } from "./rules/decisions";
import { asyncScheduling, batchedTokens, cudagraphMode, explicitEngineArgs } from "./rules/engineArgs";
import { applyExtraEnv, checkExtraArgs } from "./rules/extraOptions";
import { rayVisibilityOptOut, refuseVisibilityOverrides, visibleDevices } from "./rules/gpuVisibility";
import { imageWarnings } from "./rules/images";
import { memoryBudget } from "./rules/memory";
import {
  dataLoadBalancing,
  dataParallelNodeArgs,
  externalDataParallelArgs,
  parallelismArgs,
  resolveShape,
  type Shape,
} from "./rules/parallelism";
import { hipAndBlasEnv, rcclChannels } from "./rules/performanceEnv";
import {
  checkReplicaPorts,
  dpRpcPort,
  emptySlots,
  type NodeSlots,
  placeReplica,
  RAY_GCS_PORT,
  replicaPort,
} from "./rules/placement";
import { kvCacheDtype, quantizationArgs, quickReduce, speculativeConfig } from "./rules/quantization";
import { rcclDebug, rdmaEnv, socketInterface } from "./rules/rccl";
import { checkDeploymentRefs, checkPortClashes, resolveNodes, resolveVllmVersion } from "./rules/topology";
import { preflightChecks, preflightScript, smokeTestScript } from "./scripts/dayTwoScripts";
import { rayHeadScript, rayWorkerScript, readinessScript } from "./scripts/launchScripts";
import type {
  ContainerRole,
  ContainerSpec,
  DeploymentPlan,
  InstancePlan,
  JobPlan,
  LoadBalancerPlan,
  NodePlan,
  Plan,
  Problem,
  RayClusterPlan,
  ReadinessCheck,
  SmokeTest,
  Warning,
} from "./types";

export interface PlanResult {
  plan: Plan;
  /** Empty when the config is valid; otherwise nothing may be provisioned from `plan`. */
  problems: Problem[];
}

/** Entry point that launches every container: images such as `vllm/vllm-openai-rocm` set `ENTRYPOINT ["vllm","serve"]`. */
export const CONTAINER_ENTRYPOINT = ["/usr/bin/env"];
/** Label keys on every managed container. */
export const LABELS = {
  managed: "rocm-vllm.managed",
  deployment: "rocm-vllm.deployment",
  role: "rocm-vllm.role",
  replica: "rocm-vllm.replica",
  generation: "rocm-vllm.generation",
} as const;

const sorted = (r: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Builds the plan, or the list of problems that stop it. */
export function buildPlan(config: StackConfig): PlanResult {
  const problems: Problem[] = [];
  const { cluster } = config;
  const gpu = GPUS[cluster.gpu];
  const version = resolveVllmVersion(cluster, problems);
  const nodes = resolveNodes(cluster, problems);
  checkDeploymentRefs(config.deployments, nodes, problems);
  const plan: Plan = {
    planVersion: 1,
    cluster: {
      gpu: gpu.displayName,
      gpuArch: gpu.gfx,
      hbmGiB: gpu.hbmGiB,
      image: cluster.image,
      vllmVersion: version?.version ?? cluster.vllmVersion ?? "unknown",
      modelCache: cluster.modelCache,
      ...(cluster.registry ? { registry: { ...cluster.registry } } : {}),
    },
    nodes,
    deployments: [],
    warnings: [],
  };
  if (!version || problems.length > 0) return { plan, problems };

  const slots = new Map(nodes.map((n) => [n.name, emptySlots(n.name, n.gpus)]));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const warnings: Warning[] = imageWarnings(cluster.image, config.deployments);
  const weightsGiB = new Map<string, number>();
  config.deployments.forEach((d, index) => {
    const result = planDeployment({
      d,
      index,
      cluster,
      gpu,
      version,
      nodes,
      byName,
      slots,
      hasHfToken: config.hasHfToken,
    });
    problems.push(...result.problems);
    warnings.push(...result.warnings);
    if (!result.deployment) return;
    plan.deployments.push(result.deployment);
    for (const { node, spec } of result.containers) byName.get(node)?.containers.push(spec);
    for (const { node, spec } of result.services) byName.get(node)?.services.push(spec);
    for (const { node, job } of result.jobs) byName.get(node)?.jobs.push(job);
    for (const node of result.cacheNodes) weightsGiB.set(node, (weightsGiB.get(node) ?? 0) + result.weightsGiB);
  });
  const byContainerName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
  for (const node of nodes) {
    node.containers.sort(byContainerName);
    node.services.sort(byContainerName);
    node.jobs.sort((a, b) => byContainerName(a.container, b.container));
    if (cluster.preflight) node.preflight = preflight(cluster, node, weightsGiB.get(node.name) ?? 0);
  }
  checkPortClashes(nodes, new Map(config.deployments.map((d, i) => [d.name, i])), problems);
  plan.warnings = warnings;
  return { plan, problems };
}

interface DeploymentInput {
  d: DeploymentConfig;
  index: number;
  cluster: ClusterConfig;
  gpu: GpuSpec;
  version: VllmVersionSpec;
  nodes: NodePlan[];
  /** The same nodes by name, built once: a per-deployment map made planning quadratic in the node count. */
  byName: ReadonlyMap<string, NodePlan>;
  slots: Map<string, NodeSlots>;
  hasHfToken: boolean;
}

interface DeploymentResult {
  deployment?: DeploymentPlan;
  containers: { node: string; spec: ContainerSpec }[];
  services: { node: string; spec: ContainerSpec }[];
  jobs: { node: string; job: JobPlan }[];
  /** Nodes whose model cache receives this deployment's weights, and how much. */
  cacheNodes: string[];
  weightsGiB: number;
  problems: Problem[];
  warnings: Warning[];
}

function resolveModel(out: Decisions, d: DeploymentConfig): ModelEntry | undefined {
  const catalogued = findModel(d.model);
  if (d.modelInfo) {
    if (catalogued)
      out.note("modelInfo overrides the catalog entry for this model", "resolveModel", "stack config modelInfo");
    return modelFromConfig(d.model, d.modelInfo);
  }
  return catalogued;
}

/** Runs every rule for one deployment, in an order where later rules can see earlier decisions. */
function decide(input: DeploymentInput, out: Decisions, model: ModelEntry | undefined, shape: Shape) {
  const { d, cluster, gpu, version } = input;
  hipAndBlasEnv(out);
  out.setEnv("HF_HOME", HF_CACHE_IN_CONTAINER, "modelCache", "rocm-facts.md §4.1 (images leave HF_HOME unset)");
  rcclChannels(out, shape.gpusPerReplica, shape.spansNodes);
  socketInterface(out, cluster.network, shape.spansNodes);
  rdmaEnv(out, cluster.network);
  rcclDebug(out, cluster.debug);
  if (shape.kind === "ray") rayVisibilityOptOut(out, version);
  refuseVisibilityOverrides(out, d.extraEnv);
  const backend = chooseAttention(out, d, attentionTraits(d.model, model?.arch), shape.tensor, version);
  parallelismArgs(out, shape, version, model?.arch, d.model);
  dataLoadBalancing(out, d.parallelism, d.loadBalancer !== undefined);
  quantizationArgs(out, d, model, gpu);
  kvCacheDtype(out, d, model, version);
  quickReduce(out, d, shape.tensor);
  batchedTokens(out, d);
  cudagraphMode(out, d, backend);
  asyncScheduling(out, d, shape, version);
  explicitEngineArgs(out, d, version);
  speculativeConfig(out, d, version);
  const memory = memoryBudget(out, d, model, shape, gpu);
  const predownload = weightsPolicy(out, d, shape);
  checkReplicaPorts(out, d.port, d.replicas);
  checkExtraArgs(out, d.extraArgs, version);
  applyExtraEnv(out, d.extraEnv);
  return { backend, memory, predownload };
}

function planDeployment(input: DeploymentInput): DeploymentResult {
  const { d, index, cluster, version, nodes, slots } = input;
  const out = new Decisions(`rocm-vllm:deployments[${index}]`);
  const done = (deployment?: DeploymentPlan, parts: Partial<DeploymentResult> = {}): DeploymentResult => ({
    deployment,
    containers: [],
    services: [],
    jobs: [],
    cacheNodes: [],
    weightsGiB: 0,
    ...parts,
    problems: out.problems,
    warnings: out.warnings,
  });

  const candidates = (d.nodes ?? nodes.map((n) => n.name)).flatMap((name) => slots.get(name) ?? []);
  const gpusPerNode = Math.max(...candidates.map((s) => s.gpus));
  const model = resolveModel(out, d);
  const shape = resolveShape(out, d.parallelism, gpusPerNode, model?.arch);
  if (shape.spansNodes && candidates.some((s) => s.gpus !== gpusPerNode)) {
    out.refuse(
      ".nodes",
      d.nodes ?? "(all nodes)",
      "a deployment spanning nodes needs the same GPU count on each of its nodes",
      "list nodes with equal gpus",
    );
  }
  if (out.problems.length > 0) return done();
  const { backend, memory, predownload } = decide(input, out, model, shape);
  if (out.problems.length > 0) return done();

  const servedModelName =
    d.servedModelName ?? (d.model.startsWith("/") ? (d.model.split("/").pop() ?? d.model) : d.model);
  const downloads = [d.model, d.speculative?.model].some((m) => m !== undefined && downloadsFromHub(m));
  // With pre-download only the download job holds the token; serving stays offline.
  const secretEnv = downloads && input.hasHfToken && !predownload ? ["HF_TOKEN"] : [];
  const runtime = gpuContainerRuntime(cluster, out.reasons);
  const nodeByName = input.byName;
  const containers: DeploymentResult["containers"] = [];
  const instances: InstancePlan[] = [];
  const rayClusters: RayClusterPlan[] = [];
  const readiness: ReadinessCheck[] = [];

  const externalLb = shape.kind === "data-parallel" && d.parallelism.dataLoadBalancing === "external";
  /** Records one serving instance (an API server clients reach) and its readiness gate. */
  const addInstance = (
    node: NodePlan,
    port: number,
    gpus: number[],
    placement: InstancePlan["placement"],
    argv: string[],
    served: ContainerSpec,
    index: number,
  ) => {
    const endpoint = `http://${node.ip}:${port}`;
    instances.push({
      node: node.name,
      host: node.host,
      port,
      gpus,
      placement,
      argv,
      env: served.env,
      container: served.name,
      replica: index,
      endpoint,
    });
    readiness.push({
      node: node.name,
      host: node.host,
      port,
      container: served.name,
      servedModelName,
      timeoutSeconds: d.timeouts.readySeconds,
      script: readinessScript({
        deployment: d.name,
        node: node.name,
        endpoint,
        port,
        container: served.name,
        servedModelName,
        timeoutSeconds: d.timeouts.readySeconds,
      }),
    });
  };
  for (let replica = 0; replica < d.replicas; replica++) {
    const placement = placeReplica(out, d.name, replica, shape, candidates);
    if (!placement) break;
    const port = replicaPort(d.port, replica);
    const prefix = d.replicas > 1 ? `rocm-vllm-${d.name}-${replica}` : `rocm-vllm-${d.name}`;
    const instanceArgs = ["--port", String(port)];
    if (servedModelName !== d.model) instanceArgs.push("--served-model-name", servedModelName);
    const argv = ["vllm", "serve", d.model, ...out.args, ...instanceArgs, ...d.extraArgs];
    const primary = placement[0];
    const primaryNode = nodeByName.get(primary.node) as NodePlan;
    const envOn = (node: NodePlan, gpus: number[]) =>
      sorted({ ...out.env, VLLM_HOST_IP: node.ip, ...visibleDevices(gpus, node.gpus) });
    const container = (
      node: NodePlan,
      name: string,
      role: ContainerRole,
      gpus: number[],
      command: string[],
      ports: number[],
      index = replica,
    ): ContainerSpec => ({
      name,
      role,
      deployment: d.name,
      replica: index,
      image: cluster.image,
      env: envOn(node, gpus),
      secretEnv,
      entrypoint: CONTAINER_ENTRYPOINT,
      command,
      ...structuredClone(runtime),
      restart: "unless-stopped",
      ports,
      labels: sorted({
        [LABELS.managed]: "true",
        [LABELS.deployment]: d.name,
        [LABELS.role]: role,
        [LABELS.replica]: String(index),
      }),
    });

    const group: { node: string; spec: ContainerSpec }[] = [];
    const rankInstances: {
      node: NodePlan;
      spec: ContainerSpec;
      port: number;
      gpus: number[];
      argv: string[];
      index: number;
    }[] = [];
    let instanceArgv = argv;
    if (shape.kind === "ray") {
      const workers = placement.slice(1).map((p) => nodeByName.get(p.node) as NodePlan);
      const ray: RayClusterPlan = {
        headNode: primary.node,
        headAddress: primaryNode.ip,
        gcsPort: RAY_GCS_PORT,
        workerNodes: workers.map((w) => w.name),
        expectedNodes: placement.length,
        expectedGpus: shape.gpusPerReplica,
        joinTimeoutSeconds: d.timeouts.rayJoinSeconds,
      };
      rayClusters.push(ray);
      const head = rayHeadScript({
        deployment: d.name,
        gcsPort: RAY_GCS_PORT,
        gpus: primary.gpus.length,
        workers: workers.map((w) => ({ name: w.name, ip: w.ip })),
        expectedNodes: ray.expectedNodes,
        expectedGpus: ray.expectedGpus,
        joinTimeoutSeconds: ray.joinTimeoutSeconds,
        serveArgv: argv,
      });
      group.push({
        node: primary.node,
        spec: container(
          primaryNode,
          `${prefix}-ray-head`,
          "ray-head",
          primary.gpus,
          ["bash", "-c", head],
          [port, RAY_GCS_PORT],
        ),
      });
      placement.slice(1).forEach((p, k) => {
        const worker = rayWorkerScript({
          deployment: d.name,
          headAddress: primaryNode.ip,
          gcsPort: RAY_GCS_PORT,
          gpus: p.gpus.length,
        });
        group.push({
          node: p.node,
          spec: container(workers[k], `${prefix}-ray-worker`, "ray-worker", p.gpus, ["bash", "-c", worker], []),
        });
      });
    } else if (externalLb) {
      // One `vllm serve` per data-parallel rank, each with its own GPUs and port, behind an external balancer.
      const rpcPort = dpRpcPort(replica);
      const ranks = placement.flatMap((p) =>
        Array.from({ length: p.gpus.length / shape.gpusPerEngine }, (_, j) => ({
          node: p.node,
          gpus: p.gpus.slice(j * shape.gpusPerEngine, (j + 1) * shape.gpusPerEngine),
        })),
      );
      ranks.forEach((rank, k) => {
        const index = replica * shape.data + k;
        const rankPort = d.port + index;
        const node = nodeByName.get(rank.node) as NodePlan;
        const rankArgv = [
          "vllm",
          "serve",
          d.model,
          ...out.args,
          "--port",
          String(rankPort),
          ...(servedModelName !== d.model ? ["--served-model-name", servedModelName] : []),
          ...externalDataParallelArgs(k, primaryNode.ip, rpcPort),
          ...d.extraArgs,
        ];
        const ports = k === 0 ? [rankPort, rpcPort] : [rankPort];
        const spec = container(node, `rocm-vllm-${d.name}-${index}`, "serve", rank.gpus, rankArgv, ports, index);
        group.push({ node: rank.node, spec });
        rankInstances.push({ node, spec, port: rankPort, gpus: rank.gpus, argv: rankArgv, index });
      });
    } else if (shape.spansNodes) {
      const rpcPort = dpRpcPort(replica);
      placement.forEach((p, k) => {
        const node = nodeByName.get(p.node) as NodePlan;
        const dpArgs = dataParallelNodeArgs(shape, k, primaryNode.ip, rpcPort);
        const nodeArgv = [
          "vllm",
          "serve",
          d.model,
          ...out.args,
          ...(k === 0 ? instanceArgs : []),
          ...dpArgs,
          ...d.extraArgs,
        ];
        if (k === 0) instanceArgv = nodeArgv;
        group.push({
          node: p.node,
          spec: container(
            node,
            k === 0 ? prefix : `${prefix}-dp${k}`,
            k === 0 ? "serve" : "dp-engine",
            p.gpus,
            nodeArgv,
            k === 0 ? [port, rpcPort] : [],
          ),
        });
      });
    } else {
      group.push({ node: primary.node, spec: container(primaryNode, prefix, "serve", primary.gpus, argv, [port]) });
    }
    if (group.length > 1) stampGeneration(group.map((g) => g.spec));
    containers.push(...group);

    if (externalLb) {
      for (const r of rankInstances) {
        addInstance(r.node, r.port, r.gpus, [{ node: r.node.name, gpus: r.gpus }], r.argv, r.spec, r.index);
      }
    } else {
      addInstance(primaryNode, port, primary.gpus, placement, instanceArgv, group[0].spec, replica);
    }
  }
  if (out.problems.length > 0) return done();

  const placedNodes = [...new Set(instances.flatMap((i) => i.placement.map((p) => p.node)))];
  const baseLabels = { [LABELS.managed]: "true", [LABELS.deployment]: d.name, [LABELS.replica]: "0" };
  const jobs: DeploymentResult["jobs"] = [];
  if (predownload) {
    const spec = weightsJob(cluster, d, input.hasHfToken, baseLabels);
    const trigger = triggerHash({
      image: cluster.image,
      model: d.model,
      draft: d.speculative?.model,
      revision: d.weights.revision,
    });
    for (const node of placedNodes)
      jobs.push({ node, job: { container: structuredClone(spec), trigger, after: "image" } });
  }
  const smokeTests: SmokeTest[] = d.smokeTest
    ? instances.map((i) => ({
        node: i.node,
        port: i.port,
        script: smokeTestScript({ deployment: d.name, port: i.port, servedModelName }),
      }))
    : [];
  let lbPlan: LoadBalancerPlan | undefined;
  let services: DeploymentResult["services"] = [];
  if (d.loadBalancer) {
    const upstreams = instances.map((i) => `${nodeByName.get(i.node)?.ip}:${i.port}`);
    const lb = loadBalancer(out, d, d.loadBalancer, upstreams, instances[0].node, nodeByName, baseLabels);
    if (!lb) return done();
    services = lb.services;
    lbPlan = {
      port: d.loadBalancer.port,
      nodes: lb.services.map((x) => x.node),
      endpoints: lb.endpoints,
      config: lb.config,
      upstreams,
    };
  }
  const endpoints = lbPlan ? lbPlan.endpoints : instances.flatMap((i) => (i.endpoint ? [i.endpoint] : []));
  let benchmark: DeploymentPlan["benchmark"];
  if (d.benchmark) {
    const env = sorted({ HF_HOME: HF_CACHE_IN_CONTAINER, ...(predownload ? { HF_HUB_OFFLINE: "1" } : {}) });
    const spec = benchmarkJob(cluster, d, d.benchmark, endpoints[0], servedModelName, env, secretEnv, baseLabels);
    const trigger = triggerHash({ containers: containers.map((c) => c.spec), settings: d.benchmark });
    jobs.push({ node: instances[0].node, job: { container: spec, trigger, after: "readiness" } });
    benchmark = { node: instances[0].node, settings: d.benchmark, job: spec.name };
  }

  return done(
    {
      name: d.name,
      model: d.model,
      servedModelName,
      kind: shape.kind,
      attention: { backend, expectedLogLine: version.attentionLogLines[backend] ?? "" },
      env: sorted(out.env),
      instances,
      rayClusters,
      readiness,
      smokeTests,
      weights: { predownload, revision: d.weights.revision, jobs: predownload ? [`rocm-vllm-${d.name}-weights`] : [] },
      benchmark,
      loadBalancer: lbPlan,
      endpoints,
      memory,
      reasons: out.reasons,
    },
    {
      containers,
      services,
      jobs,
      cacheNodes: downloads ? placedNodes : [],
      weightsGiB: downloads ? checkpointGiB(model) : 0,
    },
  );
}

/** Host checks of a node before anything is pulled: devices, driver, Docker, disk for image and weights, network. */
function preflight(cluster: ClusterConfig, node: NodePlan, weightsGiB: number) {
  const input = {
    node: node.name,
    ip: node.ip,
    gpus: node.gpus,
    interface: cluster.network.interface,
    rdma: cluster.network.rdma,
    modelCache: cluster.modelCache,
    imageGiB: IMAGE_DISK_GIB,
    weightsGiB,
    minDocker: MIN_DOCKER,
  };
  return { checks: preflightChecks(input), script: preflightScript(input) };
}

/**
 * Containers that form one engine across nodes (a Ray cluster, a multi-node DP replica) carry a label hashing the
 * whole group, so any change to one of them replaces all of them together: the cluster is re-formed, never half-old.
 */
function stampGeneration(specs: ContainerSpec[]): void {
  const hash = createHash("sha256").update(JSON.stringify(specs)).digest("hex").slice(0, 16);
  for (const spec of specs) spec.labels = sorted({ ...spec.labels, [LABELS.generation]: hash });
}
