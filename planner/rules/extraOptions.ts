/**
 * `extraArgs` and `extraEnv`: the escape hatches, checked so that they cannot undo the plan by accident.
 *
 * Flags must exist in the image's vLLM release (vllm-facts.md §1: unknown flags make `vllm serve` exit) and must not
 * repeat a flag the plan derives from a config key; variables may override tuning values (with a warning) but not
 * the ones that wire the cluster together.
 */
import type { VllmVersionSpec } from "../catalog/vllmVersions";
import { suggest } from "../problems";
import type { Decisions } from "./decisions";

/** Flags derived from config keys: set the key, not the flag. */
export const PLANNED_FLAGS: Record<string, string> = {
  "--model": "model",
  "--port": "port",
  "--tensor-parallel-size": "parallelism.tensor",
  "--pipeline-parallel-size": "parallelism.pipeline",
  "--data-parallel-size": "parallelism.data",
  "--data-parallel-size-local": "parallelism.data",
  "--data-parallel-address": "nodes",
  "--data-parallel-rpc-port": "nodes",
  "--data-parallel-start-rank": "nodes",
  "--headless": "nodes",
  "--enable-expert-parallel": "parallelism.expert",
  "--distributed-executor-backend": "parallelism",
  "--quantization": "quantization",
  "--kv-cache-dtype": "kvCacheDtype",
  "--max-model-len": "maxModelLen",
  "--max-num-seqs": "maxNumSeqs",
  "--max-num-batched-tokens": "maxNumBatchedTokens",
  "--gpu-memory-utilization": "gpuMemoryUtilization",
  "--block-size": "blockSize",
  "--compilation-config": "cudagraphMode",
  "--async-scheduling": "asyncScheduling",
  "--speculative-config": "speculative",
  "--dtype": "dtype",
  "--served-model-name": "servedModelName",
  "--revision": "weights.revision",
};

/** Variables that wire nodes together; overriding them would break the cluster. */
const WIRING_ENV = new Set(["VLLM_HOST_IP", "HF_HOME", "HF_TOKEN", "RAY_ADDRESS"]);

/** Validates `extraArgs` against the release's flags and the planned flags. */
export function checkExtraArgs(out: Decisions, extraArgs: readonly string[], version: VllmVersionSpec): void {
  const known = [...version.serveFlags];
  extraArgs.forEach((arg, i) => {
    if (!arg.startsWith("--")) return;
    const flag = arg.split("=")[0];
    const base = flag.startsWith("--no-") && version.serveFlags.has(`--${flag.slice(5)}`) ? `--${flag.slice(5)}` : flag;
    const key = PLANNED_FLAGS[base];
    if (key) {
      out.refuse(
        `.extraArgs[${i}]`,
        arg,
        `${base} is set by rocm-vllm from the config key ${key}`,
        `remove it and set ${key} instead`,
      );
    } else if (!version.serveFlags.has(base)) {
      const guess = suggest(base, known);
      out.refuse(
        `.extraArgs[${i}]`,
        arg,
        `vllm serve ${version.version} has no flag ${base}`,
        guess ? `did you mean ${guess}?` : "remove it (see `vllm serve --help` for this release)",
      );
    }
  });
}

/** Applies `extraEnv` last, warning where it overrides a planned value; refuses wiring variables. */
export function applyExtraEnv(out: Decisions, extraEnv: Record<string, string>): void {
  for (const name of Object.keys(extraEnv).sort()) {
    const value = extraEnv[name];
    if (WIRING_ENV.has(name)) {
      out.refuse(`.extraEnv.${name}`, value, `${name} is set by rocm-vllm per node`, `remove extraEnv.${name}`);
      continue;
    }
    const planned = out.env[name];
    if (planned !== undefined && planned !== value) {
      out.warn(
        "extra-env-override",
        `extraEnv.${name}=${value} overrides the planned ${name}=${planned}`,
        `.extraEnv.${name}`,
      );
    }
    out.setEnv(name, value, "extraEnv", "stack config extraEnv");
  }
}
