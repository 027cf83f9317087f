/**
 * Tensor, pipeline, data and expert parallelism: the shape of a deployment and the flags that express it.
 *
 * Sources: guide § Parallelism strategies (TP inside an XGMI island, PP across nodes, DP with the ROCm all2all and
 * Gloo settings, EP for MoE, DP attention + EP for MLA models), § Multi-node checklist item 1; docs/facts.md#multi-node-data-parallel
 * (multi-node DP flags), #ray-executor-across-nodes (explicit Ray backend across nodes).
 */

import type { Architecture } from "../catalog/models";
import { type Knob, RELEASE_SOURCES, type VllmVersionSpec } from "../catalog/vllmVersions";
import type { DeploymentConfig } from "../config/schema";
import { cite, fact, guide } from "../sources";
import type { Decisions } from "./decisions";

const STRATEGIES = guide("Parallelism strategies");
const DP = guide("Data parallelism", "ROCm tip");

/** Executor backend of an engine (`--distributed-executor-backend`): vLLM's own processes, or Ray. */
export type Executor = "mp" | "ray";

/** How one replica of a deployment is laid out. */
export interface Shape {
  tensor: number;
  pipeline: number;
  data: number;
  expert: boolean;
  /** GPUs of one engine (TP × PP). */
  gpusPerEngine: number;
  /** GPUs of one replica (TP × PP × DP). */
  gpusPerReplica: number;
  /** Whole nodes one replica occupies, or 1 for replicas that fit in part of a node. */
  nodesPerReplica: number;
  /** Whether one replica spans nodes (then it takes whole nodes): one engine too large for a node, or DP ranks over nodes. */
  spansNodes: boolean;
  /** Data-parallel ranks on each node of a multi-node DP replica. */
  dpRanksPerNode: number;
}

/** Derives the shape and refuses layouts vLLM cannot run or the nodes cannot hold. */
export function resolveShape(
  out: Decisions,
  p: DeploymentConfig["parallelism"],
  gpusPerNode: number,
  arch: Architecture | undefined,
): Shape {
  const { tensor, pipeline, data, expert } = p;
  const gpusPerEngine = tensor * pipeline;
  const gpusPerReplica = gpusPerEngine * data;
  const shape: Shape = {
    tensor,
    pipeline,
    data,
    expert,
    gpusPerEngine,
    gpusPerReplica,
    nodesPerReplica: 1,
    spansNodes: false,
    dpRanksPerNode: data,
  };

  if (tensor > gpusPerNode) {
    out.refuse(
      ".parallelism.tensor",
      tensor,
      `tensor-parallel ranks must share a node and its XGMI links, but nodes have ${gpusPerNode} GPUs`,
      `use tensor ≤ ${gpusPerNode} and scale across nodes with pipeline`,
    );
    return shape;
  }
  tensorDividesHeads(out, tensor, arch);
  if (arch && pipeline > arch.layers) {
    out.refuse(
      ".parallelism.pipeline",
      pipeline,
      `the model has only ${arch.layers} layers`,
      `use pipeline ≤ ${arch.layers}`,
    );
  }

  if (data === 1 && gpusPerEngine > gpusPerNode) {
    if (gpusPerEngine % gpusPerNode !== 0) {
      out.refuse(
        ".parallelism",
        p,
        `tensor × pipeline = ${gpusPerEngine} GPUs spans nodes but is not a whole number of ${gpusPerNode}-GPU nodes`,
        `use tensor ${gpusPerNode} and pipeline = number of nodes (guide: "Set TP to GPUs per node, scale with PP across nodes")`,
      );
      return shape;
    }
    shape.nodesPerReplica = gpusPerEngine / gpusPerNode;
    shape.spansNodes = true;
    if (tensor < gpusPerNode) {
      out.warn(
        "tensor-below-node",
        `tensor ${tensor} with pipeline across nodes leaves XGMI bandwidth unused; the guide sets TP to the GPUs per node`,
        ".parallelism",
      );
    }
  } else if (data > 1 && gpusPerReplica > gpusPerNode) {
    if (gpusPerEngine > gpusPerNode || gpusPerNode % gpusPerEngine !== 0 || gpusPerReplica % gpusPerNode !== 0) {
      out.refuse(
        ".parallelism",
        p,
        `data-parallel ranks of ${gpusPerEngine} GPUs (tensor × pipeline) must tile whole ${gpusPerNode}-GPU nodes`,
        "choose tensor × pipeline dividing the GPUs per node, and data × tensor × pipeline a multiple of it",
      );
      return shape;
    }
    shape.nodesPerReplica = gpusPerReplica / gpusPerNode;
    shape.spansNodes = true;
    shape.dpRanksPerNode = gpusPerNode / gpusPerEngine;
  }
  return shape;
}

