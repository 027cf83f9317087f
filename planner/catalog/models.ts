/**
 * Model shapes for memory planning and parallelism checks, covering every model the guide names.
 *
 * Architectures hold the numbers from each model's `config.json` (docs/facts.md#model-shapes-and-kv-cache); checkpoints map Hugging Face ids
 * to an architecture and the format the weights ship in. A path such as `/models/Llama-3.3-70B-Instruct` is matched
 * by its last component.
 */
import type { ModelInfoConfig } from "../config/schema";

export interface MlaShape {
  kvLoraRank: number;
  ropeHeadDim: number;
}

export interface Architecture {
  /** Total parameters, billions (embeddings and untied LM head included). */
  paramsB: number;
  /** Share of the parameters that sit in routed experts (0 for dense models). */
  expertFraction: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  maxContext: number;
  moe: boolean;
  mla?: MlaShape;
  /** Model family traits the rules care about. */
  family: "llama" | "mixtral" | "deepseek" | "qwen" | "gpt-oss" | "llama4" | "other";
}

/**
 * How a checkpoint's weights are stored, as its `config.json` says (`quantization_config.quant_method`, vLLM's name
 * for the method it infers), and the bytes per parameter they take loaded.
 */
export const STORED_FORMATS = {
  bf16: { method: undefined, bytesPerParam: 2, label: "BF16" },
  fp16: { method: undefined, bytesPerParam: 2, label: "FP16" },
  fp8: { method: "fp8", bytesPerParam: 1, label: "FP8" },
  "quark-fp8": { method: "quark", bytesPerParam: 1, label: "Quark FP8" },
  "quark-mxfp4": { method: "quark", bytesPerParam: 0.53, label: "Quark MXFP4" },
  // gpt-oss: MXFP4 routed experts (4.25 bits), BF16 attention and embeddings (expertBytesPerParam below).
  mxfp4: { method: "mxfp4", bytesPerParam: 2, label: "MXFP4 experts" },
  awq: { method: "awq", bytesPerParam: 0.53, label: "AWQ INT4" },
  gptq: { method: "gptq", bytesPerParam: 0.53, label: "GPTQ INT4" },
  "compressed-tensors-w4a16": { method: "compressed-tensors", bytesPerParam: 0.53, label: "compressed-tensors W4A16" },
  "compressed-tensors-w8a8": { method: "compressed-tensors", bytesPerParam: 1, label: "compressed-tensors W8A8" },
} as const satisfies Record<string, { method: string | undefined; bytesPerParam: number; label: string }>;

export type StoredFormat = keyof typeof STORED_FORMATS;
export const STORED_FORMAT_NAMES = Object.keys(STORED_FORMATS) as StoredFormat[];

/** Weight format of a checkpoint as published. `bytesPerParam` applies to all weights unless `expertBytesPerParam` is set. */
export interface CheckpointFormat {
  storedAs: StoredFormat;
  bytesPerParam: number;
  /** Bytes per parameter of routed experts when they differ from the rest (gpt-oss ships MXFP4 experts). */
  expertBytesPerParam?: number;
  /** The checkpoint embeds calibrated FP8 KV-cache scales (`kv_cache_scheme: static`). */
  kvScales: boolean;
}

export interface ModelEntry {
  id: string;
  arch: Architecture;
  checkpoint: CheckpointFormat;
  /** The entry came from `modelInfo` in the stack config rather than the catalog. */
  fromConfig: boolean;
}

const dense = (paramsB: number, layers: number, heads: number, kvHeads: number, maxContext: number) => ({
  paramsB,
  expertFraction: 0,
  layers,
  heads,
  kvHeads,
  headDim: 128,
  maxContext,
  moe: false,
});

