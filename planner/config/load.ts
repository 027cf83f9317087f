/**
 * Reads a stack config, from the text of `stacks/Pulumi.<stack>.yaml` (CLI) or from Pulumi config values (program),
 * and validates it. Both faces end in `parseStackEntries`, so they accept and refuse exactly the same configs.
 */
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { configPath, problem, problemsFromZod, suggest } from "../problems";
import { displayText, Hidden } from "../redact";
import type { Problem } from "../types";
import { CONFIG_NAMESPACE, clusterSchema, deploymentsSchema, type StackConfig } from "./schema";

/**
 * A validated config, or its problems. With problems, `salvaged` is the config with the offending keys removed
 * (defaults apply) when that is valid: the guide's rules still run on it, so a shape error does not hide a rule error
 * elsewhere (`planner/stack.ts`).
 */
export type LoadResult = { ok: true; config: StackConfig } | { ok: false; problems: Problem[]; salvaged?: Salvaged };

/** A config made valid by removing refused keys, and the config paths removed. */
export interface Salvaged {
  config: StackConfig;
  removed: string[];
}

const CLUSTER_KEY = `${CONFIG_NAMESPACE}:cluster`;
const DEPLOYMENTS_KEY = `${CONFIG_NAMESPACE}:deployments`;
const HF_TOKEN_KEY = `${CONFIG_NAMESPACE}:hfToken`;
const REGISTRY_PASSWORD_KEY = `${CONFIG_NAMESPACE}:registryPassword`;
const API_KEY_KEY = `${CONFIG_NAMESPACE}:apiKey`;
const KNOWN_KEYS = [CLUSTER_KEY, DEPLOYMENTS_KEY, HF_TOKEN_KEY, REGISTRY_PASSWORD_KEY, API_KEY_KEY];
/** Secrets a stack may hold; each must be stored encrypted. */
const SECRET_KEYS = [HF_TOKEN_KEY, REGISTRY_PASSWORD_KEY, API_KEY_KEY];

/** Keys rocm-vllm read once and refuses now, with why and what to do instead. */
const RETIRED_KEYS: Record<string, { message: string; fix: string }> = {
  [`${CONFIG_NAMESPACE}:sshPrivateKey`]: {
    message:
      "is no longer read: every connection to a node, the Docker provider's included, runs the system ssh, which takes keys from ssh-agent or a file, never from the stack",
    fix: "load the key into ssh-agent (ssh-add) or set rocm-vllm:cluster.ssh.identityFile, then run: pulumi config rm sshPrivateKey",
  },
};
/** The structured keys: planned in plaintext, so no secret may be inside them. */
const STRUCTURED_KEYS = [CLUSTER_KEY, DEPLOYMENTS_KEY];

export interface RawStackConfig {
  /** The stack's name (see `StackConfig.stack`). */
  stack: string;
  cluster: unknown;
  deployments: unknown;
  hasHfToken: boolean;
  /** Whether `rocm-vllm:registryPassword` is set. Its value never enters the planner. */
  hasRegistryPassword?: boolean;
  /** Whether `rocm-vllm:apiKey` is set. Its value never enters the planner. */
  hasApiKey?: boolean;
}

/** A value parsed as is, or after removing the keys the schema refused (`removed`, as config paths). */
interface Parsed<T> {
  value: T | undefined;
  removed: string[];
}

function parseKey<T>(key: string, schema: z.ZodType<T>, input: unknown, problems: Problem[]): Parsed<T> {
  if (input === undefined) {
    problems.push(problem(key, undefined, "is required", `add ${key} to the stack file (see README.md)`));
    return { value: undefined, removed: [key] };
  }
  const result = schema.safeParse(input);
  if (result.success) return { value: result.data, removed: [] };
  problems.push(...problemsFromZod(key, result.error, input, schema));
  const removed: string[] = [];
  return { value: salvage(schema, input, result.error, (path) => removed.push(configPath(key, path))), removed };
}

