/**
 * `extraArgs` and `extraEnv`: the escape hatches, checked so that they cannot undo the plan by accident.
 *
 * Flags, in any spelling vLLM's parser accepts, must exist in the image's vLLM release (docs/facts.md#vllm-serve-flags:
 * argparse exits on unknown arguments) and must not repeat a flag the plan derives from a config key; variables may
 * override tuning values (with a warning) but not the ones that wire the cluster together, and must be ones the
 * release reads with values it accepts (docs/facts.md#vllm-environment-variables).
 */
import { flagAbsence, REMOVED_FLAGS, type VllmVersionSpec } from "../catalog/vllmVersions";
import { suggest } from "../problems";
import { displayValue } from "../redact";
import { API_KEY_ENV, API_KEY_FIX } from "./apiKey";
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

/**
 * Flags rocm-vllm owns only where it sets them: `--distributed-executor-backend ray` for engines spanning nodes on Ray
 * (`parallelism.executor`). Elsewhere vLLM's own choice stands and the guide's `--distributed-executor-backend mp`
 * (§ Speculative decoding) is accepted; `ray` is still refused there, because a Ray executor the plan did not choose
 * changes what it decided (async scheduling, GPU visibility, the native multi-node launch).
 */
const OWNED_WHERE_SET: Record<string, { key: string; refusedValues: readonly string[]; why: string }> = {
  "--distributed-executor-backend": {
    key: "parallelism.executor",
    refusedValues: ["ray"],
    why: "rocm-vllm runs Ray only for engines that span nodes, chosen by parallelism.executor",
  },
};

/** Variables that wire nodes together; overriding them would break the cluster. */
const WIRING_ENV = new Set(["VLLM_HOST_IP", "HF_HOME", "RAY_ADDRESS"]);

/**
 * `extraArgs` and `extraEnv` are plaintext everywhere: the plan, the Pulumi state, exported scripts, `docker inspect`.
 * A Hugging Face token and vLLM's API key have secrets of their own (`rocm-vllm:hfToken`, `rocm-vllm:apiKey`), so
 * these ways of passing them are refused; other credentials are warned about. Problems and warnings show values through `displayValue` (planner/redact.ts), which
 * masks credentials.
 */
const HF_TOKEN_FIX = "remove it and run: pulumi config set --secret hfToken <token>";
const HF_TOKEN = { what: "the Hugging Face token", fix: HF_TOKEN_FIX };
const API_KEY = { what: "the API key", fix: API_KEY_FIX };
/** Flags and variables that carry a secret rocm-vllm holds in a key of its own. */
const SECRET_FLAGS: ReadonlyMap<string, { what: string; fix: string }> = new Map([
  ["--hf-token", HF_TOKEN],
  ["--api-key", API_KEY],
]);
const SECRET_ENV: ReadonlyMap<string, { what: string; fix: string }> = new Map([
  ["HF_TOKEN", HF_TOKEN],
  ["HUGGING_FACE_HUB_TOKEN", HF_TOKEN],
  [API_KEY_ENV, API_KEY],
]);
const CREDENTIAL_ENV = /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|ACCESS_KEY)(_|$)/;

/** An extraArgs element for a problem: `--flag=value` shows only the flag, the value may be a credential. */
const shownArg = (arg: string) => (arg.includes("=") ? `${arg.split("=")[0]}=…` : arg);

/** One option of `extraArgs` as `vllm serve` reads it. */
export interface ExtraOption {
  /** Index of the element in `extraArgs`. */
  index: number;
  /** The element as written. */
  spelling: string;
  /** The long flag argparse resolves it to (`-tp` → `--tensor-parallel-size`), or `undefined` when it resolves to none. */
  flag?: string;
  /** The value: inline (`--flag=value`, `-tp=4`, `-O3`) or the next element when that is not an option. */
  value?: string;
  /** Why the spelling resolves to no flag (an unknown short option, an ambiguous prefix). */
  unresolved?: string;
  /** The long name (dashes, no value) that is no flag of the release. */
  unknown?: string;
  /** Flag and value written as one item (`"--max-num-seqs 300"`): argparse reads it as a positional. */
  spaced?: boolean;
}

