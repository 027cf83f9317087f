/**
 * What differs between vLLM releases, as data. Rules ask this table; they never compare version strings.
 *
 * The table is a changelog: the oldest release is written out in full, every later one lists only what changed, with
 * the upstream pull request (`vllm#N`) or source file at the release tag that shows it. Per-release lists (flags,
 * variables, choices) come from `vllm-serve-flags.generated.json`, which `scripts/generate-vllm-catalog.ts` writes from
 * the flag and variable lists read from each release's source. `test/planner/vllmVersions.test.ts` checks every value
 * against those lists (the developers' reference oracles, beside the repository in CI).
 *
 * Releases the table does not list are planned by `matchVllmVersion`: newer than the newest → the newest's data with a
 * warning; between two known releases → the nearer older one's data with a warning; older than the oldest → refused.
 *
 * Sources: docs/facts.md (#vllm-serve-flags, #async-scheduling-limits, #vllm-environment-variables,
 * #attention-backend-log-lines, #aiter-mla, #gpu-visibility); README § vLLM releases.
 */
import type { AttentionBackend } from "../types";
import { compareVersions } from "./versionOrder";
import generated from "./vllm-serve-flags.generated.json";
import { type EnvTable, envTableFor } from "./vllmEnv";

export { compareVersions };

/** How a setting reaches vLLM in a given release: a CLI flag, an environment variable, or not at all. */
export type Knob = { kind: "flag"; flag: string } | { kind: "env"; name: string; value: string } | { kind: "absent" };

export interface VllmVersionSpec {
  version: string;
  /** Flags `vllm serve` accepts (long names, without `--no-` forms). Generated. */
  serveFlags: ReadonlySet<string>;
  /** Environment variables vLLM reads (from `vllm/envs.py`), as far as the release lists track them. Generated. */
  envVars: ReadonlySet<string>;
  /**
   * Every variable the release reads and how it parses values: `vllm/envs.py` at the release tag
   * (`vllm-envs.generated.json`, by `scripts/extract-vllm-envs.py`); `undefined` for a release not extracted. Generated.
   */
  envTable: EnvTable | undefined;
  /** `--kv-cache-dtype` choices. Generated. */
  kvCacheDtypes: readonly string[];
  /** `--block-size` choices, or `"any"` where any positive integer is accepted (vllm#35122, 0.18.0). Generated. */
  blockSizes: readonly number[] | "any";
  /** `--speculative-config` methods. Generated. */
  speculativeMethods: readonly string[];
  /** Quantization methods vLLM accepts on ROCm (`RocmPlatform.supported_quantization`). Generated. */
  rocmQuantization: ReadonlySet<string>;
  /** Methods that need `--allow-deprecated-quantization` (vllm#31688, 0.14.0). Generated. */
  deprecatedQuantization: ReadonlySet<string>;
  /** Names `--attention-backend` accepts (`AttentionBackendEnum`). Generated. */
  attentionBackends: ReadonlySet<string>;

