/**
 * Does the model fit, and how many tokens of KV cache are left?
 *
 * Sources: docs/facts.md#model-shapes-and-kv-cache (model shapes, KV formulas for GQA and MLA, capacity check), guide § Configure the
 * gpu-memory-utilization parameter (the release's default: 0.9, 0.92 from vLLM 0.20.0), § Configure --max-num-seqs (KV demand = max-num-seqs ×
 * max-model-len), § Data Parallel Attention / Expert parallelism (experts split across ranks, not replicated).
 */
import type { GpuSpec } from "../catalog/gpus";
import type { ModelEntry } from "../catalog/models";
import type { VllmVersionSpec } from "../catalog/vllmVersions";
import type { DeploymentConfig } from "../config/schema";
import type { MemoryBudget } from "../types";
import type { Decisions } from "./decisions";
import type { Shape } from "./parallelism";

const GIB = 1024 ** 3;
/** Allowance per GPU for activations, CUDA graphs and RCCL buffers (an estimate: the guide gives no number). */
export const RUNTIME_OVERHEAD_GIB = 6;
/** vLLM's default `--max-num-seqs` on GPUs with ≥ 70 GiB (docs/facts.md#vllm-serve-flags). */
export const DEFAULT_MAX_NUM_SEQS = 1024;
/** Bytes per weight after 4-bit group quantization (4 bits + scales). */
const INT4_BYTES = 0.53;

const round = (x: number) => Math.round(x * 10) / 10;

/** Bytes per parameter of dense and expert weights once the deployment's quantization is applied. */
function bytesPerParam(d: DeploymentConfig, model: ModelEntry): { dense: number; expert: number } {
  const ck = model.checkpoint;
  const native = { dense: ck.bytesPerParam, expert: ck.expertBytesPerParam ?? ck.bytesPerParam };
  if (ck.quantization !== "none") return native;
  switch (d.quantization) {
    case "fp8":
    case "ptpc_fp8":
      return { dense: 1, expert: 1 };
    case "awq":
    case "gptq":
    case "mxfp4":
      return { dense: INT4_BYTES, expert: INT4_BYTES };
    default:
      return native;
  }
}

/**
 * Weights per GPU: dense weights split over TP × PP; routed experts over TP × PP × DP, because vLLM shards MoE layers
 * across the whole DP × TP group (as expert parallelism with `--enable-expert-parallel`, tensor-parallel otherwise).
 */
export function weightsPerGpuBytes(d: DeploymentConfig, model: ModelEntry, shape: Shape): number {
  const { dense, expert } = bytesPerParam(d, model);
  const params = model.arch.paramsB * 1e9;
  const expertParams = params * model.arch.expertFraction;
  const denseParams = params - expertParams;
  const enginesSharingExperts = model.arch.moe ? shape.data : 1;
  return (
    (denseParams * dense) / shape.gpusPerEngine +
    (expertParams * expert) / (shape.gpusPerEngine * enginesSharingExperts)
  );
}

/** KV bytes per token on each GPU: GQA splits KV heads over TP (replicating below one head); MLA stores the full latent on every TP rank. */
export function kvBytesPerTokenPerGpu(model: ModelEntry, shape: Shape, kvBytes: number): number {
  const layers = Math.ceil(model.arch.layers / shape.pipeline);
  const mla = model.arch.mla;
  if (mla) return layers * (mla.kvLoraRank + mla.ropeHeadDim) * kvBytes;
  const kvHeads = Math.max(1, Math.floor(model.arch.kvHeads / shape.tensor));
  return 2 * layers * kvHeads * model.arch.headDim * kvBytes;
}

