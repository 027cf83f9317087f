/**
 * What differs between vLLM releases, as data. Rules ask this table; they never compare version strings.
 *
 * Every value is checked against `shared/reference/vllm-cli-oracle.json` by `test/vllmVersions.test.ts`.
 * Sources: vllm-facts.md §2 (flags), §3 (environment), §4 (attention log lines), rocm-facts.md §7.
 */
import generated from "./vllm-serve-flags.generated.json";

/** How a setting reaches vLLM in a given release: a CLI flag, an environment variable, or not at all. */
export type Knob = { kind: "flag"; flag: string } | { kind: "env"; name: string; value: string } | { kind: "absent" };

export interface VllmVersionSpec {
  version: string;
  /** Flags `vllm serve` accepts (long names, without `--no-` forms). */
  serveFlags: ReadonlySet<string>;
  /** Environment variables vLLM reads (from `vllm/envs.py`). */
  envVars: ReadonlySet<string>;
  /** Variable that turns on AITER unified attention (renamed in 0.11.1, #25507). */
  aiterUnifiedAttentionEnv: string;
  /** All-to-all backend selection for data/expert parallelism (env until 0.11.0, flag from 0.11.1, #26732). */
  all2allBackend: Knob;
  /** Gloo instead of RCCL for DP synchronisation (env in 0.11.0 only, flag from 0.11.1, #25768). */
  disableNcclForDpSync: Knob;
  /** AITER MLA refuses any block size but 1 before PR #27224 (rocm-facts §7). */
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
  /** `--async-scheduling` cannot be combined with these (vllm-facts §2 / §2.4). */
  asyncSchedulingRejects: { pipeline: boolean; speculative: boolean; ray: boolean };
  /** Ray visibility opt-outs the image needs so Ray never sets HIP/ROCR visibility (rocm-facts §3.3). */
  rayNoSetVisibilityEnv: Record<string, string>;
  /** Startup log line per attention backend, for operators verifying the plan (vllm-facts §4). */
  attentionLogLines: Record<string, string>;
  /** The release's official images ship Ray (`ray[cgraph]` in requirements/rocm.txt up to 0.17.1; vllm#36170). */
  rayInOfficialImage: boolean;
  /** Ray across nodes fails in this release: why, and the upstream issue/fix a user can open. */
  rayAcrossNodesBroken?: { message: string; source: string };
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

/** Supported releases, oldest first. */
export const VLLM_VERSIONS: readonly VllmVersionSpec[] = [
  {
    version: "0.10.2",
    serveFlags: flagsFor("0.10.2"),
    envVars: envFor("0.10.2"),
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
    asyncSchedulingRejects: { pipeline: true, speculative: true, ray: true },
    rayNoSetVisibilityEnv: RAY_NOSET,
    rayInOfficialImage: true,
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
    envVars: envFor("0.11.0"),
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
    asyncSchedulingRejects: { pipeline: true, speculative: true, ray: true },
    rayNoSetVisibilityEnv: RAY_NOSET,
    rayInOfficialImage: true,
    attentionLogLines: {
      ...LOG_V1_ENGINE,
      "aiter-unified": "Using Rocm/Aiter Attention backend on V1 engine.",
      "triton-prefill-decode": "Using Rocm/Aiter Attention backend on V1 engine.",
    },
  },
  {
    version: "0.11.1",
    serveFlags: flagsFor("0.11.1"),
    envVars: envFor("0.11.1"),
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
    ],
    quickReduceCaseSensitive: true,
    defaultCudagraphMode: "FULL_AND_PIECEWISE",
    // Not re-verified for 0.11.1: kept conservative until an image proves otherwise.
    asyncSchedulingRejects: { pipeline: true, speculative: true, ray: true },
    rayNoSetVisibilityEnv: RAY_NOSET,
    rayInOfficialImage: true,
    rayAcrossNodesBroken: {
      message:
        'vLLM 0.11.1 cannot run Ray across nodes: its GPU worker asserts local_world_size <= visible devices, so TP 8 × PP 2 over two 8-GPU nodes fails with "AssertionError: local_world_size (16) must be less than or equal to the number of visible devices (8)"',
      source: "vllm#28997, fixed by vllm#28873 in 0.11.2",
    },
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
