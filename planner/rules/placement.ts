/**
 * Which GPUs of which nodes each replica gets, and the ports it listens on.
 *
 * Replicas are independent instances, each on its own GPUs and its own port (port, port+1, …). A replica takes GPUs
 * nobody uses first; where none are left, instances on one node may share GPUs when their `gpuMemoryUtilization`
 * values on each GPU sum to at most 1 minus the runtime allowance (guide § Configure the gpu-memory-utilization
 * parameter: two instances at 0.45 on GPU 0; § Maximizing instances per node; § Tensor parallelism example with
 * CUDA_VISIBLE_DEVICES and distinct ports). Replicas spanning nodes take whole, unshared nodes.
 */
import { guide } from "../sources";
import type { Decisions } from "./decisions";
import { RUNTIME_OVERHEAD_GIB } from "./memory";
import type { Shape } from "./parallelism";

/** GPU occupancy of one node while deployments are placed in config order. */
export interface NodeSlots {
  name: string;
  gpus: number;
  /** Instances on each GPU: their deployment and `gpuMemoryUtilization`. */
  shares: { deployment: string; utilization: number }[][];
}

export function emptySlots(name: string, gpus: number): NodeSlots {
  return { name, gpus, shares: Array.from({ length: gpus }, () => []) };
}

/** How much of one GPU an instance takes, and how much of a GPU instances may take together. */
export interface GpuShare {
  /** The instance's `gpuMemoryUtilization`. */
  utilization: number;
  /** Upper bound of the utilisations of the instances on one GPU: 1 minus the runtime allowance of the GPU's HBM. */
  limit: number;
}

/** The share of an instance on a GPU of `hbmGiB`: vLLM's utilisation fraction, against 1 − runtime allowance. */
export function gpuShare(utilization: number, hbmGiB: number): GpuShare {
  return { utilization, limit: Math.round((1 - RUNTIME_OVERHEAD_GIB / hbmGiB) * 1000) / 1000 };
}

const used = (s: NodeSlots, g: number) => s.shares[g].reduce((sum, x) => sum + x.utilization, 0);
const freeGpus = (s: NodeSlots) => s.shares.flatMap((x, i) => (x.length === 0 ? [i] : []));
/** GPUs with room for one more instance of `share`. */
const roomFor = (s: NodeSlots, share: GpuShare) =>
  s.shares.flatMap((_, g) => (used(s, g) + share.utilization <= share.limit + 1e-9 ? [g] : []));

function occupancy(slots: readonly NodeSlots[]): string {
  return slots
    .map((s) => {
      const owners = [...new Set(s.shares.flat().map((x) => x.deployment))];
      return `${s.name} ${freeGpus(s).length}/${s.gpus} free${owners.length ? ` (used by ${owners.join(", ")})` : ""}`;
    })
    .join("; ");
}

/**
 * Places one replica first-fit in the order of the deployment's nodes: the lowest unused GPU indices on one node,
 * else (single-node replicas) the lowest GPUs with room to share, else whole unused nodes for replicas that span
 * nodes. Returns `undefined` (and refuses) when it does not fit.
 */
