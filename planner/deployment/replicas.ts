/**
 * Places every replica of a decided deployment and asks its kind what runs there: the containers per node, the
 * serving processes (instances) with their readiness gates, and the Ray clusters.
 */
import { stampGeneration } from "../kinds/containers";
import type { ReservedPort } from "../kinds/kind";
import { apiKeySecretEnv } from "../rules/apiKey";
import type { Decisions } from "../rules/decisions";
import { type NodeSlots, placeReplica, replicaPort } from "../rules/placement";
import { readinessScript } from "../scripts/launchScripts";
import type { ContainerSpec, InstancePlan, NodePlan, RayClusterPlan, ReadinessCheck } from "../types";
import type { Decided } from "./decide";

/** One replica (a whole group for multi-node kinds): what a rolling update replaces together. */
export interface ReplicaGroup {
  replica: number;
  /** Its serving processes (one, or one per data-parallel rank with external load balancing). */
  instances: InstancePlan[];
  /** Every node it runs on, in placement order. */
  nodes: string[];
  /** Its containers, by node. */
  containers: { node: string; name: string }[];
}

export interface Replicas {
  containers: { node: string; spec: ContainerSpec }[];
  reservedPorts: ReservedPort[];
  instances: InstancePlan[];
  rayClusters: RayClusterPlan[];
  readiness: ReadinessCheck[];
  groups: ReplicaGroup[];
}

/** Lays out the replicas in order; stops at the first that does not fit (placement refuses it in `out`). */
export function layOutReplicas(
  out: Decisions,
  decided: Decided,
  candidates: readonly NodeSlots[],
  byName: ReadonlyMap<string, NodePlan>,
): Replicas {
  const { d, kind, servedModelName } = decided;
  const result: Replicas = {
    containers: [],
    reservedPorts: [],
    instances: [],
    rayClusters: [],
    readiness: [],
    groups: [],
  };
  for (let replica = 0; replica < d.replicas; replica++) {
    const placement = placeReplica(out, d.name, replica, decided.shape, candidates, decided.share);
    if (!placement) break;
    const layout = kind.replica(decided.ctx, {
      index: replica,
      port: replicaPort(d.port, replica),
      prefix: d.replicas > 1 ? `rocm-vllm-${d.name}-${replica}` : `rocm-vllm-${d.name}`,
      placement: placement.map((p) => ({ node: byName.get(p.node) as NodePlan, gpus: p.gpus })),
    });
    if (kind.grouped && layout.containers.length > 1) stampGeneration(layout.containers.map((c) => c.spec));
    result.containers.push(...layout.containers);
    if (layout.rayCluster) result.rayClusters.push(layout.rayCluster);
    const group: ReplicaGroup = {
      replica,
      instances: [],
      nodes: [...new Set(layout.containers.map((c) => c.node))],
      containers: layout.containers.map((c) => ({ node: c.node, name: c.spec.name })),
    };
    result.groups.push(group);
    result.reservedPorts.push(...(layout.reservedPorts ?? []));
    for (const s of layout.serving) {
      const endpoint = `http://${s.node.ip}:${s.port}`;
      const instance: InstancePlan = {
        node: s.node.name,
        host: s.node.host,
        port: s.port,
        gpus: s.gpus,
        placement: s.placement,
        argv: s.argv,
        env: s.container.env,
        container: s.container.name,
        replica: s.replica,
        endpoint,
      };
      result.instances.push(instance);
      group.instances.push(instance);
      result.readiness.push({
        node: s.node.name,
        host: s.node.host,
        port: s.port,
        container: s.container.name,
        servedModelName,
        timeoutSeconds: d.timeouts.readySeconds,
        secretEnv: apiKeySecretEnv(decided.apiKey),
        script: readinessScript({
          deployment: d.name,
          node: s.node.name,
          endpoint,
          port: s.port,
          container: s.container.name,
          servedModelName,
          timeoutSeconds: d.timeouts.readySeconds,
          apiKey: decided.apiKey,
          ranks: s.ranks,
        }),
      });
    }
  }
  return result;
}
