/**
 * Which GPUs of which nodes each replica gets, and the ports it listens on.
 *
 * Replicas are independent instances, each on its own GPUs and its own port (port, port+1, …). GPUs are never given
 * to two deployments: placement fails with the occupancy of the candidate nodes instead (guide § Maximizing instances
 * per node; § Tensor parallelism example with CUDA_VISIBLE_DEVICES and distinct ports).
 */
import type { Decisions } from "./decisions";
import type { Shape } from "./parallelism";

/** GPU occupancy of one node while deployments are placed in config order. */
export interface NodeSlots {
  name: string;
  gpus: number;
  /** Deployment holding each GPU, or `undefined` when free. */
  owner: (string | undefined)[];
}

export function emptySlots(name: string, gpus: number): NodeSlots {
  return { name, gpus, owner: Array.from({ length: gpus }, () => undefined) };
}

const freeGpus = (s: NodeSlots) => s.owner.flatMap((o, i) => (o === undefined ? [i] : []));

function occupancy(slots: readonly NodeSlots[]): string {
  return slots
    .map((s) => {
      const owners = [...new Set(s.owner.filter((o): o is string => o !== undefined))];
      return `${s.name} ${freeGpus(s).length}/${s.gpus} free${owners.length ? ` (used by ${owners.join(", ")})` : ""}`;
    })
    .join("; ");
}

/**
 * Places one replica first-fit in the order of the deployment's nodes: lowest free GPU indices on one node, or whole
 * free nodes for replicas that span nodes. Returns `undefined` (and refuses) when it does not fit.
 */
export function placeReplica(
  out: Decisions,
  deployment: string,
  replica: number,
  shape: Shape,
  candidates: readonly NodeSlots[],
): { node: string; gpus: number[] }[] | undefined {
  const take = (s: NodeSlots, gpus: number[]) => {
    for (const g of gpus) s.owner[g] = deployment;
    return { node: s.name, gpus };
  };
  if (!shape.spansNodes) {
    const fit = candidates.find((s) => freeGpus(s).length >= shape.gpusPerReplica);
    if (fit) return [take(fit, freeGpus(fit).slice(0, shape.gpusPerReplica))];
  } else {
    const whole = candidates.filter((s) => freeGpus(s).length === s.gpus).slice(0, shape.nodesPerReplica);
    if (whole.length === shape.nodesPerReplica) return whole.map((s) => take(s, freeGpus(s)));
  }
  const need = shape.spansNodes ? `${shape.nodesPerReplica} whole nodes` : `${shape.gpusPerReplica} GPUs on one node`;
  out.refuse(
    replica > 0 ? ".replicas" : ".parallelism",
    replica > 0 ? replica + 1 : { tensor: shape.tensor, pipeline: shape.pipeline, data: shape.data },
    `replica ${replica} needs ${need} (tensor × pipeline × data = ${shape.gpusPerReplica}) but its nodes have: ${occupancy(candidates)}`,
    "add nodes to the deployment, lower replicas or parallelism, or free GPUs held by another deployment",
  );
  return undefined;
}

/** Serving port of a replica: `port + replica`. */
export const replicaPort = (port: number, replica: number) => port + replica;

/** Highest TCP port. */
const MAX_PORT = 65535;

/** Replicas listen on `port` … `port + replicas - 1`: the last one must still be a TCP port. */
export function checkReplicaPorts(out: Decisions, port: number, replicas: number): void {
  const last = replicaPort(port, replicas - 1);
  if (last <= MAX_PORT) return;
  out.refuse(
    ".port",
    port,
    `${replicas} replicas listen on ports ${port}–${last}, beyond ${MAX_PORT}`,
    `use a port ≤ ${MAX_PORT - replicas + 1}`,
  );
}
/** Ray GCS port of a Ray head (one Ray deployment per node: Ray deployments take whole nodes). */
export const RAY_GCS_PORT = 6379;
/**
 * torch.distributed store port of a native multi-node replica, on its node 0 (vLLM's `--master-port` default; one
 * replica per node, since replicas spanning nodes take whole nodes).
 */
export const NATIVE_MASTER_PORT = 29501;
/** Data-parallel RPC port of a multi-node DP replica (vLLM docs example value, + replica). */
export const dpRpcPort = (replica: number) => 13345 + replica;
