/**
 * What differs between vLLM releases, as data. Rules ask this table; they never compare version strings.
 *
 * Every value is checked by `test/planner/vllmVersions.test.ts` against the flag and variable lists read from each
 * release's source (the developers' reference oracle, beside the repository in CI).
 * Sources: docs/facts.md (#vllm-serve-flags, #vllm-environment-variables, #attention-backend-log-lines, #aiter-mla).
 */
import generated from "./vllm-serve-flags.generated.json";
import { type EnvTable, envTableFor } from "./vllmEnv";

/** How a setting reaches vLLM in a given release: a CLI flag, an environment variable, or not at all. */
export type Knob = { kind: "flag"; flag: string } | { kind: "env"; name: string; value: string } | { kind: "absent" };

export interface VllmVersionSpec {
  version: string;
  /** Flags `vllm serve` accepts (long names, without `--no-` forms). */
  serveFlags: ReadonlySet<string>;
  /**
   * Short option strings of `vllm serve` and the long flag each stands for (`-tp` → `--tensor-parallel-size`), from
   * `add_argument` in vllm/engine/arg_utils.py and vllm/entrypoints/openai/cli_args.py at the release tag.
   */
  flagAliases: Readonly<Record<string, string>>;
  /** ROCm and distributed environment variables the oracle records for this release (a subset of `envTable`). */
  envVars: ReadonlySet<string>;
  /** Every variable the release reads and how it parses values (vllm/envs.py at the tag); `undefined` if not extracted. */
  envTable: EnvTable | undefined;
  /** Variable that turns on AITER unified attention (renamed in 0.11.1, #25507). */
  aiterUnifiedAttentionEnv: string;
  /** All-to-all backend selection for data/expert parallelism (env until 0.11.0, flag from 0.11.1, #26732). */
  all2allBackend: Knob;
  /** Gloo instead of RCCL for DP synchronisation (env in 0.11.0 only, flag from 0.11.1, #25768). */
  disableNcclForDpSync: Knob;
  /** AITER MLA refuses any block size but 1 before PR #27224 (docs/facts.md#aiter-mla). */
  aiterMlaNeedsBlockSize1: boolean;
  /** `--block-size` choices. */
  blockSizes: readonly number[];
  /** `--kv-cache-dtype` choices. */
  kvCacheDtypes: readonly string[];
  /** `--speculative-config` methods. */
  speculativeMethods: readonly string[];
  /** `VLLM_ROCM_QUICK_REDUCE_QUANTIZATION` is validated case-sensitively (lower case raises). */
  quickReduceCaseSensitive: boolean;
  /** Default CUDA-graph mode when none is given. */
  defaultCudagraphMode: string;
  /**
   * `--async-scheduling` raises with these: pipeline parallelism, the Ray executor, and speculative decoding except
   * the listed methods (v0.11.1 accepts EAGLE/MTP methods, vllm#24799; vllm v0.11.1 vllm/config/vllm.py;
   * docs/facts.md#async-scheduling-limits).
   */
  asyncSchedulingRejects: { pipeline: boolean; ray: boolean; speculativeExcept: readonly string[] };
  /**
   * Triton MLA accepts an FP8 KV cache. Until vllm#34597 (v0.18.0) TritonMLAImpl raises "TritonMLA V1 with FP8 KV
   * cache not yet supported" (vllm v0.11.1 vllm/v1/attention/backends/mla/triton_mla.py).
   */
  tritonMlaFp8KvCache: boolean;
  /**
   * The hybrid KV-cache manager stays on for models with chunked local attention (Llama 4), so their chunked layers
   * hold only their window. Before vllm#29627 (v0.14.0) `VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE`
   * defaulted to 0 and vLLM turned the manager off: every layer is then allocated as full attention.
   */
  chunkedLocalAttentionHybridKv: boolean;
  /** Ray visibility opt-outs the image needs so Ray never sets HIP/ROCR visibility (docs/facts.md#gpu-visibility). */
  rayNoSetVisibilityEnv: Record<string, string>;
  /** Startup log line per attention backend, for operators verifying the plan (docs/facts.md#attention-backend-log-lines). */
  attentionLogLines: Record<string, string>;
}

const flagsFor = (v: string): ReadonlySet<string> =>
  new Set((generated.serveFlags as Record<string, string[]>)[v] ?? []);
const envFor = (v: string): ReadonlySet<string> => new Set((generated.envVars as Record<string, string[]>)[v] ?? []);

