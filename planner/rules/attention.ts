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

/** Model traits that decide the backend; inferred from the name when the model is not catalogued. */
export interface AttentionTraits {
  mla: boolean;
  gptOss: boolean;
  heads?: number;
}

export function attentionTraits(model: string, arch: Architecture | undefined): AttentionTraits {
  if (arch) return { mla: arch.mla !== undefined, gptOss: arch.family === "gpt-oss", heads: arch.heads };
  return { mla: /deepseek-(v2|v3|r1)|kimi-k2/i.test(model), gptOss: /gpt-oss/i.test(model) };
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
  if (traits.mla) return aiter ? "aiter-mla" : "triton-mla";
  if (!aiter) return "triton-unified";
  return traits.gptOss ? "aiter-unified" : "aiter-mha";
}

/**
 * Chooses the backend and sets the variables that select it. `aiter: false` falls back to vLLM's Triton kernels;
 * `auto` follows the guide's tree: MLA → AITER MLA, gpt-oss → AITER unified attention, otherwise AITER MHA.
 */
export function chooseAttention(
  out: Decisions,
  d: Pick<DeploymentConfig, "attention" | "aiter" | "blockSize">,
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
  if (traits.mla && backend !== "aiter-mla" && backend !== "triton-mla") {
    out.refuse(
      ".attention",
      d.attention,
      `the model uses multi-head latent attention, and ${backend} is not an MLA backend (AITER MHA and MLA are mutually exclusive)`,
      d.aiter ? "use attention: auto or aiter-mla" : "use attention: auto (Triton MLA)",
    );
    return backend;
  }
  if (!traits.mla && backend === "aiter-mla") {
    out.refuse(
      ".attention",
      d.attention,
      "aiter-mla serves only MLA models (DeepSeek V2/V3/R1)",
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
    default:
      break;
  }
  nameBackend(out, backend, version);
  return backend;
}

const PREFILL_DECODE_ENV = "VLLM_V1_USE_PREFILL_DECODE_ATTENTION";

/**
 * Releases with `--attention-backend` get the backend named, so vLLM's own choice (which changed in 0.19.0: ROCM_ATTN
 * first, AITER flash attention only when named, vllm#36702) never overrides the guide's.
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
  if (heads !== undefined) {
    const perRank = heads / tensor;
    if (!(AITER_MLA_HEADS_PER_RANK as readonly number[]).includes(perRank)) {
      const ok = AITER_MLA_HEADS_PER_RANK.map((h) => heads / h).filter((t) => Number.isInteger(t) && t >= 1);
      out.refuse(
        ".parallelism.tensor",
        tensor,
        `AITER MLA supports ${AITER_MLA_HEADS_PER_RANK.join(" or ")} heads per rank; ${heads} heads / TP ${tensor} = ${perRank}`,
        `use tensor ${ok.join(" or ")}, or data-parallel attention (tensor 1, data N) with expert: true`,
      );
    }
  }
}