export function placeReplica(
  out: Decisions,
  deployment: string,
  replica: number,
  shape: Shape,
  candidates: readonly NodeSlots[],
  share: GpuShare = { utilization: 1, limit: 1 },
): { node: string; gpus: number[] }[] | undefined {
  const take = (s: NodeSlots, gpus: number[]) => {
    for (const g of gpus) s.shares[g].push({ deployment, utilization: share.utilization });
    return { node: s.name, gpus };
  };
  if (!shape.spansNodes) {
    const fit = candidates.find((s) => freeGpus(s).length >= shape.gpusPerReplica);
    if (fit) return [take(fit, freeGpus(fit).slice(0, shape.gpusPerReplica))];
    const shared = candidates.find((s) => roomFor(s, share).length >= shape.gpusPerReplica);
    if (shared) {
      const gpus = roomFor(shared, share).slice(0, shape.gpusPerReplica);
      const others = [...new Set(gpus.flatMap((g) => shared.shares[g].map((x) => x.deployment)))];
      const total = Math.max(...gpus.map((g) => used(shared, g))) + share.utilization;
      out.note(
        `replica ${replica} shares GPUs ${gpus.join(",")} of ${shared.name} with ${others.join(", ")} (gpuMemoryUtilization sums to ${Math.round(total * 100) / 100} ≤ ${share.limit})`,
        "placeReplica",
        guide("Configure the gpu-memory-utilization parameter", "several instances on one GPU"),
      );
      return [take(shared, gpus)];
    }
  } else {
    const whole = candidates.filter((s) => freeGpus(s).length === s.gpus).slice(0, shape.nodesPerReplica);
    if (whole.length === shape.nodesPerReplica) return whole.map((s) => take(s, freeGpus(s)));
  }
  const need = shape.spansNodes ? `${shape.nodesPerReplica} whole nodes` : `${shape.gpusPerReplica} GPUs on one node`;
  const sharing = shape.spansNodes
    ? ""
    : `, or lower gpuMemoryUtilization so instances can share GPUs (their values on one GPU must sum to ≤ ${share.limit})`;
  out.refuse(
    replica > 0 ? ".replicas" : ".parallelism",
    replica > 0 ? replica + 1 : { tensor: shape.tensor, pipeline: shape.pipeline, data: shape.data },
    `replica ${replica} needs ${need} (tensor × pipeline × data = ${shape.gpusPerReplica}) but its nodes have: ${occupancy(candidates)}`,
    `add nodes to the deployment, lower replicas or parallelism, or free GPUs held by another deployment${sharing}`,
  );
  return undefined;
}

/** Serving port of a replica: `port + replica`. */
export const replicaPort = (port: number, replica: number) => port + replica;

/** Highest TCP port. */
const MAX_PORT = 65535;

/**
 * Offset of the data-parallel RPC ports from the serving port: `port + 5345 + replica` (13345 for port 8000, the vLLM
 * docs' example value). Tied to the deployment's own port, so deployments whose serving ports do not overlap get RPC
 * ports that do not overlap either, and two data-parallel deployments can share a node.
 */
export const DP_RPC_PORT_OFFSET = 5345;

/** Data-parallel RPC port of a replica (`--data-parallel-rpc-port`, bound by rank 0's node). */
export const dpRpcPort = (port: number, replica: number) => port + DP_RPC_PORT_OFFSET + replica;

/**
 * Every port of a deployment must be a TCP port: serving ports `port` … (one per replica, one per rank with external
 * data-parallel load balancing), and the data-parallel RPC ports where ranks talk across processes.
 */
export function checkReplicaPorts(
  out: Decisions,
  port: number,
  replicas: number,
  shape?: Shape,
  externalLb = false,
): void {
  const serving = externalLb && shape ? replicas * shape.data : replicas;
  const last = port + serving - 1;
  const usesRpc = shape !== undefined && (externalLb || (shape.data > 1 && shape.spansNodes));
  const lastRpc = usesRpc ? dpRpcPort(port, replicas - 1) : 0;
  if (last > MAX_PORT) {
    out.refuse(
      ".port",
      port,
      `${serving} instances listen on ports ${port}–${last}, beyond ${MAX_PORT}`,
      `use a port ≤ ${MAX_PORT - serving + 1}`,
    );
  } else if (lastRpc > MAX_PORT) {
    out.refuse(
      ".port",
      port,
      `the data-parallel RPC ports are port + ${DP_RPC_PORT_OFFSET} … (${port + DP_RPC_PORT_OFFSET}–${lastRpc}), beyond ${MAX_PORT}`,
      `use a port ≤ ${MAX_PORT - DP_RPC_PORT_OFFSET - replicas + 1}`,
    );
  }
}
/** Ray GCS port of a Ray head (one Ray deployment per node: Ray deployments take whole nodes). */
export const RAY_GCS_PORT = 6379;
/**
 * torch.distributed store port of a native multi-node replica, on its node 0 (vLLM's `--master-port` default; one
 * replica per node, since replicas spanning nodes take whole nodes).
 */
export const NATIVE_MASTER_PORT = 29501;
