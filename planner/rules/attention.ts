/**
 * AITER and the attention backend.
 *
 * Sources: guide § AITER switches, § Attention backend selection with AITER (the decision tree and the manual
 * selection table), § AITER MLA requirements; docs/facts.md#aiter-mla (AITER MLA heads per rank), #attention-backend-log-lines
 * (variable renames and startup log lines per release).
 */
import type { Architecture } from "../catalog/models";
import { ATTENTION_BACKEND_NAMES, type VllmVersionSpec } from "../catalog/vllmVersions";
import type { DeploymentConfig } from "../config/schema";
import { cite, fact, guide } from "../sources";
import type { AttentionBackend } from "../types";
import type { Decisions } from "./decisions";

const SELECTION = guide("Attention backend selection with AITER");
const SWITCHES = guide("AITER switches");

/** Model traits that decide the backend: from the catalog or `modelInfo`, never from the model's name. */
export interface AttentionTraits {
  /** The architecture is known (catalog or `modelInfo`); otherwise the safe backend is used. */
  known: boolean;
  mla: boolean;
  gptOss: boolean;
  heads?: number;
}

export function attentionTraits(arch: Architecture | undefined): AttentionTraits {
  if (arch) return { known: true, mla: arch.mla !== undefined, gptOss: arch.family === "gpt-oss", heads: arch.heads };
  return { known: false, mla: false, gptOss: false };
}

/** AITER MLA decode kernels support only these heads per rank (docs/facts.md#aiter-mla, ROCm/aiter#548). */
export const AITER_MLA_HEADS_PER_RANK = [16, 128] as const;

/**
 * CUDA-graph modes each backend can run (guide § CUDA graphs configuration, backend compatibility table):
 * `full` = all modes; `uniform` = full graphs for uniform (decode) batches only; `piecewise` = attention must stay
 * out of the graph.
 */
export const CUDAGRAPH_SUPPORT: Record<AttentionBackend, "full" | "uniform" | "piecewise"> = {
  "triton-unified": "full",
  "aiter-unified": "full",
  "triton-prefill-decode": "full",
  "aiter-mha": "uniform",
  "aiter-mla": "uniform",
  "triton-mla": "piecewise",
};

function autoBackend(aiter: boolean, traits: AttentionTraits): AttentionBackend {
  if (!traits.known) return "triton-unified";
  if (traits.mla) return aiter ? "aiter-mla" : "triton-mla";
  if (!aiter) return "triton-unified";
  return traits.gptOss ? "aiter-unified" : "aiter-mha";
}

/**
 * Chooses the backend and sets the variables that select it. `aiter: false` falls back to vLLM's Triton kernels;
 * `auto` follows the guide's tree: MLA → AITER MLA, gpt-oss → AITER unified attention, otherwise AITER MHA. A model
 * whose architecture is unknown (not catalogued, no `modelInfo`) gets the safe choice: AITER's attention kernels off
 * (`VLLM_ROCM_USE_AITER_MHA=0`, `VLLM_ROCM_USE_AITER_MLA=0`), so vLLM runs Triton unified attention, or Triton MLA if
 * the model turns out to be MLA, and AITER stays on for MoE and linear layers.
 */
