/**
 * `extraArgs` and `extraEnv`: the escape hatches, checked so that they cannot undo the plan by accident.
 *
 * Flags must exist in the image's vLLM release (docs/facts.md#vllm-serve-flags: unknown flags make `vllm serve` exit) and must not
 * repeat a flag the plan derives from a config key; variables may override tuning values (with a warning) but not
 * the ones that wire the cluster together.
 */
import { flagAbsence, REMOVED_FLAGS, type VllmVersionSpec } from "../catalog/vllmVersions";
import { suggest } from "../problems";
import { displayValue } from "../redact";
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
  "--data-parallel-rank": "parallelism.dataLoadBalancing",
  "--headless": "nodes",
  "--enable-expert-parallel": "parallelism.expert",
  "--distributed-executor-backend": "parallelism.executor",
  "--nnodes": "parallelism.executor",
  "--node-rank": "parallelism.executor",
  "--master-addr": "parallelism.executor",
  "--master-port": "parallelism.executor",
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
  "--attention-backend": "attention",
  "--allow-deprecated-quantization": "quantization",
  "--shutdown-timeout": "timeouts.shutdownSeconds",
  "--distributed-timeout-seconds": "timeouts.distributedSeconds",
};

/** Variables that wire nodes together; overriding them would break the cluster. */
const WIRING_ENV = new Set(["VLLM_HOST_IP", "HF_HOME", "RAY_ADDRESS"]);

/**
 * `extraArgs` and `extraEnv` are plaintext everywhere: the plan, the Pulumi state, exported scripts, `docker inspect`.
 * A Hugging Face token has a secret of its own (`rocm-vllm:hfToken`), so these ways of passing one are refused; other
 * credentials are warned about. Problems and warnings show values through `displayValue` (planner/redact.ts), which
 * masks credentials.
 */
const HF_TOKEN_FLAGS = new Set(["--hf-token"]);
const HF_TOKEN_ENV = new Set(["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]);
const CREDENTIAL_FLAGS = new Set(["--api-key"]);
const CREDENTIAL_ENV = /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|ACCESS_KEY)(_|$)/;
const HF_TOKEN_FIX = "remove it and run: pulumi config set --secret hfToken <token>";

/** An extraArgs element for a problem: `--flag=value` shows only the flag, the value may be a credential. */
const shownArg = (arg: string) => (arg.includes("=") ? `${arg.split("=")[0]}=…` : arg);

/** Validates `extraArgs` against the release's flags and the planned flags. */
export function checkExtraArgs(out: Decisions, extraArgs: readonly string[], version: VllmVersionSpec): void {
  const known = [...version.serveFlags];
  extraArgs.forEach((arg, i) => {
    if (!arg.startsWith("--")) return;
    // `--flag=value` and, refused below, `--flag value` written as one item.
    const flag = arg.split(/[=\s]/)[0];
    const base = flag.startsWith("--no-") && version.serveFlags.has(`--${flag.slice(5)}`) ? `--${flag.slice(5)}` : flag;
    const key = PLANNED_FLAGS[base];
    if (HF_TOKEN_FLAGS.has(base)) {
      out.refuse(
        `.extraArgs[${i}]`,
        arg,
        `${base} would put the Hugging Face token in plaintext in the plan, the Pulumi state and exported scripts`,
        HF_TOKEN_FIX,
      );
    } else if (/^\s/.test(arg.slice(flag.length))) {
      // CPython argparse `_parse_optional`: an argument with a space "was meant to be a positional".
      out.refuse(
        `.extraArgs[${i}]`,
        arg,
        `${base} and its value are one item: vllm serve gets them as one argument, which argparse reads as a positional and rejects ("unrecognized arguments")`,
        `write them as two items ("${base}", "<value>") or as one "${base}=<value>"`,
      );
    } else if (CREDENTIAL_FLAGS.has(base)) {
      out.warn(
        "extra-args-credential",
        `${base} is stored in plaintext in the plan, the Pulumi state and exported scripts: anyone who can read them has the credential`,
        `.extraArgs[${i}]`,
      );
    } else if (key) {
      out.refuse(
        `.extraArgs[${i}]`,
        shownArg(arg),
        `${base} is set by rocm-vllm from the config key ${key}`,
        `remove it and set ${key} instead`,
      );
    } else if (!version.serveFlags.has(base)) {
      out.refuse(`.extraArgs[${i}]`, shownArg(arg), ...missingFlag(base, version, known));
    }
  });
}

/**
 * Why the release lacks a flag, and the fix: a flag another release has is named with the release that removed it
 * (and what replaced it) or added it; anything else is a typo or a flag vLLM never had.
 */
function missingFlag(flag: string, version: VllmVersionSpec, known: string[]): [message: string, fix: string] {
  const v = version.version;
  const why = flagAbsence(flag, v);
  if (why?.kind === "removed") {
    const { source, instead } = REMOVED_FLAGS[flag] ?? {};
    const where = source ?? `vllm v${why.in} vllm/engine/arg_utils.py and vllm/entrypoints/openai/cli_args.py`;
    return [
      `vllm serve ${v} has no flag ${flag}: vLLM ${why.in} removed it (${where}), and vllm serve exits on it`,
      instead ? `remove it; use ${instead} instead` : "remove it",
    ];
  }
  if (why?.kind === "added") {
    return [
      `vllm serve ${v} has no flag ${flag}: it arrived in vLLM ${why.in}, and vllm serve ${v} exits on it`,
      `remove it, or use an image with vLLM ${why.in} or newer`,
    ];
  }
  const guess = suggest(flag, known);
  return [
    `vllm serve ${v} has no flag ${flag}`,
    guess ? `did you mean ${guess}?` : "remove it (see `vllm serve --help` for this release)",
  ];
}

/** Applies `extraEnv` last, warning where it overrides a planned value; refuses wiring variables. */
export function applyExtraEnv(out: Decisions, extraEnv: Record<string, string>): void {
  for (const name of Object.keys(extraEnv).sort()) {
    const value = extraEnv[name];
    if (HF_TOKEN_ENV.has(name)) {
      out.refuse(
        `.extraEnv.${name}`,
        value,
        "would put the Hugging Face token in plaintext in the plan, the Pulumi state and exported scripts",
        HF_TOKEN_FIX,
      );
      continue;
    }
    if (WIRING_ENV.has(name)) {
      out.refuse(`.extraEnv.${name}`, value, `${name} is set by rocm-vllm per node`, `remove extraEnv.${name}`);
      continue;
    }
    if (CREDENTIAL_ENV.test(name)) {
      out.warn(
        "extra-env-credential",
        `extraEnv.${name} looks like a credential; extraEnv is stored in plaintext in the plan, the Pulumi state and exported scripts`,
        `.extraEnv.${name}`,
      );
    }
    const planned = out.env[name];
    if (planned !== undefined && planned !== value) {
      out.warn(
        "extra-env-override",
        `extraEnv.${name}=${displayValue(value, name)} overrides the planned ${name}=${displayValue(planned)}`,
        `.extraEnv.${name}`,
      );
    }
    out.setEnv(name, value, "extraEnv", "stack config extraEnv");
  }
}