/** vLLM splits attention heads evenly across TP ranks; KV heads must split evenly or be replicated (tensor > KV heads). */
function tensorDividesHeads(out: Decisions, tensor: number, arch: Architecture | undefined): void {
  if (!arch) return;
  const divisors = (n: number) =>
    Array.from({ length: Math.min(n, 64) }, (_, i) => i + 1).filter((t) => n % t === 0 && t <= 8);
  if (arch.heads % tensor !== 0) {
    out.refuse(
      ".parallelism.tensor",
      tensor,
      `tensor must divide the model's ${arch.heads} attention heads`,
      `use tensor ${divisors(arch.heads).join(", ")}`,
    );
  } else if (!arch.mla && arch.kvHeads >= tensor && arch.kvHeads % tensor !== 0) {
    out.refuse(
      ".parallelism.tensor",
      tensor,
      `tensor must divide the model's ${arch.kvHeads} KV heads`,
      `use tensor ${divisors(arch.kvHeads).join(", ")}`,
    );
  }
}

/** Sets a knob the way this vLLM release accepts it (flag, env variable), or says it is not available. */
function applyKnob(
  out: Decisions,
  knob: Knob,
  flagValue: string | undefined,
  rule: string,
  source: string,
  missing: string,
): void {
  if (knob.kind === "flag") out.addArg(knob.flag, flagValue, rule, source);
  else if (knob.kind === "env") out.setEnv(knob.name, knob.value, rule, source);
  else out.warn("knob-unavailable", missing);
}

/**
 * Deployment-wide parallelism flags, identical on every node: TP/PP sizes, the Ray executor when the deployment's
 * kind runs on Ray, DP size with the ROCm all2all backend and Gloo DP synchronisation, and expert parallelism.
 */
export function parallelismArgs(
  out: Decisions,
  shape: Shape,
  executor: Executor,
  version: VllmVersionSpec,
  arch: Architecture | undefined,
  model: string,
): void {
  out.addArg("--tensor-parallel-size", String(shape.tensor), "parallelismArgs", STRATEGIES);
  if (shape.pipeline > 1) out.addArg("--pipeline-parallel-size", String(shape.pipeline), "parallelismArgs", STRATEGIES);
  if (executor === "ray") {
    out.addArg(
      "--distributed-executor-backend",
      "ray",
      "rayExecutor",
      cite(guide("Multi-node checklist and troubleshooting", "item 1"), fact("ray-executor-across-nodes")),
    );
  }
  if (shape.data > 1) {
    out.addArg("--data-parallel-size", String(shape.data), "dataParallel", DP);
    applyKnob(
      out,
      version.all2allBackend,
      "allgather_reducescatter",
      "dataParallel",
      `${DP} (form per vLLM ${version.version})`,
      "",
    );
    applyKnob(
      out,
      version.disableNcclForDpSync,
      undefined,
      "dataParallel",
      `${DP} (form per vLLM ${version.version})`,
      `vLLM ${version.version} has no way to disable RCCL for DP synchronisation (the guide's --disable-nccl-for-dp-synchronization arrived in 0.11.0 as an env variable)`,
    );
  }
  if (shape.expert) {
    const moe = arch?.moe;
    if (moe === false) {
      out.refuse(".parallelism.expert", true, `${model} is not a mixture-of-experts model`, "set expert: false");
      return;
    }
    if (moe === undefined) {
      out.warn(
        "expert-unchecked",
        `cannot check that ${model} is a MoE model (not in the catalog); add modelInfo.moe`,
        ".parallelism.expert",
      );
    }
    out.addArg("--enable-expert-parallel", undefined, "expertParallel", guide("Expert parallelism"));
    if (shape.data === 1 && !shape.spansNodes) {
      out.warn(
        "expert-single-node",
        "expert parallelism inside one node: the guide prefers tensor parallelism on XGMI; EP pays off across nodes or with data-parallel attention",
        ".parallelism.expert",
      );
    }
  }
}

