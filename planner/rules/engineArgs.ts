/**
 * Engine arguments: workload profiles, CUDA-graph mode, async scheduling and the explicit knobs.
 *
 * Sources: guide § Backend choice quick recipes, § Configure --max-num-batched-tokens, § Async scheduling,
 * § CUDA graphs configuration, § Configure the gpu-memory-utilization parameter, § Configure --max-num-seqs.
 */
import { flagAbsence, RELEASE_SOURCES, type VllmVersionSpec } from "../catalog/vllmVersions";
import type { DeploymentConfig, profiles } from "../config/schema";
import { cite, fact, guide } from "../sources";
import type { AttentionBackend } from "../types";
import { CUDAGRAPH_SUPPORT } from "./attention";
import type { Decisions } from "./decisions";
import type { Executor, Shape } from "./parallelism";

type Profile = (typeof profiles)[number];
type CudagraphMode = NonNullable<DeploymentConfig["cudagraphMode"]>;

/** What each profile sets when the config does not say otherwise. `balanced` keeps vLLM's defaults. */
export const PROFILES: Record<
  Profile,
  { maxNumBatchedTokens?: number; cudagraphMode?: CudagraphMode; asyncScheduling?: boolean }
> = {
  balanced: {},
  // Interactive chat (low TTFT): keep MBT ≤ 8k–16k, async scheduling off.
  latency: { maxNumBatchedTokens: 8192, asyncScheduling: false },
  // Streaming decode (low ITL): raise MBT to 32k.
  streaming: { maxNumBatchedTokens: 32768 },
  // Offline max throughput: MBT ≥ 32k with full CUDA graphs and async scheduling.
  throughput: { maxNumBatchedTokens: 32768, cudagraphMode: "FULL", asyncScheduling: true },
};

const RECIPES = cite(guide("Backend choice quick recipes"), guide("Configure --max-num-batched-tokens"));
/** Upper bound of `--max-num-batched-tokens` the guide gives for latency-sensitive serving. */
export const LATENCY_MAX_BATCHED_TOKENS = 16384;

/** `--max-num-batched-tokens` from the config or the profile. */
export function batchedTokens(out: Decisions, d: DeploymentConfig): void {
  const value = d.maxNumBatchedTokens ?? PROFILES[d.profile].maxNumBatchedTokens;
  if (value === undefined) return;
  if (d.profile === "latency" && value > LATENCY_MAX_BATCHED_TOKENS) {
    out.warn(
      "latency-batched-tokens",
      `maxNumBatchedTokens ${value} is above the guide's ${LATENCY_MAX_BATCHED_TOKENS} for latency-sensitive serving`,
      ".maxNumBatchedTokens",
    );
  }
  out.addArg("--max-num-batched-tokens", String(value), "batchedTokens", RECIPES);
}

/** Why async scheduling cannot run for this deployment on this release, or `undefined` when it can. */
function asyncBlocker(
  shape: Shape,
  executor: Executor,
  d: DeploymentConfig,
  version: VllmVersionSpec,
): string | undefined {
  const r = version.asyncSchedulingRejects;
  const v = version.version;
  if (r.ray && executor === "ray") {
    return version.rayExecutorV2 === "opt-in"
      ? `vLLM ${v}'s default Ray executor does not run async scheduling (RayExecutorV2 does, with VLLM_USE_RAY_V2_EXECUTOR_BACKEND=1: ${RELEASE_SOURCES.rayExecutorV2})`
      : `vLLM ${v} runs async scheduling only with the mp executor, not Ray`;
  }
  if (r.pipeline && shape.pipeline > 1) return `vLLM ${v} rejects async scheduling with pipeline parallelism`;
  const method = d.speculative?.method;
  const allowed = version.asyncSchedulingSpeculativeMethods;
  if (r.speculative && method !== undefined && !allowed.includes(method)) {
    return allowed.length === 0
      ? `vLLM ${v} rejects async scheduling with speculative decoding (method ${method})`
      : `vLLM ${v} runs async scheduling with speculative decoding only for ${allowed.join(", ")}, not ${method}`;
  }
  return undefined;
}