const RAY_NOSET = {
  RAY_EXPERIMENTAL_NOSET_HIP_VISIBLE_DEVICES: "1",
  RAY_EXPERIMENTAL_NOSET_ROCR_VISIBLE_DEVICES: "1",
};

const LOG_V1_ENGINE = {
  "aiter-mha": "Using Flash Attention backend on V1 engine.",
  "aiter-mla": "Using AITER MLA backend on V1 engine.",
  "triton-mla": "Using Triton MLA backend on V1 engine.",
  "triton-unified": "Using Triton Attention backend on V1 engine.",
};

/** Short aliases of v0.10.2 and v0.11.0 (vllm v0.11.0 vllm/engine/arg_utils.py, cli_args.py). */
const ALIASES_0_10: Record<string, string> = {
  "-q": "--quantization",
  "-tp": "--tensor-parallel-size",
  "-pp": "--pipeline-parallel-size",
  "-dcp": "--decode-context-parallel-size",
  "-dp": "--data-parallel-size",
  "-dpn": "--data-parallel-rank",
  "-dpr": "--data-parallel-start-rank",
  "-dpl": "--data-parallel-size-local",
  "-dpa": "--data-parallel-address",
  "-dpp": "--data-parallel-rpc-port",
  "-dpb": "--data-parallel-backend",
  "-asc": "--api-server-count",
  "-O": "--compilation-config",
};
/** v0.11.1 adds `-dph`, `-dpe` and the multi-node mp flags `-n`/`-r` (vllm#23691). */
const ALIASES_0_11_1: Record<string, string> = {
  ...ALIASES_0_10,
  "-dph": "--data-parallel-hybrid-lb",
  "-dpe": "--data-parallel-external-lb",
  "-n": "--nnodes",
  "-r": "--node-rank",
};
/** Speculative methods v0.11.1 runs with async scheduling: EagleModelTypes in vllm v0.11.1 vllm/config/speculative.py. */
const EAGLE_MTP_0_11_1 = [
  "eagle",
  "eagle3",
  "deepseek_mtp",
  "mimo_mtp",
  "glm4_moe_mtp",
  "ernie_mtp",
  "qwen3_next_mtp",
  "longcat_flash_mtp",
  "mtp",
  "pangu_ultra_moe_mtp",
];