/** Removes the value at each refused path (unknown keys included) and parses again, a few rounds at most. */
function salvage<T>(
  schema: z.ZodType<T>,
  input: unknown,
  error: z.ZodError,
  onRemove: (path: readonly PropertyKey[]) => void,
): T | undefined {
  const current: unknown = structuredClone(input);
  let issues = error.issues;
  for (let round = 0; round < 3; round++) {
    for (const issue of issues) {
      const paths = issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
      for (const path of paths) {
        onRemove(path);
        const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)?.[k], current);
        const last = path.at(-1);
        // Only keys of objects: removing an array element would renumber the config paths of the rest.
        if (typeof last !== "string" || parent === null || typeof parent !== "object" || Array.isArray(parent)) {
          return undefined;
        }
        delete (parent as Record<string, unknown>)[last];
      }
    }
    const again = schema.safeParse(current);
    if (again.success) return again.data;
    issues = again.error.issues;
  }
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
    const retired = RETIRED_KEYS[key];
    if (retired) {
      problems.push(problem(key, new Hidden(), retired.message, retired.fix));
      continue;
    }
    if (!key.startsWith(`${CONFIG_NAMESPACE}:`) || KNOWN_KEYS.includes(key)) continue;
    const guess = suggest(key, KNOWN_KEYS);
    problems.push(
      problem(
        key,
        new Hidden(),
        "is not a rocm-vllm config key",
        guess ? `did you mean ${guess}?` : `use one of ${KNOWN_KEYS.join(", ")}`,
      ),
    );
  }
  for (const secretKey of SECRET_KEYS) {
    if (entries.values[secretKey] !== undefined && !entries.isEncrypted(secretKey)) {
      problems.push(
        problem(
          secretKey,
          new Hidden("plaintext, not shown"),
          "is stored in plaintext",
          `remove it and run: pulumi config set --secret ${secretKey.split(":")[1]} <value>`,
        ),
      );
    }
  }
  const secretStructured = STRUCTURED_KEYS.filter((k) => entries.values[k] !== undefined && entries.isEncrypted(k));
  for (const key of secretStructured) problems.push(secretInStructuredKey(key));
  const result = parseStackConfig({
    stack: entries.stack,
    cluster: entries.values[CLUSTER_KEY],
    deployments: entries.values[DEPLOYMENTS_KEY],
    hasHfToken: entries.values[HF_TOKEN_KEY] !== undefined,
    hasRegistryPassword: entries.values[REGISTRY_PASSWORD_KEY] !== undefined,
    hasApiKey: entries.values[API_KEY_KEY] !== undefined,
  });
  if (problems.length === 0) return result;
  // A key refused for holding a secret is not validated further: its problems would be about (and could quote) it.
  const other = result.ok ? [] : result.problems.filter((p) => !secretStructured.some((k) => p.path.startsWith(k)));
  // The rules still run (planner/stack.ts) unless a key holds a secret: their problems could quote it.
  const salvaged =
    secretStructured.length > 0 ? undefined : result.ok ? { config: result.config, removed: [] } : result.salvaged;
  return { ok: false, problems: [...problems, ...other], salvaged };
}

/**
 * A Pulumi secret inside `rocm-vllm:cluster` or `rocm-vllm:deployments` (`pulumi config set --secret --path …`) is
 * refused rather than carried: every value of these keys may reach a container's command or environment, the plan,
 * the exported scripts and `rocm-vllm diff` in plaintext, and the program is only told that the key as a whole holds
 * a secret (Pulumi marks a structured value secure when any value inside it is), not which value. The CLI sees the
 * `secure:` entries, the program sees a secret key: both say the same line.
 */
