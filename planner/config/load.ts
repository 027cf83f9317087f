/**
 * Reads a stack config, from the text of `stacks/Pulumi.<stack>.yaml` (CLI) or from Pulumi config values (program),
 * and validates it. Both faces end in `parseStackEntries`, so they accept and refuse exactly the same configs.
 */
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { problem, problemsFromZod, suggest } from "../problems";
import type { Problem } from "../types";
import { CONFIG_NAMESPACE, clusterSchema, deploymentsSchema, type StackConfig } from "./schema";

export type LoadResult = { ok: true; config: StackConfig } | { ok: false; problems: Problem[] };

const CLUSTER_KEY = `${CONFIG_NAMESPACE}:cluster`;
const DEPLOYMENTS_KEY = `${CONFIG_NAMESPACE}:deployments`;
const HF_TOKEN_KEY = `${CONFIG_NAMESPACE}:hfToken`;
const SSH_KEY_KEY = `${CONFIG_NAMESPACE}:sshPrivateKey`;
const KNOWN_KEYS = [CLUSTER_KEY, DEPLOYMENTS_KEY, HF_TOKEN_KEY, SSH_KEY_KEY];

export interface RawStackConfig {
  /** The stack's name (see `StackConfig.stack`). */
  stack: string;
  cluster: unknown;
  deployments: unknown;
  hasHfToken: boolean;
}

function parseKey<T>(key: string, schema: z.ZodType<T>, input: unknown, problems: Problem[]): T | undefined {
  if (input === undefined) {
    problems.push(problem(key, undefined, "is required", `add ${key} to the stack file (see README.md)`));
    return undefined;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  problems.push(...problemsFromZod(key, result.error, input, schema));
  return undefined;
}

/** A stack's config as a face sees it: every key (namespaced), and whether the stack stores a key encrypted. */
export interface StackEntries {
  /** The stack's name (see `StackConfig.stack`). */
  stack: string;
  /** Config values by full key (`rocm-vllm:cluster`); objects already parsed. Other namespaces are ignored. */
  values: Record<string, unknown>;
  isEncrypted(key: string): boolean;
}

/**
 * Validates a whole stack config: no unknown `rocm-vllm:` key (its value is never shown: it may be a mistyped
 * secret), secrets only encrypted (`pulumi config set --secret`), then the cluster and the deployments. The CLI (from
 * the YAML) and the Pulumi program (from its config) both call this, so they refuse the same stacks in the same words.
 */
export function parseStackEntries(entries: StackEntries): LoadResult {
  const problems: Problem[] = [];
  for (const key of Object.keys(entries.values)) {
    if (!key.startsWith(`${CONFIG_NAMESPACE}:`) || KNOWN_KEYS.includes(key)) continue;
    const guess = suggest(key, KNOWN_KEYS);
    problems.push(
      problem(
        key,
        "(not shown)",
        "is not a rocm-vllm config key",
        guess ? `did you mean ${guess}?` : `use one of ${KNOWN_KEYS.join(", ")}`,
      ),
    );
  }
  for (const secretKey of [HF_TOKEN_KEY, SSH_KEY_KEY]) {
    if (entries.values[secretKey] !== undefined && !entries.isEncrypted(secretKey)) {
      problems.push(
        problem(
          secretKey,
          "(plaintext, not shown)",
          "is stored in plaintext",
          `remove it and run: pulumi config set --secret ${secretKey.split(":")[1]} <value>`,
        ),
      );
    }
  }
  const result = parseStackConfig({
    stack: entries.stack,
    cluster: entries.values[CLUSTER_KEY],
    deployments: entries.values[DEPLOYMENTS_KEY],
    hasHfToken: entries.values[HF_TOKEN_KEY] !== undefined,
  });
  if (problems.length === 0) return result;
  return { ok: false, problems: [...problems, ...(result.ok ? [] : result.problems)] };
}

/** Validates config values already read (from YAML or from `pulumi.Config`). */
export function parseStackConfig(raw: RawStackConfig): LoadResult {
  const problems: Problem[] = [];
  if (!STACK_NAME.test(raw.stack)) {
    problems.push(
      problem(
        "stack name",
        raw.stack,
        "is not a Pulumi stack name (letters, digits, '-', '_' and '.', at most 100)",
        "name the file stacks/Pulumi.<stack>.yaml with such a name, or pass --stack <name>",
      ),
    );
  }
  const cluster = parseKey(CLUSTER_KEY, clusterSchema, raw.cluster, problems);
  const deployments = parseKey(DEPLOYMENTS_KEY, deploymentsSchema, raw.deployments, problems);
  if (problems.length > 0 || !cluster || !deployments) return { ok: false, problems };
  return { ok: true, config: { stack: raw.stack, cluster, deployments, hasHfToken: raw.hasHfToken } };
}

/** Pulumi's rule for stack names (the part after the last `/` of `org/project/stack`). */
const STACK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The stack a file configures: `<stack>` of `Pulumi.<stack>.yaml`, the name `pulumi.getStack()` returns for it;
 * any other file name without its `.yaml`/`.yml` extension.
 */
export function stackNameFromFile(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return /^Pulumi\.(.+)\.ya?ml$/.exec(base)?.[1] ?? base.replace(/\.ya?ml$/, "");
}

/**
 * Parses the text of a `Pulumi.<stack>.yaml` file. Secrets stay encrypted: only their presence is recorded. The stack
 * name comes from the file name unless given.
 */
export function parseStackYaml(text: string, file = "stack file", stack = stackNameFromFile(file)): LoadResult {
  if (text.trim() === "") {
    return {
      ok: false,
      problems: [problem(file, "", "is empty", "write a config: section (see stacks/ for examples)")],
    };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        // With prettyErrors off, yaml leaves `linePos` unset: the line counter turns the offset into line:col.
        const line = lineCounter.linePos(e.pos[0]);
        const where = `${file}:${line.line}:${line.col}`;
        return problem(
          where,
          e.code,
          `is not valid YAML: ${e.message.split("\n")[0]}`,
          "fix the YAML syntax at that line",
        );
      }),
    };
  }
  let root: unknown;
  try {
    // Aliases are resolved here: an unknown anchor or an alias bomb (yaml's maxAliasCount) throws a ReferenceError.
    root = doc.toJS();
  } catch (e) {
    const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
    return {
      ok: false,
      problems: [
        problem(
          file,
          "(alias)",
          `is not valid YAML: ${message}`,
          "define each &anchor before its *alias and expand repeated aliases",
        ),
      ],
    };
  }
  if (root === null || typeof root !== "object" || Array.isArray(root)) {
    return {
      ok: false,
      problems: [problem(file, root, "must be a YAML mapping with a config: key", "start the file with config:")],
    };
  }
  const config = (root as Record<string, unknown>).config;
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    return {
      ok: false,
      problems: [problem(file, config, "has no config: mapping", "put the rocm-vllm:* keys under config:")],
    };
  }
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    // Pulumi gives un-namespaced keys the project's namespace.
    values[key.includes(":") ? key : `${CONFIG_NAMESPACE}:${key}`] = value;
  }
  return parseStackEntries({
    stack,
    values,
    isEncrypted: (key) => {
      const v = values[key];
      return typeof v === "object" && v !== null && "secure" in v;
    },
  });
}