/** The memory budget of one engine, refusing configs whose weights do not fit or whose context cannot fit once. */
export function memoryBudget(
  out: Decisions,
  d: DeploymentConfig,
  model: ModelEntry | undefined,
  shape: Shape,
  gpu: GpuSpec,
  version: VllmVersionSpec,
): MemoryBudget {
  // Without the flag vLLM uses its release's default: 0.9, 0.92 from 0.20.0 (vllm#38284).
  const util = d.gpuMemoryUtilization ?? version.defaultGpuMemoryUtilization;
  const budget: MemoryBudget = { checked: false, hbmGiB: gpu.hbmGiB, gpuMemoryUtilization: util, notes: [] };
  if (!model) {
    out.warn(
      "memory-unchecked",
      `${d.model} is not in the model catalog: memory was not checked (add modelInfo to check it)`,
      ".model",
    );
    budget.notes.push("model not in catalog and no modelInfo: not checked");
    return budget;
  }
  const weights = weightsPerGpuBytes(d, model, shape);
  const usable = util * gpu.hbmGiB * GIB;
  const overhead = RUNTIME_OVERHEAD_GIB * GIB;
  const kvBudget = usable - weights - overhead;
  budget.checked = true;
  budget.weightsPerGpuGiB = round(weights / GIB);
  budget.overheadPerGpuGiB = RUNTIME_OVERHEAD_GIB;
  budget.kvBudgetPerGpuGiB = round(Math.max(0, kvBudget) / GIB);
  budget.notes.push(
    `${model.arch.paramsB}B params${model.arch.moe ? ` (${Math.round(model.arch.expertFraction * 100)}% routed experts)` : ""}, split over TP ${shape.tensor} × PP ${shape.pipeline}${model.arch.moe && shape.data > 1 ? ` with experts across DP ${shape.data}` : ""}`,
  );
  if (model.fromConfig) budget.notes.push("shape from modelInfo in the stack config");

  if (kvBudget <= 0) {
    out.refuse(
      ".parallelism",
      d.parallelism,
      `${d.model} does not fit: ${budget.weightsPerGpuGiB} GiB of weights + ${RUNTIME_OVERHEAD_GIB} GiB overhead per GPU exceed ${round(usable / GIB)} GiB (${util} × ${gpu.hbmGiB} GiB ${gpu.displayName})`,
      "raise tensor/pipeline parallelism, quantize (fp8), or use a GPU with more HBM",
    );
    return budget;
  }

  const kvBytes = d.kvCacheDtype === "auto" ? 2 : 1;
  const perToken = kvBytesPerTokenPerGpu(model, shape, kvBytes);
  const tokens = Math.floor(kvBudget / perToken);
  budget.kvBytesPerTokenPerGpu = perToken;
  budget.kvCacheTokens = tokens;
  budget.notes.push(
    model.arch.mla
      ? "MLA: the compressed latent is stored whole on every TP rank (only PP divides it)"
      : `GQA: ${model.arch.kvHeads} KV heads over TP ${shape.tensor}${shape.tensor > model.arch.kvHeads ? " (replicated)" : ""}`,
  );
  if (model.arch.family === "gpt-oss" || model.arch.family === "llama4") {
    budget.notes.push("sliding-window/chunked layers hold less KV: the token count is a lower bound");
  }

  const maxModelLen = d.maxModelLen ?? model.arch.maxContext;
  if (maxModelLen > tokens) {
    out.refuse(
      ".maxModelLen",
      d.maxModelLen ?? `(model default ${maxModelLen})`,
      `one sequence of ${maxModelLen} tokens does not fit the KV cache of ~${tokens} tokens; vLLM refuses to start`,
      `set maxModelLen ≤ ${tokens}, use kvCacheDtype: fp8, or add parallelism`,
    );
  }
  const maxNumSeqs = d.maxNumSeqs ?? DEFAULT_MAX_NUM_SEQS;
  const demand = maxNumSeqs * maxModelLen;
  budget.kvDemandTokens = demand;
  if ((d.maxNumSeqs !== undefined || d.maxModelLen !== undefined) && demand > tokens) {
    out.warn(
      "kv-demand-exceeds-budget",
      `maxNumSeqs × maxModelLen = ${maxNumSeqs} × ${maxModelLen} = ${demand} tokens exceeds the KV cache of ~${tokens} tokens: requests will queue or be preempted (lower maxNumSeqs or maxModelLen, or use kvCacheDtype fp8)`,
      d.maxNumSeqs !== undefined ? ".maxNumSeqs" : ".maxModelLen",
    );
  }
  return budget;
}