function secretInStructuredKey(key: string): Problem {
  return problem(
    key,
    new Hidden("secret, not shown"),
    "holds a Pulumi secret (a secure: value set with pulumi config set --secret --path); rocm-vllm puts every value of this key in plaintext into container commands, the plan, the Pulumi state and exported scripts",
    "remove the secure: value; secrets go in their own keys: pulumi config set --secret hfToken <token> (Hugging Face), pulumi config set --secret apiKey <key> (vLLM's API key), pulumi config set --secret registryPassword <token> (registry login); SSH keys go in ssh-agent; see README.md § Secrets",
  );
}

/**
 * Whether a stack-file value is, or holds, an encrypted value: a mapping whose only key is `secure` with a string,
 * as Pulumi writes them (pulumi/pulumi `sdk/go/common/resource/config/value.go`, `isSecureValue`/`hasSecureValue`).
 */
export function hasSecureValue(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasSecureValue);
  if (value === null || typeof value !== "object") return false;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0][0] === "secure" && typeof entries[0][1] === "string") return true;
  return entries.some(([, v]) => hasSecureValue(v));
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
  const config =
    cluster.value && deployments.value
      ? {
          stack: raw.stack,
          cluster: cluster.value,
          deployments: deployments.value,
          hasHfToken: raw.hasHfToken,
          ...(raw.hasApiKey ? { hasApiKey: true } : {}),
        }
      : undefined;
  if (config?.cluster.registry && !raw.hasRegistryPassword) {
    problems.push(
      problem(
        `${CLUSTER_KEY}.registry`,
        config.cluster.registry.address,
        "names a registry login but the stack has no rocm-vllm:registryPassword",
        "run: pulumi config set --secret registryPassword <token> (or remove cluster.registry for anonymous pulls)",
      ),
    );
  }
  if (problems.length === 0 && config) return { ok: true, config };
  const removed = [...cluster.removed, ...deployments.removed];
  return { ok: false, problems, salvaged: config && STACK_NAME.test(raw.stack) ? { config, removed } : undefined };
}

/** What to do about the YAML errors people make by hand, by the parser's error code. */
const YAML_FIXES: Partial<Record<string, string>> = {
  TAB_AS_INDENT: "indent with spaces: YAML does not allow tabs for indentation",
  BAD_INDENT: "indent every key of one mapping to the same column, with spaces",
  DUPLICATE_KEY: "keep one of the repeated keys",
  MISSING_CHAR: "close the bracket or quote that is open at that point",
  BLOCK_AS_IMPLICIT_KEY: "put the value on the key's line, or indent it below the key",
};

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
export function parseStackYaml(text: string, given?: string, stackName?: string): LoadResult {
  const file = given ?? "stack file";
  const stack = stackName ?? (given === undefined ? "stack" : stackNameFromFile(given));
  if (text.trim() === "") {
    return {
      ok: false,
      problems: [problem(file, "", "is empty", "write a config: section (see stacks/ for examples)")],
    };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  const [first] = doc.errors;
  if (first) {
    // Only the first error: the parser's later ones are usually its consequences (one tab gave 17 lines).
    // With prettyErrors off, yaml leaves `linePos` unset: the line counter turns the offset into line:col.
    const at = lineCounter.linePos(first.pos[0]);
    const char = text.charAt(first.pos[0]);
    return {
      ok: false,
      problems: [
        problem(
          `${file}:${at.line}:${at.col}`,
          // One character, never the line: a line may hold a secret.
          char === "" ? "end of file" : char,
          `is not valid YAML: ${first.message.split("\n")[0].replace(/\.$/, "")}`,
          YAML_FIXES[first.code] ?? "fix the YAML syntax at that line and column",
        ),
      ],
    };
  }
  let root: unknown;
  try {
    // Aliases are resolved here: an unknown anchor or an alias bomb (yaml's maxAliasCount) throws a ReferenceError.
    root = doc.toJS();
  } catch (e) {
    const message = displayText(e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e), 160);
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
  return parseStackEntries({ stack, values, isEncrypted: (key) => hasSecureValue(values[key]) });
}
