/**
 * Weight quantization, FP8 KV cache, Quick Reduce and speculative decoding.
 *
 * Sources: guide § Quantization support (AWQ, GPTQ, Quark, on-the-fly FP8/PTPC-FP8, FP8 KV-cache dtype),
 * § Quick Reduce, § Speculative decoding; docs/facts.md#gpu-hardware (MXFP4 only on gfx950), #vllm-environment-variables
 * (`VLLM_USE_TRITON_AWQ` is integer-parsed, Quick Reduce values are case-sensitive).
 */
import type { GpuSpec } from "../catalog/gpus";
import type { ModelEntry } from "../catalog/models";
import {
  QUANTIZATION_CHANGES,
  quantizationAbsence,
  quantizationRemoval,
  type VllmVersionSpec,
} from "../catalog/vllmVersions";
import type { DeploymentConfig } from "../config/schema";
import { cite, guide } from "../sources";
import type { Decisions } from "./decisions";

const QUANT = guide("Quantization support");

/** Methods passed as `--quantization <method>`; Quark is inferred from the checkpoint and gets no flag. */
const FLAGGED_METHODS = new Set(["fp8", "ptpc_fp8", "awq", "gptq", "compressed-tensors", "mxfp4"]);

/** `--quantization` and its ROCm requirements: Triton AWQ kernels, AWQ activations not in bfloat16, MXFP4 on gfx950 only. */
export function quantizationArgs(
  out: Decisions,
  d: DeploymentConfig,
  model: ModelEntry | undefined,
  gpu: GpuSpec,
): void {
  const q = d.quantization;
  const checkpoint = model?.checkpoint.quantization;
  const mxfp4Weights = q === "mxfp4" || checkpoint === "mxfp4" || checkpoint === "quark-mxfp4";
  if (mxfp4Weights && !gpu.mxfp4) {
    if (q === "mxfp4" || checkpoint === "quark-mxfp4") {
      out.refuse(
        ".quantization",
        q === "mxfp4" ? q : d.model,
        `MXFP4 runs only on MI350X/MI355X (gfx950), not ${gpu.displayName}`,
        "use gpu mi350x or mi355x, or an FP8 checkpoint",
      );
      return;
    }
    out.warn(
      "mxfp4-emulated",
      `${d.model} ships MXFP4 experts; ${gpu.displayName} (${gpu.gfx}) has no MXFP4 hardware, so vLLM dequantizes them (slower)`,
      ".model",
    );
  }
  if (q === "awq") {
    out.setEnv("VLLM_USE_TRITON_AWQ", "1", "awqTriton", guide("AWQ", "ROCm requirement"));
    if (d.dtype === "bfloat16") {
      out.refuse(".dtype", d.dtype, "AWQ on ROCm requires dtype auto or float16", "set dtype: auto or float16");
    }
  }
  if (q === "quark") {
    out.note(
      "Quark format is inferred from the checkpoint: no --quantization flag",
      "quantizationArgs",
      guide("Quark"),
    );
  } else if (q === "mxfp4" && checkpoint === "quark-mxfp4") {
    out.note("MXFP4 Quark checkpoint: format inferred, no --quantization flag", "quantizationArgs", guide("Quark"));
  } else if (FLAGGED_METHODS.has(q)) {
    out.addArg("--quantization", q, "quantizationArgs", QUANT);
  }
  if ((q === "fp8" || q === "ptpc_fp8") && checkpoint && checkpoint !== "none") {
    out.refuse(
      ".quantization",
      q,
      `${d.model} is already quantized (${checkpoint}); on-the-fly ${q} needs BF16/FP16 weights`,
      "set quantization: none",
    );
  } else if (q === "fp8" || q === "ptpc_fp8") {
    out.note(`on-the-fly ${q} adds 2–5 minutes to every start`, "quantizationArgs", guide("On-the-fly quantization"));
  }
}

/**
 * A `--quantization` method the image's release handles on ROCm: refused where the release no longer (or not yet)
 * accepts it, and allowed explicitly where it is deprecated (`--allow-deprecated-quantization`, vllm#31688: without it
 * vLLM 0.14.0 and later raise). `ptpc_fp8`, the guide's on-the-fly FP8, is deprecated from 0.14.0 and gone in 0.19.0.
 */