/** Supported releases, oldest first. */
export const VLLM_VERSIONS: readonly VllmVersionSpec[] = [
  {
    version: "0.10.2",
    serveFlags: flagsFor("0.10.2"),
    flagAliases: ALIASES_0_10,
    envVars: envFor("0.10.2"),
    envTable: envTableFor("0.10.2"),
    aiterUnifiedAttentionEnv: "VLLM_USE_AITER_UNIFIED_ATTENTION",
    all2allBackend: { kind: "env", name: "VLLM_ALL2ALL_BACKEND", value: "allgather_reducescatter" },
    disableNcclForDpSync: { kind: "absent" },
    aiterMlaNeedsBlockSize1: true,
    blockSizes: [1, 8, 16, 32, 64, 128],
    kvCacheDtypes: ["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"],
    speculativeMethods: [
      "ngram",
      "eagle",
      "eagle3",
      "medusa",
      "mlp_speculator",
      "draft_model",
      "deepseek_mtp",
      "ernie_mtp",
      "qwen3_next_mtp",
    ],
    quickReduceCaseSensitive: false,
    defaultCudagraphMode: "PIECEWISE",
    // vllm v0.11.0 vllm/engine/arg_utils.py raises for PP > 1 and any speculative decoding; the Ray executor runs it.
    asyncSchedulingRejects: { pipeline: true, ray: false, speculativeExcept: [] },
    tritonMlaFp8KvCache: false,
    chunkedLocalAttentionHybridKv: false,
    rayNoSetVisibilityEnv: RAY_NOSET,
    attentionLogLines: {
      ...LOG_V1_ENGINE,
      // 0.10.2 has no AITER unified or prefill-decode backend class: both run the Triton unified kernel.
      "aiter-unified": "Using Triton Attention backend on V1 engine.",
      "triton-prefill-decode": "Using Triton Attention backend on V1 engine.",
    },
  },
  {
    version: "0.11.0",
    serveFlags: flagsFor("0.11.0"),
    flagAliases: ALIASES_0_10,
    envVars: envFor("0.11.0"),
    envTable: envTableFor("0.11.0"),
    aiterUnifiedAttentionEnv: "VLLM_USE_AITER_UNIFIED_ATTENTION",
    all2allBackend: { kind: "env", name: "VLLM_ALL2ALL_BACKEND", value: "allgather_reducescatter" },
    disableNcclForDpSync: { kind: "env", name: "VLLM_DISABLE_NCCL_FOR_DP_SYNCHRONIZATION", value: "1" },
    aiterMlaNeedsBlockSize1: true,
    blockSizes: [1, 8, 16, 32, 64, 128],
    kvCacheDtypes: ["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"],
    speculativeMethods: [
      "ngram",
      "eagle",
      "eagle3",
      "medusa",
      "mlp_speculator",
      "draft_model",
      "deepseek_mtp",
      "ernie_mtp",
      "qwen3_next_mtp",
      "mimo_mtp",
      "longcat_flash_mtp",
    ],
    quickReduceCaseSensitive: true,
    defaultCudagraphMode: "FULL_AND_PIECEWISE",
    // vllm v0.11.0 vllm/engine/arg_utils.py raises for PP > 1 and any speculative decoding; the Ray executor runs it.
    asyncSchedulingRejects: { pipeline: true, ray: false, speculativeExcept: [] },
    tritonMlaFp8KvCache: false,
    chunkedLocalAttentionHybridKv: false,
    rayNoSetVisibilityEnv: RAY_NOSET,
    attentionLogLines: {
      ...LOG_V1_ENGINE,
      "aiter-unified": "Using Rocm/Aiter Attention backend on V1 engine.",
      "triton-prefill-decode": "Using Rocm/Aiter Attention backend on V1 engine.",
    },
  },
  {
    version: "0.11.1",
    serveFlags: flagsFor("0.11.1"),
    flagAliases: ALIASES_0_11_1,
    envVars: envFor("0.11.1"),
    envTable: envTableFor("0.11.1"),
    aiterUnifiedAttentionEnv: "VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION",
    all2allBackend: { kind: "flag", flag: "--all2all-backend" },
    disableNcclForDpSync: { kind: "flag", flag: "--disable-nccl-for-dp-synchronization" },
    aiterMlaNeedsBlockSize1: false,
    blockSizes: [1, 8, 16, 32, 64, 128, 256],
    kvCacheDtypes: ["auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla"],
    speculativeMethods: [
      "ngram",
      "medusa",
      "mlp_speculator",
      "draft_model",
      "suffix",
      // SpeculativeMethod = the above + EagleModelTypes (vllm v0.11.1 vllm/config/speculative.py).
      ...EAGLE_MTP_0_11_1,
    ],
    quickReduceCaseSensitive: true,
    defaultCudagraphMode: "FULL_AND_PIECEWISE",
    // vllm#24799: async scheduling works with EAGLE/MTP speculative decoding from this release on.
    asyncSchedulingRejects: { pipeline: true, ray: true, speculativeExcept: EAGLE_MTP_0_11_1 },
    tritonMlaFp8KvCache: false,
    chunkedLocalAttentionHybridKv: false,
    rayNoSetVisibilityEnv: RAY_NOSET,
    attentionLogLines: {
      "aiter-mha": "Using Aiter Flash Attention backend.",
      "aiter-mla": "Using AITER MLA backend.",
      "aiter-unified": "Using Aiter Unified Attention backend.",
      "triton-mla": "Using Triton MLA backend.",
      "triton-prefill-decode": "Using Rocm Attention backend.",
      "triton-unified": "Using Triton Attention backend.",
    },
  },
];

export const SUPPORTED_VLLM_VERSIONS = VLLM_VERSIONS.map((v) => v.version);

/** The release for a version string, or `undefined` when the tool has no table entry for it. */
export function findVllmVersion(version: string): VllmVersionSpec | undefined {
  return VLLM_VERSIONS.find((v) => v.version === version);
}

/**
 * The vLLM version an image carries, read from its tag: `rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024` or
 * `vllm/vllm-openai-rocm:v0.11.1`. Digests carry no version: `vllmVersion` must then be given.
 */
export function vllmVersionFromImage(image: string): string | undefined {
  const tag = image.includes("@") ? "" : (image.split("/").pop()?.split(":")[1] ?? "");
  const rocmTag = /(?:^|_)vllm_?(\d+\.\d+\.\d+)(?:_|$)/.exec(tag);
  if (rocmTag) return rocmTag[1];
  const upstream = /^v(\d+\.\d+\.\d+)$/.exec(tag);
  return upstream?.[1];
}