// Routed-expert share = layers_moe × experts × 3 × hidden × moe_inter / total (from config.json).
export const ARCHITECTURES = {
  "llama-3-8b": { ...dense(8.03, 32, 32, 8, 131072), family: "llama" },
  "llama-3-70b": { ...dense(70.6, 80, 64, 8, 131072), family: "llama" },
  "llama-3.1-405b": { ...dense(405.9, 126, 128, 8, 131072), family: "llama" },
  "llama-2-7b": { ...dense(6.74, 32, 32, 32, 4096), family: "llama" },
  "llama-2-13b": { ...dense(13.0, 40, 40, 40, 4096), family: "llama" },
  "llama-2-70b": { ...dense(69.0, 80, 64, 8, 4096), family: "llama" },
  "qwen2-7b": { ...dense(7.6, 28, 28, 4, 32768), family: "qwen" },
  "qwen2-72b": { ...dense(72.7, 80, 64, 8, 32768), family: "qwen" },
  // Qwen2.5-32B / -14B shapes as DeepSeek-R1-Distill-Qwen ships them (max_position_embeddings 131072).
  "qwen2.5-32b": { ...dense(32.8, 64, 40, 8, 131072), family: "qwen" },
  "qwen2.5-14b": { ...dense(14.8, 48, 40, 8, 131072), family: "qwen" },
  "mixtral-8x7b": {
    ...dense(46.7, 32, 32, 8, 32768),
    moe: true,
    expertFraction: (32 * 8 * 3 * 4096 * 14336) / 46.7e9,
    family: "mixtral",
  },
  "mixtral-8x22b": {
    ...dense(140.6, 56, 48, 8, 65536),
    moe: true,
    expertFraction: (56 * 8 * 3 * 6144 * 16384) / 140.6e9,
    family: "mixtral",
  },
  "qwen1.5-moe-a2.7b": {
    ...dense(14.3, 24, 16, 16, 8192),
    moe: true,
    expertFraction: (24 * 60 * 3 * 2048 * 1408) / 14.3e9,
    family: "qwen",
  },
  "qwen3-235b-a22b": {
    ...dense(235.1, 94, 64, 4, 40960),
    moe: true,
    expertFraction: (94 * 128 * 3 * 4096 * 1536) / 235.1e9,
    family: "qwen",
  },
  "deepseek-v3": {
    paramsB: 671,
    expertFraction: (58 * 256 * 3 * 7168 * 2048) / 671e9,
    layers: 61,
    heads: 128,
    kvHeads: 128,
    headDim: 128,
    maxContext: 163840,
    moe: true,
    mla: { kvLoraRank: 512, ropeHeadDim: 64 },
    family: "deepseek",
  },
  "deepseek-v2": {
    paramsB: 236,
    expertFraction: (59 * 160 * 3 * 5120 * 1536) / 236e9,
    layers: 60,
    heads: 128,
    kvHeads: 128,
    headDim: 128,
    maxContext: 163840,
    moe: true,
    mla: { kvLoraRank: 512, ropeHeadDim: 64 },
    family: "deepseek",
  },
  "gpt-oss-120b": {
    paramsB: 117,
    expertFraction: (36 * 128 * 3 * 2880 * 2880) / 117e9,
    layers: 36,
    heads: 64,
    kvHeads: 8,
    headDim: 64,
    maxContext: 131072,
    moe: true,
    family: "gpt-oss",
  },
  "gpt-oss-20b": {
    paramsB: 21,
    expertFraction: (24 * 32 * 3 * 2880 * 2880) / 21e9,
    layers: 24,
    heads: 64,
    kvHeads: 8,
    headDim: 64,
    maxContext: 131072,
    moe: true,
    family: "gpt-oss",
  },
  "llama-4-scout": {
    ...dense(109, 48, 40, 8, 10485760),
    moe: true,
    expertFraction: (48 * 16 * 3 * 5120 * 8192) / 109e9,
    family: "llama4",
  },
  "llama-4-maverick": {
    ...dense(400, 48, 40, 8, 1048576),
    moe: true,
    expertFraction: (24 * 128 * 3 * 5120 * 8192) / 400e9,
    family: "llama4",
  },
} satisfies Record<string, Architecture>;

type ArchName = keyof typeof ARCHITECTURES;

