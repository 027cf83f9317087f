/**
 * The planner: a validated stack config in, the complete deployment plan out.
 *
 * It only sequences: cluster checks, then per deployment the rules (`deployment/decide.ts`), its kind laying out each
 * replica (`kinds/`), the day-2 parts (`deployment/dayTwo.ts`), and finally the port clash check over every node.
 * Pure and synchronous: same config, same plan, byte for byte.
 */
import { GPUS } from "./catalog/gpus";
import type { ClusterConfig, StackConfig } from "./config/schema";
import { planDayTwo } from "./deployment/dayTwo";
import { decideDeployment } from "./deployment/decide";
import { layOutReplicas } from "./deployment/replicas";
import { LABELS, sortedByKey } from "./kinds/containers";
import type { ReservedPort } from "./kinds/kind";
import { checkpointGiB, IMAGE_DISK_GIB, MIN_DOCKER } from "./rules/dayTwo";
import { Decisions } from "./rules/decisions";
import { imageWarnings } from "./rules/images";
import { checkNodeGpuCounts, partitionedGpu } from "./rules/partition";
import { emptySlots } from "./rules/placement";
import { checkRayDefaultPorts } from "./rules/rayPorts";
import { rdmaWarnings, verbsLibraries } from "./rules/rccl";
import { checkDeploymentRefs, checkPortClashes, resolveNodes, resolveVllmVersion } from "./rules/topology";
import { preflightChecks, preflightScript } from "./scripts/dayTwoScripts";
import type { NodePlan, Plan, Problem, Warning } from "./types";

export { CONTAINER_ENTRYPOINT, LABELS } from "./kinds/containers";

export interface PlanResult {
  plan: Plan;
  /** Empty when the config is valid; otherwise nothing may be provisioned from `plan`. */
  problems: Problem[];
}