export function chooseAttention(
  out: Decisions,
  d: Pick<DeploymentConfig, "model" | "attention" | "aiter" | "blockSize" | "kvCacheDtype">,
  traits: AttentionTraits,
  tensor: number,
  version: VllmVersionSpec,
): AttentionBackend {
  out.setEnv("VLLM_ROCM_USE_AITER", d.aiter ? "1" : "0", "aiterSwitch", SWITCHES);
  const backend: AttentionBackend = d.attention === "auto" ? autoBackend(d.aiter, traits) : d.attention;
  if (d.attention === "auto") out.note(`attention auto → ${backend}`, "chooseAttention", SELECTION);

  if (!d.aiter && backend.startsWith("aiter-")) {
    out.refuse(".attention", d.attention, `${backend} needs AITER`, "set aiter: true, or pick a triton-* backend");
    return backend;
  }
  if (traits.known && traits.mla && backend !== "aiter-mla" && backend !== "triton-mla") {
    out.refuse(
      ".attention",
      d.attention,
      `the model uses multi-head latent attention, and ${backend} is not an MLA backend (AITER MHA and MLA are mutually exclusive)`,
      d.aiter ? "use attention: auto (AITER MLA) or triton-mla" : "use attention: auto (Triton MLA)",
    );
    return backend;
  }
  if (traits.known && !traits.mla && (backend === "aiter-mla" || backend === "triton-mla")) {
    out.refuse(
      ".attention",
      d.attention,
      `${backend} serves only models with multi-head latent attention (DeepSeek V2/V3/R1, Kimi K2)`,
      "use attention: auto or aiter-mha",
    );
    return backend;
  }
  if (traits.gptOss && backend !== "aiter-unified" && d.aiter) {
    out.warn(
      "gpt-oss-attention",
      `gpt-oss runs best on AITER unified attention (${guide("Attention backend selection with AITER")}), not ${backend}`,
      ".attention",
    );
  }
  if (!traits.known && d.attention === "auto") {
    unknownArchitecture(out, d, version);
    return backend;
  }

  switch (backend) {
    case "aiter-unified":
      out.setEnv("VLLM_ROCM_USE_AITER_MHA", "0", "chooseAttention", SELECTION);
      out.setEnv(
        version.aiterUnifiedAttentionEnv,
        "1",
        "chooseAttention",
        `${SELECTION} (name per vLLM ${version.version})`,
      );
      break;
    case "triton-unified":
      if (d.aiter) out.setEnv("VLLM_ROCM_USE_AITER_MHA", "0", "chooseAttention", SELECTION);
      break;
    case "triton-prefill-decode":
      if (d.aiter) out.setEnv("VLLM_ROCM_USE_AITER_MHA", "0", "chooseAttention", SELECTION);
      // Read up to 0.14.1; from 0.15.0 only `--attention-backend ROCM_ATTN` selects it (vllm#32812).
      if (version.envVars.has(PREFILL_DECODE_ENV)) out.setEnv(PREFILL_DECODE_ENV, "1", "chooseAttention", SELECTION);
      break;
    case "aiter-mla":
      aiterMlaRequirements(out, d.blockSize, traits, tensor, version);
      break;
    case "triton-mla":
      tritonMlaRequirements(out, d, version);
      break;
    default:
      break;
  }
  nameBackend(out, backend, version);
  return backend;
}

const PREFILL_DECODE_ENV = "VLLM_V1_USE_PREFILL_DECODE_ATTENTION";

/**
 * Releases with `--attention-backend` get the backend named, so vLLM's own choice (which changed in 0.19.0: ROCM_ATTN
 * first, AITER flash attention only when named, vllm#36702) never overrides the guide's. A model of unknown
 * architecture gets no name: the backend it needs depends on whether it is MLA, which vLLM knows and the plan does not.
 */
function nameBackend(out: Decisions, backend: AttentionBackend, version: VllmVersionSpec): void {
  const selection = version.attentionSelection;
  if (selection.via !== "flag") return;
  out.addArg(
    "--attention-backend",
    ATTENTION_BACKEND_NAMES[backend],
    "chooseAttention",
    cite(SELECTION, selection.source),
  );
}

/**
 * Triton MLA: with AITER on, `VLLM_ROCM_USE_AITER_MLA=0` keeps AITER's MoE and linear kernels while vLLM selects
 * Triton MLA (vllm v0.11.1 vllm/platforms/rocm.py: MLA → AITER MLA if enabled or block size 1, else Triton MLA);
 * block size 1 would select AITER MLA again; an FP8 KV cache raises before vllm#34597.
 */
function tritonMlaRequirements(
  out: Decisions,
  d: Pick<DeploymentConfig, "aiter" | "blockSize" | "kvCacheDtype">,
  version: VllmVersionSpec,
): void {
  const source = cite(
    guide("Attention backend technical details", "vLLM Triton MLA"),
    "vllm v0.11.1 vllm/platforms/rocm.py",
  );
  if (d.aiter) out.setEnv("VLLM_ROCM_USE_AITER_MLA", "0", "tritonMla", source);
  if (d.blockSize === 1) {
    out.refuse(
      ".blockSize",
      1,
      "Triton MLA does not run with block size 1 (vLLM selects AITER MLA for block size 1, or raises with AITER off)",
      "remove blockSize or set it to 16",
    );
  }
  tritonMlaKvCache(out, d.kvCacheDtype, version);
}