const stored = (storedAs: StoredFormat, over: Partial<CheckpointFormat> = {}): CheckpointFormat => ({
  storedAs,
  bytesPerParam: STORED_FORMATS[storedAs].bytesPerParam,
  kvScales: false,
  ...over,
});
const BF16 = stored("bf16");
const FP8 = stored("fp8");
const QUARK_FP8_KV = stored("quark-fp8", { kvScales: true });
const QUARK_MXFP4 = stored("quark-mxfp4");
const INT4_AWQ = stored("awq");
const INT4_CT = stored("compressed-tensors-w4a16");
const GPT_OSS = stored("mxfp4", { expertBytesPerParam: 0.53 });

/** Hugging Face ids (lower case) → architecture and checkpoint format. */
const CHECKPOINTS: Record<string, [ArchName, CheckpointFormat]> = {
  "meta-llama/llama-3.1-8b-instruct": ["llama-3-8b", BF16],
  "meta-llama/llama-3.1-8b": ["llama-3-8b", BF16],
  "meta-llama/meta-llama-3-8b-instruct": ["llama-3-8b", BF16],
  "meta-llama/llama-guard-3-8b": ["llama-3-8b", BF16],
  "meta-llama/llama-3.3-70b-instruct": ["llama-3-70b", BF16],
  "meta-llama/llama-3.1-70b-instruct": ["llama-3-70b", BF16],
  "meta-llama/meta-llama-3-70b-instruct": ["llama-3-70b", BF16],
  "meta-llama/llama-3.1-405b-instruct": ["llama-3.1-405b", BF16],
  "meta-llama/llama-3.1-405b": ["llama-3.1-405b", BF16],
  "meta-llama/llama-2-7b-chat-hf": ["llama-2-7b", BF16],
  "meta-llama/llama-2-13b-chat-hf": ["llama-2-13b", BF16],
  "meta-llama/llama-2-70b-chat-hf": ["llama-2-70b", BF16],
  "amd/llama-3.1-8b-instruct-fp8-kv": ["llama-3-8b", QUARK_FP8_KV],
  "amd/llama-3.1-70b-instruct-fp8-kv": ["llama-3-70b", QUARK_FP8_KV],
  "amd/llama-3.3-70b-instruct-fp8-kv": ["llama-3-70b", QUARK_FP8_KV],
  "amd/llama-3.1-405b-instruct-fp8-kv": ["llama-3.1-405b", QUARK_FP8_KV],
  "amd/mixtral-8x7b-instruct-v0.1-fp8-kv": ["mixtral-8x7b", QUARK_FP8_KV],
  "amd/mixtral-8x22b-instruct-v0.1-fp8-kv": ["mixtral-8x22b", QUARK_FP8_KV],
  "amd/llama-3.3-70b-instruct-mxfp4-preview": ["llama-3-70b", QUARK_MXFP4],
  "amd/llama-3.1-405b-instruct-mxfp4-preview": ["llama-3.1-405b", QUARK_MXFP4],
  "amd/deepseek-r1-0528-mxfp4-preview": ["deepseek-v3", QUARK_MXFP4],
  "hugging-quants/meta-llama-3.1-70b-instruct-awq-int4": ["llama-3-70b", INT4_AWQ],
  "redhatai/meta-llama-3.1-70b-instruct-quantized.w4a16": ["llama-3-70b", INT4_CT],
  "mistralai/mixtral-8x7b-instruct-v0.1": ["mixtral-8x7b", BF16],
  "mistralai/mixtral-8x22b-instruct-v0.1": ["mixtral-8x22b", BF16],
  "deepseek-ai/deepseek-r1": ["deepseek-v3", FP8],
  "deepseek-ai/deepseek-r1-0528": ["deepseek-v3", FP8],
  "deepseek-ai/deepseek-v3": ["deepseek-v3", FP8],
  "deepseek-ai/deepseek-v3-0324": ["deepseek-v3", FP8],
  // The R1 distills are ordinary GQA models (Llama 3 / Qwen2.5 shapes), not MLA: only their name says DeepSeek.
  "deepseek-ai/deepseek-r1-distill-llama-70b": ["llama-3-70b", BF16],
  "deepseek-ai/deepseek-r1-distill-llama-8b": ["llama-3-8b", BF16],
  "deepseek-ai/deepseek-r1-distill-qwen-32b": ["qwen2.5-32b", BF16],
  "deepseek-ai/deepseek-r1-distill-qwen-14b": ["qwen2.5-14b", BF16],
  "deepseek-ai/deepseek-v2": ["deepseek-v2", BF16],
  "deepseek-ai/deepseek-v2-chat": ["deepseek-v2", BF16],
  "qwen/qwen2-7b-instruct": ["qwen2-7b", BF16],
  "qwen/qwen2-72b-instruct": ["qwen2-72b", BF16],
  "qwen/qwen2.5-72b-instruct": ["qwen2-72b", BF16],
  "qwen/qwen1.5-moe-a2.7b-chat": ["qwen1.5-moe-a2.7b", BF16],
  "qwen/qwen3-235b-a22b": ["qwen3-235b-a22b", BF16],
  "openai/gpt-oss-120b": ["gpt-oss-120b", GPT_OSS],
  "openai/gpt-oss-20b": ["gpt-oss-20b", GPT_OSS],
  "meta-llama/llama-4-scout-17b-16e-instruct": ["llama-4-scout", BF16],
  "meta-llama/llama-4-scout-17b-16e": ["llama-4-scout", BF16],
  "meta-llama/llama-4-maverick-17b-128e-instruct": ["llama-4-maverick", BF16],
};