  /**
   * Short option strings `vllm serve` accepts and the long flag each stands for (`-tp` → `--tensor-parallel-size`):
   * the `add_argument` aliases in vllm/engine/arg_utils.py and vllm/entrypoints/openai/cli_args.py at the tag.
   */
  flagAliases: Readonly<Record<string, string>>;
  /**
   * What `-O<n>` / `-O <n>` / `-O.<key>` address (FlexibleArgumentParser): `--compilation-config` up to 0.11.x, whose
   * alias `-O` is; `--optimization-level` from 0.12.0 (vllm#26847, vllm#29557 moved the alias to `-cc`).
   */
  dashO: string;
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
  /** Variable that turns on AITER unified attention (renamed in 0.11.1, vllm#25507). */
  aiterUnifiedAttentionEnv: string;
  /**
   * How a planned attention backend is selected: by the AITER environment switches only (`env`), or also named with
   * `--attention-backend` (`flag`, from 0.13.0, vllm#26315; the only way from 0.15.0, vllm#32812, and the only way to
   * get AITER flash attention from 0.19.0, whose ROCm default is ROCM_ATTN, vllm#36702). `source` is cited in the plan.
   */
  attentionSelection: { via: "env" } | { via: "flag"; source: string };
  /** Startup log line per attention backend as this release selects it, for operators verifying the plan. */
  attentionLogLines: Record<AttentionBackend, string>;
  /** All-to-all backend selection for data/expert parallelism (env until 0.11.0, flag from 0.11.1, vllm#26732). */
  all2allBackend: Knob;
  /** Gloo instead of RCCL for DP synchronisation (env in 0.11.0 only, flag from 0.11.1, vllm#25768). */
  disableNcclForDpSync: Knob;
  /** AITER MLA refuses any block size but 1 before vllm#27224 (docs/facts.md#aiter-mla). */
  aiterMlaNeedsBlockSize1: boolean;
  /** `VLLM_ROCM_QUICK_REDUCE_QUANTIZATION` is validated case-sensitively (lower case raises). */
  quickReduceCaseSensitive: boolean;
  /** Default CUDA-graph mode when none is given. */
  defaultCudagraphMode: string;
  /** `--gpu-memory-utilization` when the flag is not given: 0.9, 0.92 from 0.20.0 (vllm#38284). */
  defaultGpuMemoryUtilization: number;
  /** Async scheduling runs without `--async-scheduling` (on by default from 0.14.0, vllm#27614). */
  asyncSchedulingDefaultOn: boolean;
  /** `--async-scheduling` cannot be combined with these (docs/facts.md#async-scheduling-limits). */
  asyncSchedulingRejects: { pipeline: boolean; speculative: boolean; ray: boolean };
  /**
   * Speculative methods async scheduling accepts where `asyncSchedulingRejects.speculative` holds: EAGLE and MTP
   * from 0.11.1 (vllm#24799; `EagleModelTypes` in vllm v0.11.1 vllm/config/speculative.py), draft models from 0.15.0.
   */
  asyncSchedulingSpeculativeMethods: readonly string[];
  /**
   * The executor behind `--distributed-executor-backend ray`: the v1 Ray executor (`absent`), RayExecutorV2 behind
   * `VLLM_USE_RAY_V2_EXECUTOR_BACKEND=1` (`opt-in`, 0.20.x, vllm#36836), or RayExecutorV2 by default (0.21.0, vllm#41421).
   */
  rayExecutorV2: "absent" | "opt-in" | "default";
  /** The release's official ROCm image ships Ray (`requirements/rocm.txt`; dropped in 0.18.0 by vllm#36170). */
  rayInOfficialImage: boolean;
  /** Ray across nodes fails in this release (0.11.1: vllm#28997, fixed in 0.11.2 by vllm#28873). */
  rayAcrossNodesBroken?: { message: string; source: string };
  /** Ray visibility opt-outs Ray containers need so Ray never sets HIP/ROCR visibility; none once vLLM sets them (vllm#33308, 0.16.0). */
  rayNoSetVisibilityEnv: Record<string, string>;
  /** What vLLM does when HIP_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES differ: an assertion, a ValueError from 0.17.0. */
  visibilityMismatch: "assertion" | "value-error";
  /** API server processes an internal-LB data-parallel head starts without `--api-server-count` (vllm#32525, 0.15.0). */
  apiServersDefault: "one" | "one-per-data-parallel-rank";
  /** External-LB data parallelism (`--data-parallel-rank`) only for MoE models (vllm#40839, 0.21.0). */
  externalDataParallelMoeOnly: boolean;
}