/** An element that is an option rather than a value (argparse treats `-1` as a negative number). */
const isOption = (arg: string) => /^-[A-Za-z-]/.test(arg) && arg !== "--";

/**
 * Reads `extraArgs` the way vLLM's FlexibleArgumentParser and argparse do (vllm v0.11.1
 * vllm/utils/argparse_utils.py): underscores in a long name become dashes (up to the first `.`), `--flag=value` and
 * `-x=value` carry their value inline, `--group.key value` sets a key of the JSON flag `--group`, `-O3`/`-O.key`
 * address the release's `-O` flag (`--compilation-config`, `--optimization-level` from 0.12), short aliases come
 * from the release's table, and a unique prefix of a long flag stands for it (argparse `allow_abbrev`).
 */
export function parseExtraArgs(extraArgs: readonly string[], version: VllmVersionSpec): ExtraOption[] {
  const options: ExtraOption[] = [];
  extraArgs.forEach((arg, index) => {
    if (!isOption(arg)) {
      const last = options.at(-1);
      if (last && last.index === index - 1 && last.value === undefined) last.value = arg;
      return;
    }
    // `--flag value` written as one item: CPython argparse `_parse_optional` takes an argument with a space for a
    // positional ("unrecognized arguments"); its flag is still resolved, for the message.
    const space = /\s/.exec(arg.split("=")[0]);
    const item = space ? arg.slice(0, space.index) : arg;
    const eq = item.indexOf("=");
    let name = eq < 0 ? item : item.slice(0, eq);
    const value = space ? arg.slice(space.index).trim() : eq < 0 ? undefined : item.slice(eq + 1);
    if (!arg.startsWith("--")) {
      // `-O`, `-O3`, `-O=3`, `-O.key`: the release's -O shorthand (--compilation-config, --optimization-level from 0.12).
      if (name.startsWith("-O")) {
        const shorthand = { index, spelling: arg, flag: version.dashO, value: value ?? (name.slice(2) || undefined) };
        options.push(space ? { ...shorthand, spaced: true } : shorthand);
        return;
      }
      const base = name.split(".")[0];
      const flag = version.flagAliases[base];
      const spaced = space ? { spaced: true } : {};
      options.push(
        flag
          ? { index, spelling: arg, flag, value, ...spaced }
          : {
              index,
              spelling: arg,
              value,
              unresolved: `vllm serve ${version.version} has no option ${base}`,
              ...spaced,
            },
      );
      return;
    }
    const dot = name.indexOf(".");
    name = (dot < 0 ? name : name.slice(0, dot)).replace(/_/g, "-");
    const resolved = resolveLongFlag(name, version);
    const spaced = space ? { spaced: true } : {};
    options.push(
      typeof resolved === "string"
        ? { index, spelling: arg, flag: resolved, value, ...spaced }
        : resolved.ambiguous
          ? { index, spelling: arg, value, unresolved: resolved.ambiguous, ...spaced }
          : { index, spelling: arg, value, unknown: name, ...spaced },
    );
  });
  return options;
}

/** A long name, a `--no-` form or a unique prefix of one, to the flag it sets; or why it sets none. */
function resolveLongFlag(name: string, version: VllmVersionSpec): string | { ambiguous?: string } {
  const flags = version.serveFlags;
  if (flags.has(name)) return name;
  if (name.startsWith("--no-") && flags.has(`--${name.slice(5)}`)) return `--${name.slice(5)}`;
  const negated = name.startsWith("--no-");
  const stem = negated ? `--${name.slice(5)}` : name;
  const matches = [...flags].filter((f) => f.startsWith(stem)).sort();
  if (matches.length === 1) return matches[0];
  if (matches.length > 1 && !negated)
    return {
      ambiguous: `${name} is an ambiguous abbreviation of ${matches.slice(0, 3).join(", ")}${matches.length > 3 ? ", …" : ""} (argparse refuses it)`,
    };
  return {};
}