export function quantizationInRelease(out: Decisions, d: DeploymentConfig, version: VllmVersionSpec): void {
  const q = d.quantization;
  if (!out.hasArg("--quantization") || !FLAGGED_METHODS.has(q)) return;
  const v = version.version;
  const change = QUANTIZATION_CHANGES[q] ?? {};
  if (!version.rocmQuantization.has(q)) {
    const why = quantizationAbsence(q, v);
    const when = why
      ? ` (${why.kind} in vLLM ${why.in}${why.kind === "removed" && change.removed ? `, ${change.removed}` : ""})`
      : "";
    out.refuse(
      ".quantization",
      q,
      `vLLM ${v} does not accept ${q} on ROCm${when}`,
      q === "ptpc_fp8" ? "use quantization: fp8 (on-the-fly FP8 with per-tensor scales)" : "use another quantization",
    );
    return;
  }
  if (!version.deprecatedQuantization.has(q)) return;
  const source = cite(QUANT, change.deprecated ?? `vllm v${v} vllm/model_executor/layers/quantization/__init__.py`);
  out.addArg("--allow-deprecated-quantization", undefined, "quantizationInRelease", source);
  const gone = quantizationRemoval(q);
  out.warn(
    "quantization-deprecated",
    `${q} is deprecated in vLLM ${v} (${change.deprecated ?? "vLLM's deprecated methods"})${gone ? ` and removed in vLLM ${gone}${change.removed ? ` (${change.removed})` : ""}` : ""}: plan a move to fp8`,
    ".quantization",
  );
}

/** The checkpoint carries calibrated FP8 KV scales (AMD's `*-FP8-KV` models). */
export function hasCalibratedKvScales(model: ModelEntry | undefined, id: string): boolean {
  return model?.checkpoint.kvScales === true || /-fp8-kv$/i.test(id);
}

/** `--kv-cache-dtype fp8…`, with `--calculate-kv-scales` unless the checkpoint ships calibrated scales. */
export function kvCacheDtype(
  out: Decisions,
  d: DeploymentConfig,
  model: ModelEntry | undefined,
  version: VllmVersionSpec,
): void {
  if (d.kvCacheDtype === "auto") return;
  const source = guide("FP8 kv-cache dtype");
  if (!version.kvCacheDtypes.includes(d.kvCacheDtype)) {
    out.refuse(
      ".kvCacheDtype",
      d.kvCacheDtype,
      `vLLM ${version.version} does not accept it`,
      `use one of ${version.kvCacheDtypes.join(", ")}`,
    );
    return;
  }
  out.addArg("--kv-cache-dtype", d.kvCacheDtype, "kvCacheDtype", source);
  if (hasCalibratedKvScales(model, d.model)) {
    out.note("calibrated KV scales in the checkpoint: no --calculate-kv-scales", "kvCacheDtype", source);
  } else {
    out.addArg("--calculate-kv-scales", undefined, "kvCacheDtype", source);
  }
}

/** Quick Reduce quantized all-reduce (upper-case values only: vLLM ≥ 0.11.0 rejects lower case). */
export function quickReduce(out: Decisions, d: DeploymentConfig, tensor: number): void {
  if (d.quickReduce === "NONE") return;
  out.setEnv("VLLM_ROCM_QUICK_REDUCE_QUANTIZATION", d.quickReduce, "quickReduce", guide("Quick Reduce"));
  if (tensor === 1)
    out.warn(
      "quick-reduce-no-tp",
      "Quick Reduce speeds up tensor-parallel all-reduce; with tensor 1 it does nothing",
      ".quickReduce",
    );
}

/** Methods that need a draft model. */
const DRAFT_METHODS = new Set(["eagle", "eagle3", "medusa", "mlp_speculator", "draft_model"]);
/** Above this many speculative tokens the guide saw acceptance and throughput fall. */
export const MAX_RECOMMENDED_SPECULATIVE_TOKENS = 2;

/** `--speculative-config` as JSON; warns above the guide's two tokens. */
export function speculativeConfig(out: Decisions, d: DeploymentConfig, version: VllmVersionSpec): void {
  const s = d.speculative;
  if (!s) return;
  if (!version.speculativeMethods.includes(s.method)) {
    out.refuse(
      ".speculative.method",
      s.method,
      `vLLM ${version.version} has no speculative method ${s.method}`,
      `use one of ${version.speculativeMethods.join(", ")}`,
    );
    return;
  }
  if (DRAFT_METHODS.has(s.method) && !s.model) {
    out.refuse(
      ".speculative.model",
      undefined,
      `method ${s.method} needs a draft model`,
      "set speculative.model to the draft's Hugging Face id",
    );
    return;
  }
  if (s.numSpeculativeTokens > MAX_RECOMMENDED_SPECULATIVE_TOKENS) {
    out.warn(
      "speculative-tokens",
      `numSpeculativeTokens ${s.numSpeculativeTokens} > ${MAX_RECOMMENDED_SPECULATIVE_TOKENS}: the guide observed lower acceptance and throughput`,
      ".speculative.numSpeculativeTokens",
    );
  }
  const json: Record<string, string | number> = { method: s.method };
  if (s.model) json.model = s.model;
  json.num_speculative_tokens = s.numSpeculativeTokens;
  out.addArg("--speculative-config", JSON.stringify(json), "speculativeConfig", guide("Speculative decoding"));
}
