/**
 * Weight quantization, FP8 KV cache, Quick Reduce and speculative decoding.
 *
 * Sources: guide § Quantization support (AWQ, GPTQ, Quark, on-the-fly FP8/PTPC-FP8, FP8 KV-cache dtype),
 * § Quick Reduce, § Speculative decoding; docs/facts.md#gpu-hardware (MXFP4 only on gfx950), #vllm-environment-variables
 * (`VLLM_USE_TRITON_AWQ` is integer-parsed, Quick Reduce values are case-sensitive).
 */
import type { GpuSpec } from "../catalog/gpus";
import { type ModelEntry, STORED_FORMATS, type StoredFormat } from "../catalog/models";
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
const MISMATCH_SOURCE = "vllm v0.11.1 vllm/config/model.py (_verify_quantization)";

type Quantization = DeploymentConfig["quantization"];

/**
 * The `quantization` values vLLM loads from each stored format: `flag` — passed as `--quantization` (it names the
 * checkpoint's own method, or an on-the-fly method for BF16/FP16 weights); `inferred` — no flag, vLLM reads the method
 * from the checkpoint (Quark, and `none`). Anything else fails at start: a quantized checkpoint raises "Quantization
 * method specified in the model config (…) does not match the quantization method specified in the `quantization`
 * argument (…)" (vllm v0.11.1 vllm/config/model.py), and at load time vLLM quantizes BF16 weights only to fp8 and
 * ptpc_fp8 (guide § On-the-fly quantization); AWQ/GPTQ/MXFP4/compressed-tensors need a pre-quantized checkpoint.
 */
export const LOAD_TIME_QUANTIZATION: Record<StoredFormat, Partial<Record<Quantization, "flag" | "inferred">>> = {
  bf16: { none: "inferred", fp8: "flag", ptpc_fp8: "flag" },
  fp16: { none: "inferred", fp8: "flag", ptpc_fp8: "flag" },
  fp8: { none: "inferred", fp8: "flag" },
  "quark-fp8": { none: "inferred", quark: "inferred", fp8: "inferred" },
  "quark-mxfp4": { none: "inferred", quark: "inferred", mxfp4: "inferred" },
  mxfp4: { none: "inferred", mxfp4: "flag" },
  awq: { none: "inferred", awq: "flag" },
  gptq: { none: "inferred", gptq: "flag" },
  "compressed-tensors-w4a16": { none: "inferred", "compressed-tensors": "flag" },
  "compressed-tensors-w8a8": { none: "inferred", "compressed-tensors": "flag" },
};

/** Methods passed as `--quantization <method>` when the checkpoint is unknown; Quark is always inferred. */
const FLAGGED_METHODS = new Set(["fp8", "ptpc_fp8", "awq", "gptq", "compressed-tensors", "mxfp4"]);

/** Quantizes BF16/FP16 weights while loading (the only way vLLM changes the stored format). */
export const quantizesOnTheFly = (q: Quantization, model: ModelEntry): boolean =>
  STORED_FORMATS[model.checkpoint.storedAs].method === undefined && (q === "fp8" || q === "ptpc_fp8");

/**
 * `--quantization` and its ROCm requirements: the method must be one vLLM loads from this checkpoint
 * (`LOAD_TIME_QUANTIZATION`), Triton AWQ kernels and no bfloat16 activations for AWQ weights, MXFP4 on gfx950 only.
 */
export function quantizationArgs(
  out: Decisions,
  d: DeploymentConfig,
  model: ModelEntry | undefined,
  gpu: GpuSpec,
): void {
  const q = d.quantization;
  const storedAs = model?.checkpoint.storedAs;
  if (storedAs) {
    const format = STORED_FORMATS[storedAs];
    const how = LOAD_TIME_QUANTIZATION[storedAs][q];
    if (!how) {
      const fromInfo = model?.fromConfig ? "; if modelInfo.format is wrong, correct it" : "";
      if (format.method === undefined) {
        out.refuse(
          ".quantization",
          q,
          `${d.model} is stored as ${format.label}, and vLLM quantizes at load time only to fp8 or ptpc_fp8: ${q} needs a checkpoint already quantized with ${q}`,
          `use a pre-quantized ${q} checkpoint, or set quantization: none, fp8 or ptpc_fp8${fromInfo}`,
        );
      } else {
        const legal = Object.keys(LOAD_TIME_QUANTIZATION[storedAs]).join(" or ");
        out.refuse(
          ".quantization",
          q,
          `${d.model} is stored as ${format.label} (quant_method ${format.method}); vLLM raises "Quantization method specified in the model config (${format.method}) does not match the quantization method specified in the \`quantization\` argument (${q})" (${MISMATCH_SOURCE})`,
          `set quantization: ${legal}${fromInfo}`,
        );
      }
      return;
    }
    if (how === "flag") out.addArg("--quantization", q, "quantizationArgs", QUANT);
    else if (q !== "none")
      out.note(
        `${format.label} checkpoint: vLLM reads the method from its config, no --quantization flag`,
        "quantizationArgs",
        guide("Quark"),
      );
  } else if (FLAGGED_METHODS.has(q)) {
    out.addArg("--quantization", q, "quantizationArgs", QUANT);
  } else if (q === "quark") {
    out.note(
      "Quark format is inferred from the checkpoint: no --quantization flag",
      "quantizationArgs",
      guide("Quark"),
    );
  }

  const loaded = storedAs ?? (q === "mxfp4" ? "mxfp4" : q === "awq" ? "awq" : undefined);
  if ((loaded === "mxfp4" || loaded === "quark-mxfp4") && !gpu.mxfp4) {
    if (q === "mxfp4" || loaded === "quark-mxfp4") {
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
  if (loaded === "awq") {
    out.setEnv("VLLM_USE_TRITON_AWQ", "1", "awqTriton", guide("AWQ", "ROCm requirement"));
    if (d.dtype === "bfloat16") {
      out.refuse(".dtype", d.dtype, "AWQ on ROCm requires dtype auto or float16", "set dtype: auto or float16");
    }
  }
  if (model && quantizesOnTheFly(q, model)) {
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

/** The checkpoint carries calibrated FP8 KV scales (AMD's `*-FP8-KV` models, or `modelInfo.kvCacheScales`). */
export function hasCalibratedKvScales(model: ModelEntry | undefined): boolean {
  return model?.checkpoint.kvScales === true;
}

/**
 * `--kv-cache-dtype fp8…`, with `--calculate-kv-scales` unless the checkpoint ships calibrated scales; a checkpoint
 * with calibrated scales served with an `auto` KV cache is warned about (guide § FP8 kv-cache dtype: the embedded
 * scales are used only with `--kv-cache-dtype fp8`).
 */
export function kvCacheDtype(
  out: Decisions,
  d: DeploymentConfig,
  model: ModelEntry | undefined,
  version: VllmVersionSpec,
): void {
  const source = guide("FP8 kv-cache dtype");
  if (d.kvCacheDtype === "auto") {
    if (hasCalibratedKvScales(model)) {
      out.warn(
        "kv-scales-unused",
        `${d.model} ships calibrated FP8 KV-cache scales, but kvCacheDtype is auto: the KV cache stays 16-bit and the scales go unused (set kvCacheDtype: fp8 to use them and halve KV memory: ${guide("FP8 kv-cache dtype")})`,
        ".kvCacheDtype",
      );
    }
    return;
  }
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
  if (hasCalibratedKvScales(model)) {
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