/** Validates `extraArgs` against the release's flags and the planned flags, whatever the spelling. */
export function checkExtraArgs(out: Decisions, extraArgs: readonly string[], version: VllmVersionSpec): void {
  const known = [...version.serveFlags];
  for (const opt of parseExtraArgs(extraArgs, version)) {
    const path = `.extraArgs[${opt.index}]`;
    if (!opt.flag) {
      if (opt.unknown) out.refuse(path, shownArg(opt.spelling), ...missingFlag(opt.unknown, version, known));
      else
        out.refuse(
          path,
          shownArg(opt.spelling),
          opt.unresolved ?? "",
          "remove it (see `vllm serve --help` for this release)",
        );
      continue;
    }
    const flag = opt.flag;
    const written = opt.spelling.split(/[=\s]/)[0];
    /** The flag as the user wrote it, with what vLLM reads it as when that differs (`-tp (= --tensor-parallel-size)`). */
    const what = written === flag ? flag : `${written} (= ${flag})`;
    const key = PLANNED_FLAGS[flag];
    const owned = OWNED_WHERE_SET[flag];
    const secret = SECRET_FLAGS.get(flag);
    if (secret) {
      out.refuse(
        path,
        opt.spelling,
        `${what} would put ${secret.what} in plaintext in the plan, the Pulumi state and exported scripts`,
        secret.fix,
      );
    } else if (opt.spaced) {
      out.refuse(
        path,
        opt.spelling,
        `${what} and its value are one item: vllm serve gets them as one argument, which argparse reads as a positional and rejects ("unrecognized arguments")`,
        `write them as two items ("${written}", "<value>") or as one "${written}=<value>"`,
      );
    } else if (key) {
      out.refuse(
        path,
        shownArg(opt.spelling),
        `${what} is set by rocm-vllm from the config key ${key}; given twice, vLLM keeps the last value and what runs would not match the plan`,
        `remove it and set ${key} instead`,
      );
    } else if (owned && out.hasArg(flag)) {
      out.refuse(
        path,
        shownArg(opt.spelling),
        `${what} is set by rocm-vllm for this deployment from ${owned.key}`,
        "remove it",
      );
    } else if (owned && opt.value !== undefined && owned.refusedValues.includes(opt.value)) {
      out.refuse(path, shownArg(opt.spelling), `${what} ${opt.value}: ${owned.why}`, "remove it, or use mp");
    }
  }
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

/**
 * Variables a later release renamed or removed, with the PR, so a name the image no longer reads gets a useful hint
 * (vllm v0.11.1 vllm/envs.py no longer has them).
 */
const RETIRED_ENV: Record<string, { replacement?: string; note: string }> = {
  VLLM_USE_AITER_UNIFIED_ATTENTION: {
    replacement: "VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION",
    note: "renamed in vllm#25507; attention: aiter-unified sets the right name",
  },
  VLLM_ROCM_USE_TRITON_ROPE: { replacement: "VLLM_ROCM_USE_AITER_TRITON_ROPE", note: "renamed in vllm#24490" },
  VLLM_USE_V1: { note: "removed in vllm#28204: V1 is the only engine" },
  VLLM_USE_TRITON_FLASH_ATTN: { note: "removed in vllm#27611 with the V0 engine" },
};

/** Config keys that set a variable, so a value vLLM rejects can point at the key that checks it. */
const ENV_CONFIG_KEYS: Record<string, string> = {
  VLLM_ROCM_QUICK_REDUCE_QUANTIZATION: "quickReduce",
  VLLM_ROCM_USE_AITER: "aiter",
};

/** Python's int() and float() on a string. */
const PY_INT = /^\s*[+-]?\d+(_\d+)*\s*$/;
const PY_FLOAT = /^\s*[+-]?((\d+(_\d+)*)?\.?\d+(_\d+)*([eE][+-]?\d+)?|inf(inity)?|nan)\s*$/i;

/**
 * Checks one `extraEnv` variable against the release's table (vllm/envs.py at the tag): a `VLLM_*` name the release
 * does not read is warned about (it has no effect), a value its parser raises on is refused, a boolean word other
 * than true/false/1/0 is warned about (read as false). Returns whether the variable may be applied.
 */
export function checkEnvForRelease(out: Decisions, name: string, value: string, version: VllmVersionSpec): boolean {
  const table = version.envTable;
  if (!table) return true;
  const path = `.extraEnv.${name}`;
  const v = version.version;
  if (!table.names.has(name)) {
    if (!name.startsWith("VLLM_")) return true;
    const retired = RETIRED_ENV[name];
    const hint =
      retired?.replacement && table.names.has(retired.replacement)
        ? ` (${retired.note}: use ${retired.replacement})`
        : retired
          ? ` (${retired.note})`
          : (() => {
              const guess = suggest(name, [...table.names]);
              return guess ? ` (did you mean ${guess}?)` : "";
            })();
    out.warn(
      "extra-env-unknown",
      `vLLM ${v} does not read ${name} (not in vllm/envs.py at v${v}), so it has no effect${hint}`,
      path,
    );
    return true;
  }
  const parser = table.parsers.get(name);
  if (!parser) return true;
  const key = ENV_CONFIG_KEYS[name];
  const viaKey = key ? `, or set ${key} instead of extraEnv` : "";
  const refuse = (message: string, fix: string) => {
    out.refuse(path, value, `vLLM ${v} ${message}; it raises ValueError when it reads ${name}`, fix);
    return false;
  };
  switch (parser.kind) {
    case "choices":
    case "choiceList": {
      if (!parser.choices) return true;
      const choices = parser.choices;
      const norm = (x: string) => (parser.caseSensitive ? x : x.toLowerCase());
      const values = parser.kind === "choiceList" ? value.split(",").map((x) => x.trim()) : [value];
      const bad = values.find((x) => !choices.map(norm).includes(norm(x)));
      if (bad === undefined) return true;
      const upper = choices.find((c) => c === bad.toUpperCase());
      return refuse(
        `accepts only ${choices.join(", ")} for ${name}${parser.caseSensitive ? " (case-sensitive)" : ""}`,
        upper ? `write it in upper case: ${upper}${viaKey}` : `use one of ${choices.join(", ")}${viaKey}`,
      );
    }
    case "int":
    case "int01":
      if (PY_INT.test(value)) return true;
      return refuse(`parses ${name} with int()`, parser.kind === "int01" ? "use 1 or 0" : "use an integer");
    case "float":
      if (PY_FLOAT.test(value)) return true;
      return refuse(`parses ${name} with float()`, "use a number");
    case "word": {
      const words = [...parser.trueValues, "false", "0"];
      if (words.includes(value.toLowerCase())) return true;
      out.warn(
        "extra-env-boolean",
        `vLLM ${v} reads ${name} as true only for ${parser.trueValues.map((w) => `"${w}"`).join(" or ")}; ${displayValue(value, name)} means false`,
        path,
      );
      return true;
    }
  }
}

/** Applies `extraEnv` last, warning where it overrides a planned value; refuses wiring variables and values the release rejects. */
export function applyExtraEnv(out: Decisions, extraEnv: Record<string, string>, version: VllmVersionSpec): void {
  for (const name of Object.keys(extraEnv).sort()) {
    const value = extraEnv[name];
    const secret = SECRET_ENV.get(name);
    if (secret) {
      out.refuse(
        `.extraEnv.${name}`,
        value,
        `would put ${secret.what} in plaintext in the plan, the Pulumi state and exported scripts`,
        secret.fix,
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
    } else if (!checkEnvForRelease(out, name, value, version)) continue;
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