/** Citations for the release differences, shown in plan reasons, warnings and errors. */
export const RELEASE_SOURCES = {
  attentionBackendFlag: "vllm#26315 (--attention-backend, vLLM 0.13.0)",
  attentionEnvRemoved:
    "vllm#32812 (VLLM_ATTENTION_BACKEND and VLLM_V1_USE_PREFILL_DECODE_ATTENTION removed in vLLM 0.15.0)",
  rocmAttnDefault:
    "vllm#36702 (from vLLM 0.19.0 the ROCm default is ROCM_ATTN: AITER flash attention runs only when named)",
  asyncDefaultOn: "vllm#27614 (async scheduling on by default from vLLM 0.14.0)",
  asyncWithPipeline: "vllm#32359 (async scheduling with pipeline parallelism from vLLM 0.15.0)",
  rayExecutorV2: "vllm#36836 (RayExecutorV2, vLLM 0.20.0); vllm#41421 (default from vLLM 0.21.0)",
  rayLeavesImage: "vllm#36170 (Ray no longer installed in vLLM's images from 0.18.0)",
  rayNoSetByVllm: "vllm#33308 (vLLM's Ray executor sets RAY_EXPERIMENTAL_NOSET_* itself from 0.16.0)",
  visibilityCheck: "vllm v0.17.0 vllm/platforms/rocm.py (HIP/CUDA visibility synchronised, mismatch raises)",
  apiServerCount: "vllm#32525 (--api-server-count defaults to the data-parallel size from vLLM 0.15.0)",
  gpuMemoryUtilization: "vllm#38284 (default --gpu-memory-utilization 0.92 from vLLM 0.20.0)",
  externalDpMoeOnly: "vllm#40839 (external data-parallel load balancing refused for non-MoE models from vLLM 0.21.0)",
  blockSizesFree: "vllm#35122 (any --block-size from vLLM 0.18.0)",
  shutdownTimeout: "vllm#36666 (--shutdown-timeout, vLLM 0.18.0)",
  distributedTimeout: "vllm v0.18.0 vllm/config/parallel.py (distributed_timeout_seconds)",
} as const;

/** Releases whose flag list lacks a flag: which pull request removed it, and what to use instead. */
export const REMOVED_FLAGS: Record<string, { source?: string; instead?: string }> = {
  "--swap-space": { source: "vllm#36216" },
  "--disable-log-requests": {
    source: "vllm#35723",
    instead: "nothing: requests are logged only with --enable-log-requests",
  },
  "--task": { instead: "--runner or --convert" },
  "--cuda-graph-sizes": { instead: "--cudagraph-capture-sizes" },
  "--guided-decoding-backend": { instead: "--structured-outputs-config" },
  "--override-pooler-config": { instead: "--pooler-config" },
  "--num-redundant-experts": { instead: "--eplb-config" },
  "--eplb-window-size": { instead: "--eplb-config" },
  "--eplb-step-interval": { instead: "--eplb-config" },
  "--eplb-log-balancedness": { instead: "--eplb-config" },
  "--enable-multimodal-encoder-data-parallel": { instead: "--mm-encoder-tp-mode data" },
  "--disable-mm-preprocessor-cache": { instead: "--mm-processor-cache-gb 0" },
};

/** Quantization methods deprecated or removed on ROCm, with the pull requests that did it. */
export const QUANTIZATION_CHANGES: Record<string, { deprecated?: string; removed?: string }> = {
  ptpc_fp8: { deprecated: "vllm#31688", removed: "vllm#32700" },
};

/** Shape of `vllm-serve-flags.generated.json`: per release (keyed by version) the lists read from its source. */
interface GeneratedCatalog {
  versions: string[];
  serveFlags: Record<string, string[]>;
  envVars: Record<string, string[]>;
  kvCacheDtypes: Record<string, string[]>;
  blockSizes: Record<string, number[] | "any">;
  speculativeMethods: Record<string, string[]>;
  rocmQuantization: Record<string, string[]>;
  deprecatedQuantization: Record<string, string[]>;
  attentionBackends: Record<string, string[]>;
}
const catalog = generated as GeneratedCatalog;