/** Builds the plan, or the list of problems that stop it. */
export function buildPlan(config: StackConfig): PlanResult {
  const problems: Problem[] = [];
  const { cluster } = config;
  const gpu = partitionedGpu(GPUS[cluster.gpu], cluster.partition);
  const versionWarnings: Warning[] = [];
  const resolved = resolveVllmVersion(cluster, problems, versionWarnings);
  const version = resolved?.spec;
  const nodes = resolveNodes(cluster, problems);
  checkNodeGpuCounts(cluster, gpu, problems);
  checkDeploymentRefs(config.deployments, nodes, problems);
  const plan: Plan = {
    planVersion: 1,
    stack: config.stack,
    cluster: {
      gpu: gpu.displayName,
      gpuArch: gpu.gfx,
      hbmGiB: gpu.hbmGiB,
      ...(cluster.partition !== "spx" ? { partition: cluster.partition } : {}),
      image: cluster.image,
      vllmVersion: resolved?.version ?? "unknown",
      ...(version && version.version !== resolved?.version ? { vllmCheckedAgainst: version.version } : {}),
      modelCache: cluster.modelCache,
      ...(cluster.compileCache.enabled
        ? { compileCache: { path: cluster.compileCache.path, minFreeGiB: cluster.compileCache.minFreeGiB } }
        : {}),
      ...(cluster.registry ? { registry: { ...cluster.registry } } : {}),
    },
    nodes,
    deployments: [],
    warnings: [],
  };
  if (!version || problems.length > 0) return { plan, problems };

  const slots = new Map(nodes.map((n) => [n.name, emptySlots(n.name, n.gpus)]));
  // Built once: a per-deployment map made planning quadratic in the node count.
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const warnings: Warning[] = [...versionWarnings, ...imageWarnings(cluster.image, config.deployments)];
  const weightsGiB = new Map<string, number>();
  const reservedPorts: ReservedPort[] = [];
  config.deployments.forEach((d, index) => {
    const out = new Decisions(`rocm-vllm:deployments[${index}]`);
    const candidates = (d.nodes ?? nodes.map((n) => n.name)).flatMap((name) => slots.get(name) ?? []);
    const decided = decideDeployment(out, {
      d,
      cluster,
      gpu,
      version,
      candidates,
      hasHfToken: config.hasHfToken,
      hasApiKey: config.hasApiKey === true,
    });
    const placed = decided && layOutReplicas(out, decided, candidates, byName);
    const day2 =
      decided && placed && out.problems.length === 0
        ? planDayTwo(out, decided, placed, cluster, byName, config.hasHfToken)
        : undefined;
    problems.push(...out.problems);
    warnings.push(...out.warnings);
    if (!decided || !placed || !day2) return;

    plan.deployments.push({
      name: d.name,
      model: d.model,
      servedModelName: decided.servedModelName,
      kind: decided.kind.planKind(decided.shape),
      attention: { backend: decided.backend, expectedLogLine: version.attentionLogLines[decided.backend] ?? "" },
      env: sortedByKey(out.env),
      instances: placed.instances,
      rayClusters: placed.rayClusters,
      readiness: placed.readiness,
      smokeTests: day2.smokeTests,
      weights: {
        predownload: decided.predownload,
        revision: d.weights.revision,
        jobs: decided.predownload ? [`rocm-vllm-${d.name}-weights`] : [],
      },
      benchmark: day2.benchmark,
      loadBalancer: day2.loadBalancer,
      rollout: day2.rollout,
      healing: decided.healing,
      endpoints: day2.endpoints,
      memory: decided.memory,
      reasons: out.reasons,
    });
    for (const { node, spec } of placed.containers) byName.get(node)?.containers.push(spec);
    reservedPorts.push(...placed.reservedPorts);
    for (const { node, spec } of day2.services) byName.get(node)?.services.push(spec);
    for (const { node, job } of day2.jobs) byName.get(node)?.jobs.push(job);
    if (decided.downloads) {
      const gib = checkpointGiB(decided.model);
      for (const node of day2.placedNodes) weightsGiB.set(node, (weightsGiB.get(node) ?? 0) + gib);
    }
  });
  stampStack(nodes, config.stack);
  const byContainerName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
  for (const node of nodes) {
    node.containers.sort(byContainerName);
    node.services.sort(byContainerName);
    node.jobs.sort((a, b) => byContainerName(a.container, b.container));
    if (cluster.preflight) {
      const ports = reservedPorts.filter((p) => p.node === node.name);
      node.preflight = preflight(cluster, node, weightsGiB.get(node.name) ?? 0, ports);
    }
  }
  const deploymentIndex = new Map(config.deployments.map((d, i) => [d.name, i]));
  checkPortClashes(nodes, deploymentIndex, problems);
  checkRayDefaultPorts(nodes, deploymentIndex, problems);
  warnings.push(...rdmaWarnings(cluster.network, nodes.some(usesRdma)));
  plan.warnings = warnings;
  return { plan, problems };
}

/** A node runs a container of a deployment whose ranks talk over RDMA (it maps `/dev/infiniband`). */
const usesRdma = (node: NodePlan) => node.containers.some((c) => c.devices.includes("/dev/infiniband"));

/** Every container, service and job of the stack carries its name (label `rocm-vllm.stack`). */
function stampStack(nodes: NodePlan[], stack: string): void {
  for (const node of nodes) {
    for (const spec of [...node.containers, ...node.services, ...node.jobs.map((j) => j.container)]) {
      spec.labels = sortedByKey({ ...spec.labels, [LABELS.stack]: stack });
    }
  }
}

/** Host checks of a node before anything is pulled: devices, driver, Docker, disk for image and weights, network. */
function preflight(cluster: ClusterConfig, node: NodePlan, weightsGiB: number, ports: ReservedPort[]) {
  const rdma = usesRdma(node);
  const input = {
    node: node.name,
    ip: node.ip,
    gpus: node.gpus,
    interface: cluster.network.interface,
    rdma,
    rdmaLibraries: rdma ? [...verbsLibraries(cluster.network)] : [],
    modelCache: cluster.modelCache,
    imageGiB: IMAGE_DISK_GIB,
    weightsGiB,
    minDocker: MIN_DOCKER,
    ...(cluster.compileCache.enabled && node.containers.length > 0
      ? { compileCache: { path: cluster.compileCache.path, minFreeGiB: cluster.compileCache.minFreeGiB } }
      : {}),
    ports: ports.map(({ port, container, purpose }) => ({ port, container, purpose })),
  };
  return { checks: preflightChecks(input), script: preflightScript(input) };
}
