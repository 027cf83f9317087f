/**
 * Does the model fit, and how many tokens of KV cache are left?
 *
 * Sources: docs/facts.md#model-shapes-and-kv-cache (model shapes, KV formulas for GQA and MLA, capacity check), guide § Configure the
 * gpu-memory-utilization parameter (the release's default: 0.9, 0.92 from vLLM 0.20.0), § Configure --max-num-seqs (the
 * guide's max-num-seqs × max-model-len is not what vLLM reserves: see `kvConcurrency`), § Data Parallel Attention /
 * Expert parallelism (experts split across ranks, not replicated).
 */
import type { GpuSpec } from "../catalog/gpus";
import type { ModelEntry } from "../catalog/models";
import type { VllmVersionSpec } from "../catalog/vllmVersions";
import type { DeploymentConfig } from "../config/schema";
import type { MemoryBudget } from "../types";
import type { Decisions } from "./decisions";
import type { Shape } from "./parallelism";
import { quantizesOnTheFly } from "./quantization";

const GIB = 1024 ** 3;
/** Allowance per GPU for activations, CUDA graphs and RCCL buffers (an estimate: the guide gives no number). */
export const RUNTIME_OVERHEAD_GIB = 6;
/** vLLM's default `--max-num-seqs` on GPUs with ≥ 70 GiB (docs/facts.md#vllm-serve-flags). */
export const DEFAULT_MAX_NUM_SEQS = 1024;
/** Prompt plus completion of a typical chat request, for "how many sequences run at once" (an estimate). */
export const TYPICAL_SEQUENCE_TOKENS = 2048;

const round = (x: number) => Math.round(x * 10) / 10;

/** Bytes per parameter of dense and expert weights as loaded: the stored format, or FP8 when quantized on the fly. */
function bytesPerParam(d: DeploymentConfig, model: ModelEntry): { dense: number; expert: number } {
  const ck = model.checkpoint;
  if (quantizesOnTheFly(d.quantization, model)) return { dense: 1, expert: 1 };
  return { dense: ck.bytesPerParam, expert: ck.expertBytesPerParam ?? ck.bytesPerParam };
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
  budget.notes.push(...slidingLayersNote(d, model, version));

  const maxModelLen = d.maxModelLen ?? model.arch.maxContext;
  const fp8Hint = d.kvCacheDtype === "auto" ? ", use kvCacheDtype: fp8" : "";
  if (maxModelLen > tokens) {
    out.refuse(
      ".maxModelLen",
      d.maxModelLen ?? `(model default ${maxModelLen})`,
      `one sequence of ${maxModelLen} tokens does not fit the KV cache of ~${tokens} tokens; vLLM refuses to start`,
      `set maxModelLen ≤ ${tokens}${fp8Hint}, or add parallelism`,
    );
    return budget;
  }
  kvConcurrency(out, d, budget, tokens, maxModelLen, fp8Hint);
  return budget;
}

/**
 * How many sequences the KV cache holds at once. vLLM reserves nothing per `maxNumSeqs × maxModelLen` (the guide's
 * formula): it checks only that one max-length sequence fits (vllm v0.11.1 vllm/v1/core/kv_cache_utils.py
 * check_enough_kv_cache_memory) and admits requests while free blocks last. So the plan reports the numbers, and warns
 * only when an explicit `maxNumSeqs` cannot be reached even with sequences of typical length.
 */
function kvConcurrency(
  out: Decisions,
  d: DeploymentConfig,
  budget: MemoryBudget,
  tokens: number,
  maxModelLen: number,
  fp8Hint: string,
): void {
  const typical = Math.min(maxModelLen, TYPICAL_SEQUENCE_TOKENS);
  const atMax = Math.floor(tokens / maxModelLen);
  const atTypical = Math.floor(tokens / typical);
  budget.maxLengthSequences = atMax;
  budget.notes.push(
    `KV cache ~${tokens} tokens: ${atMax} sequences of ${maxModelLen} tokens at once${typical < maxModelLen ? `, ~${atTypical} of ${typical}` : ""}; vLLM admits requests by free KV blocks (maxNumSeqs ${d.maxNumSeqs ?? `${DEFAULT_MAX_NUM_SEQS} by default`} is a cap, not a reservation)`,
  );
  if (d.maxNumSeqs !== undefined && atTypical < d.maxNumSeqs) {
    out.warn(
      "max-num-seqs-unreachable",
      `maxNumSeqs ${d.maxNumSeqs} cannot be reached: the KV cache holds ~${tokens} tokens, ~${atTypical} sequences of ${typical} tokens; vLLM runs fewer at once and queues the rest (lower maxNumSeqs to ~${atTypical}${fp8Hint}, or add parallelism)`,
      ".maxNumSeqs",
    );
  }
}

/**
 * Sliding-window and chunked-attention layers (gpt-oss, Llama 4) hold less KV when vLLM's hybrid KV-cache manager is
 * on, which makes the full-attention token count a lower bound. For chunked local attention (Llama 4) vLLM turns the
 * manager off unless `VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1` (default 0 before vllm#29627, v0.14.0), and
 * always with EAGLE speculative decoding (vllm v0.11.1 vllm/config/vllm.py): then the count is what vLLM allocates.
 */
export function slidingLayersNote(d: DeploymentConfig, model: ModelEntry, version: VllmVersionSpec): string[] {
  if (model.arch.family === "gpt-oss") {
    return ["sliding-window layers hold only their window (hybrid KV-cache manager): the token count is a lower bound"];
  }
  if (model.arch.family !== "llama4") return [];
  const env = d.extraEnv.VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE;
  const eagle = d.speculative !== undefined && /^eagle3?$|mtp$/.test(d.speculative.method);
  const hybrid = !eagle && (env === undefined ? version.chunkedLocalAttentionHybridKv : env.trim() !== "0");
  if (hybrid)
    return [
      "chunked-attention layers hold only their chunk (hybrid KV-cache manager): the token count is a lower bound",
    ];
  const why = eagle
    ? "with EAGLE speculative decoding"
    : `VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE is ${env === undefined ? "0 by default" : "0"} in vLLM ${version.version}`;
  return [
    `chunked local attention: vLLM ${version.version} turns the hybrid KV-cache manager off (${why}), so every layer is allocated as full attention: the token count is what vLLM allocates`,
  ];
}
