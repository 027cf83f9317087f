/**
 * Everything decided for one deployment before anything is placed: the model, the shape, the kind that runs it, and
 * every rule of `planner/rules` in an order where later rules can see earlier decisions.
 */
import type { GpuSpec } from "../catalog/gpus";
import { findModel, type ModelEntry, modelFromConfig } from "../catalog/models";
import type { VllmVersionSpec } from "../catalog/vllmVersions";
import type { ClusterConfig, DeploymentConfig } from "../config/schema";
import { deploymentContext } from "../kinds/containers";
import { selectKind } from "../kinds/index";
import type { DeploymentContext, DeploymentKindModule } from "../kinds/kind";
import { apiKeySecretEnv } from "../rules/apiKey";
import { attentionTraits, chooseAttention } from "../rules/attention";
import { compileCache } from "../rules/compileCache";
import { gpuContainerRuntime, HF_CACHE_IN_CONTAINER } from "../rules/containerRuntime";
import { downloadsFromHub, gatedModelToken, weightsPolicy } from "../rules/dayTwo";
import type { Decisions } from "../rules/decisions";
import { asyncScheduling, batchedTokens, cudagraphMode, explicitEngineArgs } from "../rules/engineArgs";
import { chooseExecutor } from "../rules/executor";
import { applyExtraEnv, checkExtraArgs } from "../rules/extraOptions";
import { rayVisibilityOptOut, refuseVisibilityOverrides } from "../rules/gpuVisibility";
import { gpuMemoryAfterCrash, healingPlan } from "../rules/healing";
import { memoryBudget } from "../rules/memory";
import { dataLoadBalancing, parallelismArgs, resolveShape, type Shape } from "../rules/parallelism";
import { hipAndBlasEnv, rcclChannels } from "../rules/performanceEnv";
import { checkReplicaPorts, type GpuShare, gpuShare, type NodeSlots } from "../rules/placement";
import {
  kvCacheDtype,
  quantizationArgs,
  quantizationInRelease,
  quickReduce,
  speculativeConfig,
} from "../rules/quantization";
import { rcclDebug, rdmaEnv, socketInterface } from "../rules/rccl";
import { gracefulShutdown, type RolloutDecision, rolloutStrategy } from "../rules/rollout";
import { fact } from "../sources";
import type { AttentionBackend, HealingPlan, MemoryBudget } from "../types";

export interface DecideInput {
  d: DeploymentConfig;
  cluster: ClusterConfig;
  gpu: GpuSpec;
  version: VllmVersionSpec;
  /** GPU occupancy of the nodes the deployment may use, in its node order. */
  candidates: NodeSlots[];
  hasHfToken: boolean;
  /** `rocm-vllm:apiKey` is set: the deployment's API requires it. */
  hasApiKey: boolean;
}

/** A deployment whose rules all passed: what the kinds and day-2 assembly work from. */
export interface Decided {
  d: DeploymentConfig;
  model: ModelEntry | undefined;
  shape: Shape;
  kind: DeploymentKindModule;
  backend: AttentionBackend;
  memory: MemoryBudget;
  /** Weights are downloaded by one-shot jobs before serving. */
  predownload: boolean;
  /** Serving fetches from the Hugging Face Hub (the model or a draft is not a path in the cache). */
  downloads: boolean;
  servedModelName: string;
  /** Secret variables of the serving containers. */
  secretEnv: string[];
  /** `rocm-vllm:apiKey` guards the API: every client step sends it (`planner/rules/apiKey.ts`). */
  apiKey: boolean;
  /** Builders of argv and containers for the kind. */
  ctx: DeploymentContext;
  rollout: RolloutDecision;
  /** `vllm serve --shutdown-timeout` is in the argv. */
  gracefulShutdown: boolean;
  healing: HealingPlan;
  /** How much of each GPU one instance takes, for GPU sharing. */
  share: GpuShare;
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

/** Runs every rule for one deployment; `undefined` when one of them refuses it (the problems are in `out`). */
export function decideDeployment(out: Decisions, input: DecideInput): Decided | undefined {
  const { d, cluster, gpu, version, candidates } = input;
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
  if (out.problems.length > 0) return undefined;
  const multiNode = chooseExecutor(out, d, shape, version, cluster);
  if (out.problems.length > 0) return undefined;
  const kind = selectKind({ d, shape, multiNode });

  hipAndBlasEnv(out);
  out.setEnv("HF_HOME", HF_CACHE_IN_CONTAINER, "modelCache", fact("hugging-face-cache"));
  rcclChannels(out, shape.gpusPerReplica, shape.spansNodes);
  socketInterface(out, cluster.network, shape.spansNodes);
  rdmaEnv(out, cluster.network, shape.spansNodes);
  rcclDebug(out, cluster.debug);
  if (kind.executor === "ray") rayVisibilityOptOut(out, version);
  refuseVisibilityOverrides(out, d.extraEnv, version);
  const traits = attentionTraits(model?.arch);
  const backend = chooseAttention(out, d, traits, shape.tensor, version);
  parallelismArgs(out, shape, kind.executor, version, model?.arch, d.model);
  dataLoadBalancing(out, d.parallelism, d.loadBalancer !== undefined, version, model?.arch);
  quantizationArgs(out, d, model, gpu);
  quantizationInRelease(out, d, version);
  kvCacheDtype(out, d, model, version);
  quickReduce(out, d, shape.tensor);
  batchedTokens(out, d);
  cudagraphMode(out, d, backend, traits.known || d.attention !== "auto");
  asyncScheduling(out, d, shape, kind.executor, version);
  explicitEngineArgs(out, d, version);
  speculativeConfig(out, d, version);
  const memory = memoryBudget(out, d, model, shape, gpu, version);
  const predownload = weightsPolicy(out, d, shape);
  const shutdown = gracefulShutdown(out, d, version);
  gpuMemoryAfterCrash(out);
  const cached = compileCache(out, cluster);
  const rollout = rolloutStrategy(out, d);
  gatedModelToken(out, d, input.hasHfToken);
  checkReplicaPorts(out, d.port, d.replicas, shape, d.parallelism.dataLoadBalancing === "external");
  checkExtraArgs(out, d.extraArgs, version);
  applyExtraEnv(out, d.extraEnv, version);
  if (out.problems.length > 0) return undefined;

  const healing = healingPlan(d);
  const servedModelName =
    d.servedModelName ?? (d.model.startsWith("/") ? (d.model.split("/").pop() ?? d.model) : d.model);
  const downloads = [d.model, d.speculative?.model].some((m) => m !== undefined && downloadsFromHub(m));
  // With pre-download only the download job holds the token; serving stays offline.
  const secretEnv = [
    ...(downloads && input.hasHfToken && !predownload ? ["HF_TOKEN"] : []),
    ...apiKeySecretEnv(input.hasApiKey),
  ];
  const ctx = deploymentContext({
    d,
    shape,
    image: cluster.image,
    args: out.args,
    env: out.env,
    servedModelName,
    secretEnv,
    runtime: gpuContainerRuntime(cluster, out.reasons, shape.spansNodes),
    cluster,
    compileCache: cached,
    healing,
    stopGraceSeconds: shutdown.stopGraceSeconds,
  });
  const share = gpuShare(memory.gpuMemoryUtilization, gpu.hbmGiB);
  return {
    d,
    model,
    shape,
    kind,
    backend,
    memory,
    predownload,
    downloads,
    servedModelName,
    secretEnv,
    apiKey: input.hasApiKey,
    ctx,
    share,
    rollout,
    gracefulShutdown: shutdown.graceful,
    healing,
  };
}