/** Triton MLA with an FP8 KV cache raises "TritonMLA V1 with FP8 KV cache not yet supported" before vllm#34597. */
function tritonMlaKvCache(out: Decisions, kvCacheDtype: DeploymentConfig["kvCacheDtype"], version: VllmVersionSpec) {
  if (kvCacheDtype === "auto" || version.tritonMlaFp8KvCache) return;
  out.refuse(
    ".kvCacheDtype",
    kvCacheDtype,
    `vLLM ${version.version} raises "TritonMLA V1 with FP8 KV cache not yet supported" (vllm v${version.version} vllm/v1/attention/backends/mla/triton_mla.py; fixed by vllm#34597 in 0.18.0)`,
    "set kvCacheDtype: auto, or use AITER MLA (aiter: true, attention: auto)",
  );
}

/** The safe backend for a model of unknown architecture, and a warning saying how to get the tuned one. */
function unknownArchitecture(
  out: Decisions,
  d: Pick<DeploymentConfig, "model" | "aiter" | "kvCacheDtype">,
  version: VllmVersionSpec,
): void {
  const source = guide("Attention backend selection with AITER", "vLLM Triton backends work everywhere");
  if (d.aiter) {
    out.setEnv("VLLM_ROCM_USE_AITER_MHA", "0", "unknownArchitecture", source);
    out.setEnv("VLLM_ROCM_USE_AITER_MLA", "0", "unknownArchitecture", source);
  }
  const fp8 =
    d.kvCacheDtype !== "auto" && !version.tritonMlaFp8KvCache
      ? `; if it is MLA, vLLM ${version.version} also refuses its FP8 KV cache on Triton MLA`
      : "";
  out.warn(
    "architecture-unknown",
    `${d.model} is not in the model catalog and has no modelInfo, so whether it uses multi-head latent attention is unknown: attention runs on vLLM's Triton backends (Triton unified, or Triton MLA for an MLA model) with AITER kept for MoE and linear layers${fp8}; add modelInfo (with mla for an MLA model) to get the AITER attention kernels`,
    ".model",
  );
}

/** AITER MLA: `--block-size 1` on releases before PR #27224, and 16 or 128 heads per tensor-parallel rank. */
function aiterMlaRequirements(
  out: Decisions,
  blockSize: number | undefined,
  traits: AttentionTraits,
  tensor: number,
  version: VllmVersionSpec,
): void {
  const source = cite(guide("AITER MLA requirements"), fact("aiter-mla"));
  if (version.aiterMlaNeedsBlockSize1) {
    if (blockSize !== undefined && blockSize !== 1) {
      out.refuse(
        ".blockSize",
        blockSize,
        `AITER MLA on vLLM ${version.version} requires block size 1`,
        "remove blockSize or set it to 1",
      );
    } else {
      out.addArg("--block-size", "1", "aiterMlaRequirements", source);
    }
  }
  const heads = traits.heads;
  if (heads === undefined) {
    out.warn(
      "aiter-mla-heads-unchecked",
      `AITER MLA supports ${AITER_MLA_HEADS_PER_RANK.join(" or ")} heads per rank, and the model's head count is unknown: add modelInfo to check tensor ${tensor}`,
      ".parallelism.tensor",
    );
  } else {
    const perRank = heads / tensor;
    if (!(AITER_MLA_HEADS_PER_RANK as readonly number[]).includes(perRank)) {
      const ok = AITER_MLA_HEADS_PER_RANK.map((h) => heads / h).filter((t) => Number.isInteger(t) && t >= 1);
      out.refuse(
        ".parallelism.tensor",
        tensor,
        `AITER MLA supports ${AITER_MLA_HEADS_PER_RANK.join(" or ")} heads per rank; ${heads} heads / TP ${tensor} = ${perRank}`,
        `use tensor ${ok.join(" or ")}, data-parallel attention (tensor 1, data N) with expert: true, or attention: triton-mla (AITER stays on for MoE and linear layers)`,
      );
    }
  }
}