/** The generated lists of a release. */
function listsOf(v: string) {
  const of = <T>(lists: Record<string, T>): T => {
    if (!(v in lists)) throw new Error(`internal: vLLM ${v} is missing from the generated catalog`);
    return lists[v];
  };
  return {
    serveFlags: new Set(of(catalog.serveFlags)),
    envVars: new Set(of(catalog.envVars)),
    kvCacheDtypes: of(catalog.kvCacheDtypes),
    blockSizes: of(catalog.blockSizes),
    speculativeMethods: of(catalog.speculativeMethods),
    rocmQuantization: new Set(of(catalog.rocmQuantization)),
    deprecatedQuantization: new Set(of(catalog.deprecatedQuantization)),
    attentionBackends: new Set(of(catalog.attentionBackends)),
    envTable: envTableFor(v),
  };
}

type Written = Omit<VllmVersionSpec, "version" | keyof ReturnType<typeof listsOf>>;

/** `AttentionBackendEnum` names of the planner's backends, for `--attention-backend`. */
export const ATTENTION_BACKEND_NAMES: Record<AttentionBackend, string> = {
  "aiter-mha": "ROCM_AITER_FA",
  "aiter-unified": "ROCM_AITER_UNIFIED_ATTN",
  "aiter-mla": "ROCM_AITER_MLA",
  "triton-unified": "TRITON_ATTN",
  "triton-prefill-decode": "ROCM_ATTN",
  "triton-mla": "TRITON_MLA",
};

const logLines = (line: (name: string) => string): Record<AttentionBackend, string> =>
  Object.fromEntries(Object.entries(ATTENTION_BACKEND_NAMES).map(([backend, name]) => [backend, line(name)])) as Record<
    AttentionBackend,
    string
  >;

/** `vllm/platforms/rocm.py` log lines of 0.11.1, 0.11.2 and 0.14.0 … 0.17.1. */
const LOG_NAMED = {
  "aiter-mha": "Using Aiter Flash Attention backend.",
  "aiter-mla": "Using AITER MLA backend.",
  "aiter-unified": "Using Aiter Unified Attention backend.",
  "triton-mla": "Using Triton MLA backend.",
  "triton-prefill-decode": "Using Rocm Attention backend.",
  "triton-unified": "Using Triton Attention backend.",
};
/** 0.12.0 … 0.13.0 re-added " on V1 engine." to the MHA lines (vllm#26980). */
const LOG_ON_V1_ENGINE = {
  ...LOG_NAMED,
  "aiter-mha": "Using Aiter Flash Attention backend on V1 engine.",
  "aiter-unified": "Using Aiter Unified Attention backend on V1 engine.",
  "triton-prefill-decode": "Using Rocm Attention backend on V1 engine.",
  "triton-unified": "Using Triton Attention backend on V1 engine.",
};
/** 0.18.x logs the enum member of an explicit `--attention-backend` (vllm#35246). */
const LOG_ENUM_MEMBER = logLines((name) => `Using AttentionBackendEnum.${name} backend.`);
/** 0.19.0 and later (vllm#36702). */
const LOG_SELECTED_VIA_FLAG = logLines((name) => `Using ${name} backend (selected via --attention-backend).`);

const V1_ENGINE_0_10 = {
  "aiter-mha": "Using Flash Attention backend on V1 engine.",
  "aiter-mla": "Using AITER MLA backend on V1 engine.",
  "triton-mla": "Using Triton MLA backend on V1 engine.",
  "triton-unified": "Using Triton Attention backend on V1 engine.",
};