/**
 * Async scheduling: on for throughput, off for latency, the release's default for balanced. Releases where it is on by
 * default (0.14.0, vllm#27614) get `--no-async-scheduling` to turn it off and nothing to keep it on; where the release
 * rejects the combination, an explicit request is refused and a profile's is dropped with a note.
 */
export function asyncScheduling(
  out: Decisions,
  d: DeploymentConfig,
  shape: Shape,
  executor: Executor,
  version: VllmVersionSpec,
): void {
  const fromProfile = PROFILES[d.profile].asyncScheduling;
  const wanted = d.asyncScheduling ?? fromProfile;
  if (d.profile === "latency" && d.asyncScheduling === true) {
    out.warn(
      "latency-async",
      "async scheduling trades TTFT for throughput; the guide keeps it off for latency-sensitive serving",
      ".asyncScheduling",
    );
  }
  const defaultOn = version.asyncSchedulingDefaultOn;
  const byDefault = cite(guide("Async scheduling"), RELEASE_SOURCES.asyncDefaultOn);
  const blocker = asyncBlocker(shape, executor, d, version);
  const limits = cite(guide("Async scheduling"), fact("async-scheduling-limits"));
  if (wanted === false) {
    if (defaultOn) out.addArg("--no-async-scheduling", undefined, "asyncScheduling", byDefault);
    return;
  }
  if (wanted === undefined) {
    if (!defaultOn) return;
    if (blocker) out.note(`async scheduling: vLLM turns its default off here (${blocker})`, "asyncScheduling", limits);
    else out.note(`async scheduling: on by default in vLLM ${version.version}`, "asyncScheduling", byDefault);
    return;
  }
  if (blocker && d.asyncScheduling === true) {
    out.refuse(".asyncScheduling", true, blocker, "set asyncScheduling: false");
    return;
  }
  if (blocker) {
    out.note(`async scheduling skipped: ${blocker}`, "asyncScheduling", limits);
    return;
  }
  if (defaultOn) out.note(`async scheduling: on by default in vLLM ${version.version}`, "asyncScheduling", byDefault);
  else out.addArg("--async-scheduling", undefined, "asyncScheduling", guide("Async scheduling"));
}

/**
 * CUDA-graph mode that suits the attention backend: Triton MLA must keep attention out of graphs (PIECEWISE); AITER
 * MHA/MLA capture full graphs for uniform decode batches only, so the throughput profile pairs them with
 * FULL_AND_PIECEWISE instead of FULL. A model of unknown architecture may be MLA: profiles then use PIECEWISE.
 */
export function cudagraphMode(
  out: Decisions,
  d: DeploymentConfig,
  backend: AttentionBackend,
  architectureKnown = true,
): void {
  const support = CUDAGRAPH_SUPPORT[backend];
  const source = guide("CUDA graphs configuration", "backend compatibility");
  let mode: CudagraphMode | undefined = d.cudagraphMode ?? PROFILES[d.profile].cudagraphMode;
  if (!architectureKnown && d.cudagraphMode === undefined && mode !== undefined && mode !== "PIECEWISE") {
    // The model may be MLA, and then runs on Triton MLA, which must keep attention out of CUDA graphs.
    mode = "PIECEWISE";
    out.note(
      `${d.profile} profile: PIECEWISE because the architecture is unknown and Triton MLA needs it`,
      "cudagraphMode",
      source,
    );
  }
  if (support === "piecewise") {
    if (d.cudagraphMode && d.cudagraphMode !== "PIECEWISE" && d.cudagraphMode !== "NONE") {
      out.refuse(
        ".cudagraphMode",
        d.cudagraphMode,
        `${backend} must keep attention out of CUDA graphs`,
        "use PIECEWISE (or NONE)",
      );
      return;
    }
    mode = d.cudagraphMode ?? "PIECEWISE";
  } else if (support === "uniform" && mode === "FULL") {
    if (d.cudagraphMode === "FULL") {
      out.warn(
        "cudagraph-uniform-only",
        `${backend} supports full CUDA graphs for uniform batches only; vLLM falls back for mixed batches`,
        ".cudagraphMode",
      );
    } else {
      mode = "FULL_AND_PIECEWISE";
      out.note(
        `throughput profile: FULL_AND_PIECEWISE because ${backend} captures full graphs for uniform batches only`,
        "cudagraphMode",
        source,
      );
    }
  }
  if (mode === undefined) return;
  out.addArg("--compilation-config", JSON.stringify({ cudagraph_mode: mode }), "cudagraphMode", source);
}

