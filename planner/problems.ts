/**
 * Config problems for people: one line each, naming the config path, the value and the fix.
 *
 * Zod issues are translated here so that schema errors read like rule errors; nothing else in the tool formats
 * problems, so `plan`, `diff`, `export` and the Pulumi program print the same lines. Every value a problem shows goes
 * through `problem` and so through `displayValue` (planner/redact.ts): credentials masked, length bounded.
 */
import type { z } from "zod";
import { displayKey, displayValue } from "./redact";
import type { Problem } from "./types";

/** The key a config path ends in (`HF_TOKEN` of `…extraEnv.HF_TOKEN`, `extraArgs` of `…extraArgs[0]`). */
function lastKey(path: string): string {
  return (
    path
      .replace(/\[\d+\]$/, "")
      .split(/[.:]/)
      .at(-1) ?? path
  );
}

/**
 * A problem about the value at `path`. The value is rendered here, once for every rule: masked when it or its key
 * looks like a credential, cut when long.
 */
export function problem(path: string, value: unknown, message: string, fix: string): Problem {
  return { path, value: displayValue(value, lastKey(path)), message, fix };
}

/** `rocm-vllm:deployments[0].parallelism.tensor` from a base key and a path of keys and indices. */
export function configPath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${displayKey(String(key))}`;
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Edit distance, to suggest the key a typo meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** The closest known name, when it is close enough to be a typo. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestScore) {
      bestScore = d;
      best = k;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let cur: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    let x = s as { def?: { type?: string; innerType?: unknown; element?: unknown; shape?: unknown } };
    while (x?.def && (x.def.type === "default" || x.def.type === "optional" || x.def.type === "nullable")) {
      x = x.def.innerType as typeof x;
    }
    return x;
  };
  for (const key of path) {
    const s = unwrap(cur) as { def?: { type?: string; element?: unknown; shape?: Record<string, unknown> } };
    if (s?.def?.type === "array" && typeof key === "number") cur = s.def.element;
    else if (s?.def?.type === "object" && s.def.shape) cur = s.def.shape[String(key)];
    else return [];
  }
  const s = unwrap(cur) as { def?: { type?: string; shape?: Record<string, unknown> } };
  return s?.def?.type === "object" && s.def.shape ? Object.keys(s.def.shape) : [];
}

/** A zod check that only says a number is beyond 2^53 (zod's own bound on every `.int()`), not the schema's bound. */
const isSafeIntegerBound = (issue: z.core.$ZodIssue) =>
  (issue.code === "too_big" || issue.code === "too_small") && issue.origin === "int";

/**
 * One issue per config path: `gpus: 1e308` fails both zod's safe-integer bound and the schema's `max(64)`, and the
 * user needs one line, with the schema's bound. Unknown keys are kept whole (each names its own path).
 */
function oneIssuePerPath(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const byPath = new Map<string, z.core.$ZodIssue>();
  const keep: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      keep.push(issue);
      continue;
    }
    const key = JSON.stringify(issue.path.map(String));
    const seen = byPath.get(key);
    if (seen === undefined) {
      byPath.set(key, issue);
      keep.push(issue);
    } else if (isSafeIntegerBound(seen) && !isSafeIntegerBound(issue)) {
      byPath.set(key, issue);
      keep[keep.indexOf(seen)] = issue;
    }
  }
  return keep;
}

/** Translates zod issues for one config key into problems: one per path. */
export function problemsFromZod(base: string, error: z.ZodError, input: unknown, schema: z.ZodType): Problem[] {
  const out: Problem[] = [];
  for (const issue of oneIssuePerPath(error.issues)) {
    const value = valueAt(input, issue.path);
    const path = configPath(base, issue.path);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeysAt(schema, issue.path);
        for (const key of issue.keys) {
          const guess = suggest(key, known);
          out.push(
            problem(
              configPath(base, [...issue.path, key]),
              valueAt(input, [...issue.path, key]),
              `unknown key "${displayKey(key)}"`,
              guess ? `did you mean "${guess}"?` : `remove it; known keys here: ${known.join(", ")}`,
            ),
          );
        }
        break;
      }
      case "invalid_value": {
        const options = issue.values.map((v) => String(v));
        const upper = typeof value === "string" ? options.find((o) => o === value.toUpperCase()) : undefined;
        const guess = typeof value === "string" ? suggest(value, options) : undefined;
        out.push(
          problem(
            path,
            value,
            "is not one of the accepted values",
            upper
              ? `write it in upper case: "${upper}" (vLLM rejects lower case)`
              : `use one of: ${options.join(", ")}${guess ? ` (did you mean "${guess}"?)` : ""}`,
          ),
        );
        break;
      }
      case "invalid_type": {
        const expected = issue.expected;
        if (typeof value === "number" && !Number.isFinite(value)) {
          // YAML's .nan and .inf are numbers to the parser, but no setting takes them.
          out.push(problem(path, value, "must be a finite number", "write a number (not .nan or .inf) here"));
          break;
        }
        out.push(
          problem(
            path,
            value,
            value === undefined ? "is required" : `must be ${article(expected)} ${expected}`,
            value === undefined ? `add ${path.split(".").pop()}` : `write ${article(expected)} ${expected} here`,
          ),
        );
        break;
      }
      case "too_small":
      case "too_big":
        out.push(problem(path, value, rangeMessage(issue), fixForRange(issue)));
        break;
      case "invalid_key": {
        // A record key (an extraEnv name) failed its own schema: say what a key must be, in the schema's words.
        const inner = issue.issues[0]?.message ?? "is not an accepted key";
        const key = String(issue.path.at(-1) ?? "");
        out.push(problem(path, key, `the name ${inner}`, "rename it (e.g. MY_VARIABLE) or remove it"));
        break;
      }
      case "invalid_union":
        out.push(problem(path, value, "is not an accepted value", "see the config reference in README.md"));
        break;
      default: {
        // A schema check can carry its own fix: `.refine(check, { message, params: { fix } })`.
        const fix = issue.code === "custom" ? issue.params?.fix : undefined;
        out.push(
          problem(path, value, issue.message, typeof fix === "string" ? fix : "see the config reference in README.md"),
        );
      }
    }
  }
  return out;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}

function rangeOp(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  if (issue.code === "too_small") return issue.inclusive ? "at least" : "above";
  return issue.inclusive ? "at most" : "below";
}

/** The schema's own words for a bound when it has them, else "must be at least 1" (not zod's "Too small: …"). */
function rangeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  if (!/^Too (small|big):/.test(issue.message)) return issue.message;
  const bound = Number(issue.code === "too_small" ? issue.minimum : issue.maximum);
  if (issue.origin === "array") return `must have ${rangeOp(issue)} ${bound} item(s)`;
  if (issue.origin === "string") return `must have ${rangeOp(issue)} ${bound} character(s)`;
  return `must be ${rangeOp(issue)} ${bound}`;
}

function fixForRange(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const bound = Number(issue.code === "too_small" ? issue.minimum : issue.maximum);
  if (issue.origin === "array")
    return issue.code === "too_small" ? `list at least ${bound} item(s)` : `list at most ${bound} item(s)`;
  if (issue.origin === "string" && issue.code === "too_big") return `shorten it to at most ${bound} characters`;
  return `use a value ${rangeOp(issue)} ${bound}`;
}

/** One line per problem: `path: message (got value). Fix: fix`. */
export function formatProblem(p: Problem): string {
  return `${p.path}: ${p.message} (got ${p.value}). Fix: ${p.fix}`;
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map(formatProblem).join("\n");
}

/** Thrown by faces that cannot return problems (the Pulumi program); its message is the formatted lines. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(`invalid stack config:\n${formatProblems(problems)}`);
    this.name = "ConfigError";
  }
}