const RAY_NOSET = {
  RAY_EXPERIMENTAL_NOSET_HIP_VISIBLE_DEVICES: "1",
  RAY_EXPERIMENTAL_NOSET_ROCR_VISIBLE_DEVICES: "1",
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
/** v0.12.0: `--compilation-config` is `-cc` (vllm#29557); `-pcp` for prefill context parallelism. */
const ALIASES_0_12: Record<string, string> = {
  ...Object.fromEntries(Object.entries(ALIASES_0_11_1).filter(([alias]) => alias !== "-O")),
  "-cc": "--compilation-config",
  "-pcp": "--prefill-context-parallel-size",
};
const ALIASES_0_13 = { ...ALIASES_0_12, "-ac": "--attention-config" };
/** `-ep` (vllm#30890). */
const ALIASES_0_14 = { ...ALIASES_0_13, "-ep": "--enable-expert-parallel" };
const ALIASES_0_19 = { ...ALIASES_0_14, "-sc": "--speculative-config" };
const ALIASES_0_22 = { ...ALIASES_0_19, "-dpm": "--data-parallel-multi-port-external-lb" };
const ALIASES_0_25 = { ...ALIASES_0_22, "-dc": "--diffusion-config" };

/** The EAGLE and MTP methods of the config's `speculative.method`. */
const EAGLE_MTP = ["eagle", "eagle3", "deepseek_mtp", "mtp"];
const ATTENTION_FLAG = { via: "flag", source: RELEASE_SOURCES.attentionBackendFlag } as const;

/** The oldest release, written out in full. */
const OLDEST: [string, Written] = [
  "0.10.2",
  {
    aiterUnifiedAttentionEnv: "VLLM_USE_AITER_UNIFIED_ATTENTION",
    attentionSelection: { via: "env" },
    attentionLogLines: {
      ...V1_ENGINE_0_10,
      // 0.10.2 has no AITER unified or prefill-decode backend class: both run the Triton unified kernel.
      "aiter-unified": "Using Triton Attention backend on V1 engine.",
      "triton-prefill-decode": "Using Triton Attention backend on V1 engine.",
    },
    all2allBackend: { kind: "env", name: "VLLM_ALL2ALL_BACKEND", value: "allgather_reducescatter" },
    disableNcclForDpSync: { kind: "absent" },
    aiterMlaNeedsBlockSize1: true,
    quickReduceCaseSensitive: false,
    defaultCudagraphMode: "PIECEWISE",
    defaultGpuMemoryUtilization: 0.9,
    asyncSchedulingDefaultOn: false,
    asyncSchedulingRejects: { pipeline: true, speculative: true, ray: true },
    asyncSchedulingSpeculativeMethods: [],
    flagAliases: ALIASES_0_10,
    dashO: "--compilation-config",
    tritonMlaFp8KvCache: false,
    chunkedLocalAttentionHybridKv: false,
    rayExecutorV2: "absent",
    rayInOfficialImage: true,
    rayNoSetVisibilityEnv: RAY_NOSET,
    visibilityMismatch: "assertion",
    apiServersDefault: "one",
    externalDataParallelMoeOnly: false,
  },
];

/** Every later release: only what changed, oldest first. */
const CHANGES: [string, Partial<Written>][] = [
  [
    "0.11.0",
    {
      attentionLogLines: {
        ...V1_ENGINE_0_10,
        "aiter-unified": "Using Rocm/Aiter Attention backend on V1 engine.",
        "triton-prefill-decode": "Using Rocm/Aiter Attention backend on V1 engine.",
      },
      disableNcclForDpSync: { kind: "env", name: "VLLM_DISABLE_NCCL_FOR_DP_SYNCHRONIZATION", value: "1" },
      quickReduceCaseSensitive: true,
      defaultCudagraphMode: "FULL_AND_PIECEWISE",
    },
  ],
  [
    "0.11.1",
    {
      aiterUnifiedAttentionEnv: "VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION",
      attentionLogLines: LOG_NAMED,
      all2allBackend: { kind: "flag", flag: "--all2all-backend" },
      disableNcclForDpSync: { kind: "flag", flag: "--disable-nccl-for-dp-synchronization" },
      aiterMlaNeedsBlockSize1: false,
      flagAliases: ALIASES_0_11_1,
      // EAGLE/MTP speculative decoding runs with async scheduling from this release on (vllm#24799; vllm v0.11.1
      // vllm/config/vllm.py accepts EagleModelTypes).
      asyncSchedulingSpeculativeMethods: EAGLE_MTP,
      rayAcrossNodesBroken: {
        message:
          'vLLM 0.11.1 cannot run Ray across nodes: its GPU worker asserts local_world_size <= visible devices, so TP 8 × PP 2 over two 8-GPU nodes fails with "AssertionError: local_world_size (16) must be less than or equal to the number of visible devices (8)"',
        source: "vllm#28997, fixed by vllm#28873 in 0.11.2",
      },
    },
  ],
  ["0.11.2", { rayAcrossNodesBroken: undefined }],
  ["0.12.0", { attentionLogLines: LOG_ON_V1_ENGINE, flagAliases: ALIASES_0_12, dashO: "--optimization-level" }],
  ["0.13.0", { attentionSelection: ATTENTION_FLAG, flagAliases: ALIASES_0_13 }],
  [
    "0.14.0",
    {
      attentionLogLines: LOG_NAMED,
      asyncSchedulingDefaultOn: true,
      flagAliases: ALIASES_0_14,
      // vllm#29627: VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE defaults to 1.
      chunkedLocalAttentionHybridKv: true,
    },
  ],
  ["0.14.1", {}],
  [
    "0.15.0",
    {
      asyncSchedulingRejects: { pipeline: false, speculative: true, ray: true },
      asyncSchedulingSpeculativeMethods: [...EAGLE_MTP, "draft_model"],
      apiServersDefault: "one-per-data-parallel-rank",
    },
  ],
  ["0.15.1", {}],
  ["0.16.0", { rayNoSetVisibilityEnv: {} }],
  ["0.17.0", { visibilityMismatch: "value-error" }],
  ["0.17.1", {}],
  ["0.18.0", { attentionLogLines: LOG_ENUM_MEMBER, rayInOfficialImage: false, tritonMlaFp8KvCache: true }],
  ["0.18.1", {}],
  [
    "0.19.0",
    {
      attentionSelection: {
        via: "flag",
        source: `${RELEASE_SOURCES.attentionBackendFlag}; ${RELEASE_SOURCES.rocmAttnDefault}`,
      },
      attentionLogLines: LOG_SELECTED_VIA_FLAG,
      flagAliases: ALIASES_0_19,
    },
  ],
  ["0.19.1", {}],
  ["0.20.0", { defaultGpuMemoryUtilization: 0.92, rayExecutorV2: "opt-in" }],
  ["0.20.1", {}],
  ["0.20.2", {}],
  [
    "0.21.0",
    {
      rayExecutorV2: "default",
      asyncSchedulingRejects: { pipeline: false, speculative: true, ray: false },
      externalDataParallelMoeOnly: true,
    },
  ],
  ["0.22.0", { flagAliases: ALIASES_0_22 }],
  ["0.22.1", {}],
  ["0.23.0", {}],
  ["0.25.1", { flagAliases: ALIASES_0_25 }],
];

function buildTable(): VllmVersionSpec[] {
  const table: VllmVersionSpec[] = [];
  let written = OLDEST[1];
  for (const [version, change] of [OLDEST, ...CHANGES]) {
    written = { ...written, ...change };
    if (!written.rayAcrossNodesBroken) delete written.rayAcrossNodesBroken;
    table.push({ version, ...listsOf(version), ...written });
  }
  const listed = table.map((s) => s.version).join(",");
  if (listed !== catalog.versions.join(","))
    throw new Error(
      `internal: version table (${listed}) differs from the generated catalog (${catalog.versions.join(",")})`,
    );
  return table;
}

/** Supported releases, oldest first. */
export const VLLM_VERSIONS: readonly VllmVersionSpec[] = buildTable();

export const SUPPORTED_VLLM_VERSIONS = VLLM_VERSIONS.map((v) => v.version);
export const OLDEST_VLLM_VERSION = SUPPORTED_VLLM_VERSIONS[0];
export const NEWEST_VLLM_VERSION = SUPPORTED_VLLM_VERSIONS[SUPPORTED_VLLM_VERSIONS.length - 1];

/** The release for a version string, or `undefined` when the table has no entry for it. */
export function findVllmVersion(version: string): VllmVersionSpec | undefined {
  return VLLM_VERSIONS.find((v) => v.version === version);
}

/**
 * The table entry a release is planned with:
 * - `exact`: the table knows it;
 * - `newer`: newer than every known release: the newest known release's data, so nothing is emitted that it lacks;
 * - `between`: between two known releases (a patch release the table skips, e.g. 0.24.0): the nearest older one's
 *   data, for the same reason;
 * - `older`: older than the oldest known release: no data (refused).
 */
export type VersionMatch =
  | { match: "exact" | "newer" | "between"; spec: VllmVersionSpec }
  | { match: "older"; spec?: undefined };

export function matchVllmVersion(version: string): VersionMatch {
  const exact = findVllmVersion(version);
  if (exact) return { match: "exact", spec: exact };
  const older = VLLM_VERSIONS.filter((v) => compareVersions(v.version, version) < 0);
  const nearest = older[older.length - 1];
  if (!nearest) return { match: "older" };
  return { match: nearest === VLLM_VERSIONS[VLLM_VERSIONS.length - 1] ? "newer" : "between", spec: nearest };
}

/** Why a release lacks something other known releases have: it arrived later, or an earlier release dropped it. */
export interface Absence {
  kind: "added" | "removed";
  /** The release that added it (first with it after `version`), or that removed it (first without it). */
  in: string;
}

function absence(has: (spec: VllmVersionSpec) => boolean, version: string): Absence | undefined {
  const i = VLLM_VERSIONS.findIndex((v) => v.version === version);
  if (i < 0 || has(VLLM_VERSIONS[i])) return undefined;
  for (let j = i - 1; j >= 0; j--)
    if (has(VLLM_VERSIONS[j])) return { kind: "removed", in: VLLM_VERSIONS[j + 1].version };
  const later = VLLM_VERSIONS.slice(i + 1).find(has);
  return later ? { kind: "added", in: later.version } : undefined;
}

/** Why `vllm serve` of a known release lacks a flag, or `undefined` when it has it or no known release does. */
export function flagAbsence(flag: string, version: string): Absence | undefined {
  return absence((s) => s.serveFlags.has(flag), version);
}

/** The first known release that no longer accepts a quantization method on ROCm, if one does not. */
export function quantizationRemoval(method: string): string | undefined {
  return absence((s) => s.rocmQuantization.has(method), NEWEST_VLLM_VERSION)?.in;
}

/** Why a known release does not accept a quantization method on ROCm. */
export function quantizationAbsence(method: string, version: string): Absence | undefined {
  return absence((s) => s.rocmQuantization.has(method), version);
}

/**
 * The vLLM version an image carries, read from its tag: AMD's `rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024` and
 * `rocm/vllm:rocm7.13.0_gfx120X-all_ubuntu24.04_py3.13_pytorch_2.10.0_vllm_0.19.1`, or the official
 * `vllm/vllm-openai-rocm:v0.23.0`. A tag pinned with a digest is still read; a digest alone or a tag without a version
 * (`latest`, `nightly`) carries none: `vllmVersion` must then be given.
 */
export function vllmVersionFromImage(image: string): string | undefined {
  const name = image.split("@")[0];
  const last = name.split("/").pop() ?? "";
  const tag = last.includes(":") ? last.slice(last.indexOf(":") + 1) : "";
  const amd = /(?:^|_)vllm_?v?(\d+\.\d+\.\d+)(?:_|$)/.exec(tag);
  if (amd) return amd[1];
  return /^v?(\d+\.\d+\.\d+)$/.exec(tag)?.[1];
}