/**
 * The knobs that pass straight through when set: memory utilisation, context length, sequences, dtype, block size,
 * and the timeouts vLLM 0.18.0 added (`--shutdown-timeout`, vllm#36666; `--distributed-timeout-seconds`).
 */
export function explicitEngineArgs(out: Decisions, d: DeploymentConfig, version: VllmVersionSpec): void {
  const rule = "explicitEngineArgs";
  if (d.gpuMemoryUtilization !== undefined) {
    out.addArg(
      "--gpu-memory-utilization",
      String(d.gpuMemoryUtilization),
      rule,
      guide("Configure the gpu-memory-utilization parameter"),
    );
  }
  if (d.maxModelLen !== undefined)
    out.addArg("--max-model-len", String(d.maxModelLen), rule, guide("vLLM engine arguments"));
  if (d.maxNumSeqs !== undefined)
    out.addArg("--max-num-seqs", String(d.maxNumSeqs), rule, guide("Configure --max-num-seqs"));
  if (d.dtype !== "auto") out.addArg("--dtype", d.dtype, rule, guide("Quantization support"));
  if (d.blockSize !== undefined && !out.hasArg("--block-size")) {
    const sizes = version.blockSizes;
    if (sizes !== "any" && !sizes.includes(d.blockSize)) {
      out.refuse(
        ".blockSize",
        d.blockSize,
        `vLLM ${version.version} accepts block sizes ${sizes.join(", ")} (${RELEASE_SOURCES.blockSizesFree})`,
        `use one of ${sizes.join(", ")}`,
      );
    } else {
      out.addArg("--block-size", String(d.blockSize), rule, fact("vllm-serve-flags"));
    }
  }
  const { shutdownSeconds, distributedSeconds } = d.timeouts;
  releaseFlag(
    out,
    version,
    "--shutdown-timeout",
    shutdownSeconds,
    ".timeouts.shutdownSeconds",
    RELEASE_SOURCES.shutdownTimeout,
  );
  releaseFlag(
    out,
    version,
    "--distributed-timeout-seconds",
    distributedSeconds,
    ".timeouts.distributedSeconds",
    RELEASE_SOURCES.distributedTimeout,
  );
  // The containers' stop grace follows the shutdown timeout (rules/rollout.ts gracefulShutdown).
}

/** A config key that maps to a flag some releases lack: the flag where the release has it, else a refusal. */
function releaseFlag(
  out: Decisions,
  version: VllmVersionSpec,
  flag: string,
  value: number | undefined,
  subpath: string,
  source: string,
): void {
  if (value === undefined) return;
  if (version.serveFlags.has(flag)) {
    out.addArg(flag, String(value), "explicitEngineArgs", source);
    return;
  }
  const since = flagAbsence(flag, version.version);
  out.refuse(
    subpath,
    value,
    `vllm serve ${version.version} has no ${flag} (${source})`,
    `remove ${subpath.slice(1)}${since?.kind === "added" ? `, or use an image with vLLM ${since.in} or newer` : ""}`,
  );
}