/** Looks a model up by Hugging Face id, or by the last path component of an absolute path. */
export function findModel(model: string): ModelEntry | undefined {
  const key = model.toLowerCase();
  let hit = CHECKPOINTS[key];
  if (!hit && key.startsWith("/")) {
    const base = key.split("/").filter(Boolean).pop() ?? "";
    const match = Object.keys(CHECKPOINTS).find((id) => id.split("/")[1] === base);
    if (match) hit = CHECKPOINTS[match];
  }
  if (!hit) return undefined;
  const [arch, checkpoint] = hit;
  return { id: model, arch: ARCHITECTURES[arch], checkpoint, fromConfig: false };
}

/** A catalog entry built from the stack's `modelInfo`, for models the catalog does not know. */
export function modelFromConfig(model: string, info: ModelInfoConfig): ModelEntry {
  const format = STORED_FORMATS[info.format];
  return {
    id: model,
    arch: {
      paramsB: info.paramsB,
      expertFraction: info.expertFraction,
      layers: info.layers,
      heads: info.heads,
      kvHeads: info.kvHeads,
      headDim: info.headDim,
      maxContext: info.maxContext,
      moe: info.moe,
      mla: info.mla,
      family: info.family,
    },
    checkpoint: {
      storedAs: info.format,
      bytesPerParam: info.bytesPerParam ?? format.bytesPerParam,
      // gpt-oss-style MXFP4 checkpoints quantize only the routed experts.
      ...(info.format === "mxfp4" ? { expertBytesPerParam: 0.53 } : {}),
      kvScales: info.kvCacheScales,
    },
    fromConfig: true,
  };
}

/**
 * Hugging Face organisations whose models are gated: a download needs a token of an account that accepted the model's
 * licence on its model page (huggingface.co/meta-llama, huggingface.co/mistralai), or it fails with 401/403.
 */
export const GATED_ORGANISATIONS = ["meta-llama", "mistralai"] as const;

/** Whether a Hugging Face model id is gated (by its organisation); paths in the model cache never are. */
export function isGatedModel(model: string): boolean {
  const org = model.startsWith("/") ? undefined : model.split("/")[0]?.toLowerCase();
  return (GATED_ORGANISATIONS as readonly string[]).includes(org ?? "");
}

/** Every catalogued id, for docs and tests. */
export const CATALOG_MODEL_IDS = Object.keys(CHECKPOINTS);