/** Flags for the `vllm serve` on node `index` of a multi-node data-parallel replica (docs/facts.md#multi-node-data-parallel, internal LB). */
export function dataParallelNodeArgs(shape: Shape, index: number, address: string, rpcPort: number): string[] {
  const args = [
    "--data-parallel-size-local",
    String(shape.dpRanksPerNode),
    "--data-parallel-address",
    address,
    "--data-parallel-rpc-port",
    String(rpcPort),
  ];
  if (index > 0) args.push("--data-parallel-start-rank", String(index * shape.dpRanksPerNode), "--headless");
  return args;
}

/**
 * External load balancing of data parallelism (guide § Choosing a load balancing strategy): every rank is its own
 * `vllm serve` with its own port, `--data-parallel-rank`, and the rank-0 node's address for the ranks' RPC.
 */
export function externalDataParallelArgs(rank: number, address: string, rpcPort: number): string[] {
  return [
    "--data-parallel-rank",
    String(rank),
    "--data-parallel-address",
    address,
    "--data-parallel-rpc-port",
    String(rpcPort),
  ];
}

/**
 * How requests reach the data-parallel ranks. Internal: one endpoint; from vLLM 0.15.0 it is served by one API server
 * process per rank (vllm#32525). External (one endpoint per rank) needs several ranks, a balancer (or clients that
 * spread requests), and from vLLM 0.21.0 a mixture-of-experts model (vllm#40839).
 */
export function dataLoadBalancing(
  out: Decisions,
  p: DeploymentConfig["parallelism"],
  hasLoadBalancer: boolean,
  version: VllmVersionSpec,
  arch: Architecture | undefined,
): void {
  if (p.dataLoadBalancing !== "external") {
    if (p.data > 1 && version.apiServersDefault === "one-per-data-parallel-rank") {
      out.note(
        `one endpoint served by ${p.data} API server processes on the first node (vLLM ${version.version}'s default --api-server-count is the data-parallel size)`,
        "dataLoadBalancing",
        RELEASE_SOURCES.apiServerCount,
      );
    }
    return;
  }
  const source = guide("Choosing a load balancing strategy");
  if (p.data === 1) {
    out.refuse(
      ".parallelism.dataLoadBalancing",
      "external",
      "external load balancing needs data-parallel ranks",
      "set parallelism.data > 1, or remove dataLoadBalancing",
    );
    return;
  }
  if (version.externalDataParallelMoeOnly && arch?.moe === false) {
    out.refuse(
      ".parallelism.dataLoadBalancing",
      "external",
      `vLLM ${version.version} runs external data-parallel load balancing only for mixture-of-experts models (${RELEASE_SOURCES.externalDpMoeOnly})`,
      `run independent instances instead (replicas: ${p.data} with parallelism.data 1, behind loadBalancer), or use dataLoadBalancing: internal`,
    );
    return;
  }
  if (version.externalDataParallelMoeOnly && arch === undefined) {
    out.warn(
      "external-dp-moe-unchecked",
      `vLLM ${version.version} refuses external data-parallel load balancing for models that are not mixture-of-experts (${RELEASE_SOURCES.externalDpMoeOnly}); the model is not in the catalog, add modelInfo.moe to check it`,
      ".parallelism.dataLoadBalancing",
    );
  }
  out.note(
    `${p.data} data-parallel ranks, each its own endpoint (external load balancing)`,
    "dataLoadBalancing",
    source,
  );
  if (!hasLoadBalancer) {
    out.warn(
      "external-dp-without-balancer",
      `external data-parallel load balancing without loadBalancer: clients must spread requests over the ${p.data} endpoints themselves`,
      ".parallelism.dataLoadBalancing",
    );
  }
}
