/**
 * Day-2 assembly of a placed deployment: weight download jobs on its nodes, a smoke test per instance, the load
 * balancer and the benchmark. The rules behind each are in `rules/dayTwo.ts`; this only puts them together.
 */
import type { ClusterConfig } from "../config/schema";
import { LABELS, sortedByKey } from "../kinds/containers";
import { apiKeySecretEnv } from "../rules/apiKey";
import { HF_CACHE_IN_CONTAINER } from "../rules/containerRuntime";
import { benchmarkJob, loadBalancer, triggerHash, weightsJob } from "../rules/dayTwo";
import type { Decisions } from "../rules/decisions";
import { smokeTestScript } from "../scripts/dayTwoScripts";
import { drainScript, undrainScript } from "../scripts/rolloutScripts";
import type {
  ContainerSpec,
  DeploymentPlan,
  JobPlan,
  LoadBalancerPlan,
  NodePlan,
  RolloutPlan,
  SmokeTest,
} from "../types";
import type { Decided } from "./decide";
import type { Replicas } from "./replicas";

/** Label of a balancer container: the rollout strategy it serves (see `deployment` below). */
export const ROLLOUT_LABEL = "rocm-vllm.rollout";

export interface DayTwo {
  jobs: { node: string; job: JobPlan }[];
  services: { node: string; spec: ContainerSpec }[];
  smokeTests: SmokeTest[];
  loadBalancer?: LoadBalancerPlan;
  benchmark?: DeploymentPlan["benchmark"];
  /** URLs clients use: the balancer's when there is one, else every instance's. */
  endpoints: string[];
  /** Nodes that run any of the deployment's instances, in placement order. */
  placedNodes: string[];
  rollout: RolloutPlan;
}

/** Day-2 parts of one deployment; `undefined` when the balancer is refused (the problem is in `out`). */
export function planDayTwo(
  out: Decisions,
  decided: Decided,
  placed: Replicas,
  cluster: ClusterConfig,
  byName: ReadonlyMap<string, NodePlan>,
  hasHfToken: boolean,
): DayTwo | undefined {
  const { d, predownload, servedModelName } = decided;
  const { instances } = placed;
  const placedNodes = [...new Set(instances.flatMap((i) => i.placement.map((p) => p.node)))];
  const baseLabels = { [LABELS.managed]: "true", [LABELS.deployment]: d.name, [LABELS.replica]: "0" };
  const jobs: DayTwo["jobs"] = [];
  if (predownload) {
    const spec = weightsJob(cluster, d, hasHfToken, baseLabels);
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
        secretEnv: apiKeySecretEnv(decided.apiKey),
        script: smokeTestScript({ deployment: d.name, port: i.port, servedModelName, apiKey: decided.apiKey }),
      }))
    : [];
  let lbPlan: LoadBalancerPlan | undefined;
  let services: DayTwo["services"] = [];
  if (d.loadBalancer) {
    const upstreams = placed.groups.flatMap((g) =>
      g.instances.map((i) => ({ address: `${byName.get(i.node)?.ip}:${i.port}`, replica: g.replica })),
    );
    // A rolling update takes replicas out of the running nginx; the strategy in the balancer's labels makes a switch
    // to all-at-once (which has no undrain step) start a fresh nginx, so no replica stays out of it.
    const lbLabels = { ...baseLabels, [ROLLOUT_LABEL]: decided.rollout.strategy };
    const lb = loadBalancer(out, d, d.loadBalancer, upstreams, instances[0].node, byName, lbLabels);
    if (!lb) return undefined;
    services = lb.services;
    lbPlan = {
      port: d.loadBalancer.port,
      nodes: lb.services.map((x) => x.node),
      container: lb.container,
      endpoints: lb.endpoints,
      config: lb.config,
      upstreams: upstreams.map((u) => u.address),
      maxFails: d.loadBalancer.maxFails,
      failTimeoutSeconds: d.loadBalancer.failTimeoutSeconds,
      ...(d.loadBalancer.affinity ? { affinityHeader: d.loadBalancer.affinity.header } : {}),
    };
  }
  const endpoints = lbPlan ? lbPlan.endpoints : instances.flatMap((i) => (i.endpoint ? [i.endpoint] : []));
  let benchmark: DeploymentPlan["benchmark"];
  if (d.benchmark) {
    const env = sortedByKey({ HF_HOME: HF_CACHE_IN_CONTAINER, ...(predownload ? { HF_HUB_OFFLINE: "1" } : {}) });
    const spec = benchmarkJob(
      cluster,
      d,
      d.benchmark,
      endpoints[0],
      servedModelName,
      env,
      decided.secretEnv,
      baseLabels,
    );
    const trigger = triggerHash({ containers: placed.containers.map((c) => c.spec), settings: d.benchmark });
    jobs.push({ node: instances[0].node, job: { container: spec, trigger, after: "readiness" } });
    benchmark = { node: instances[0].node, settings: d.benchmark, job: spec.name };
  }
  const rollout = rolloutPlan(decided, placed, lbPlan);
  return { jobs, services, smokeTests, loadBalancer: lbPlan, benchmark, endpoints, placedNodes, rollout };
}

/** The waves of the deployment's rollout, with the balancer scripts around each wave of a rolling update. */
function rolloutPlan(decided: Decided, placed: Replicas, lb: LoadBalancerPlan | undefined): RolloutPlan {
  const { d, rollout } = decided;
  const rolling = rollout.strategy === "rolling";
  return {
    strategy: rollout.strategy,
    why: rollout.why,
    maxUnavailable: rollout.maxUnavailable,
    drainSeconds: d.rollout.drainSeconds,
    gracefulShutdown: decided.gracefulShutdown,
    waves: rollout.waves.map((replicas, wave) => {
      const containers = placed.groups.filter((g) => replicas.includes(g.replica)).flatMap((g) => g.containers);
      if (!rolling || !lb) return { replicas, containers };
      const input = {
        deployment: d.name,
        balancer: lb.container,
        wave,
        waves: rollout.waves.length,
        replicas,
        endpoints: placed.groups
          .filter((g) => replicas.includes(g.replica))
          .flatMap((g) => g.instances.map((i) => i.endpoint ?? `http://${i.host}:${i.port}`)),
        drainSeconds: d.rollout.drainSeconds,
      };
      return { replicas, containers, drain: drainScript(input), undrain: undrainScript(input) };
    }),
  };
}
