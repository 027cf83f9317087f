/**
 * Runs the Pulumi program (`deployCluster`) under `pulumi.runtime.setMocks` and records every resource registration:
 * type, name, parent, provider, dependencies and inputs (secrets unwrapped, with the secret keys listed).
 *
 * Usable from any test file: mocks are installed once per file (vitest gives each file its own module registry), the
 * stack config is set with `setAllConfig` on every run. Runs must not overlap (await each `runProgram`).
 *
 *   const run = await runProgram(readStackFile("stacks/Pulumi.mi300x-single.yaml"));
 *   run.resources.filter((r) => r.type === CONTAINER);
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import type { ProgramOutputs } from "../../components/program";

export const PROJECT = "rocm-vllm";
export const STACK = "test";

export const STACK_TYPE = "pulumi:pulumi:Stack";
export const DOCKER_PROVIDER = "pulumi:providers:docker";
export const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
export const CONTAINER = "docker:index/container:Container";
export const NODE_COMMAND = "command:local:Command";

/** What `runProgram` writes into the stack config. Secrets are plain strings here; they are marked secret. */
export interface StackInput {
  cluster: unknown;
  deployments: unknown;
  /** Set as an encrypted secret, as `pulumi config set --secret hfToken` does. */
  hfToken?: string;
  /** Set as an encrypted secret, as `pulumi config set --secret sshPrivateKey` does. */
  sshPrivateKey?: string;
  /**
   * Any other config, by full key (`rocm-vllm:hfToken`, `pulumi:disable-default-providers`, a misspelled key…), set
   * as plain values (objects as JSON), as a stack file without `secure:` holds them.
   */
  plainConfig?: Record<string, unknown>;
  /** Other keys set as encrypted secrets, by full key. */
  secretConfig?: Record<string, string>;
}

/** One registration as the engine would receive it. URNs are the mock monitor's. */
export interface RecordedResource {
  urn: string;
  /** Physical ID from the mocks (empty for components); a container's changes whenever its inputs do. */
  id: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  /** URN of the explicit provider (custom resources only). */
  provider?: string;
  /** URNs this resource waits for: explicit `dependsOn` plus every resource whose outputs feed its inputs. */
  dependencies: string[];
  /**
   * Per input, the URNs whose outputs feed it (`propertyDependencies`): what the engine reads when a resource is
   * replaced delete-before-create to decide which dependents to delete early (`dependsOn` alone never counts).
   */
  propertyDependencies: Record<string, string[]>;
  /** Aliases as sent to the engine (protobuf `Alias.toObject()`). */
  aliases: unknown[];
  /** The `deleteBeforeReplace` resource option. */
  deleteBeforeReplace: boolean;
  /** Inputs with secrets unwrapped (see `secretInputs`). */
  inputs: Record<string, unknown>;
  /** Top-level input keys whose value is (or contains) a secret. */
  secretInputs: string[];
}

export interface ProgramRun<T = ProgramOutputs> {
  resources: RecordedResource[];
  /** What the program returned, with top-level Outputs resolved. */
  outputs: pulumi.Unwrap<T>;
  /** Output names whose value is a secret Output. */
  secretOutputs: string[];
}

/** The subset of the protobuf RegisterResourceRequest the recorder reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProvider(): string;
  getDependenciesList(): string[];
  getAliasesList(): { toObject(): unknown }[];
  getPropertydependenciesMap(): { forEach(f: (value: { getUrnsList(): string[] }, key: string) => void): void };
  getDeletebeforereplace(): boolean;
}
interface RegisterResponse {
  getUrn(): string;
  getId(): string;
}
type RegisterCallback = (err: unknown, resp: RegisterResponse | undefined) => void;
interface MonitorLike {
  registerResource(req: RegisterRequest, callback: RegisterCallback): void;
}

interface Pending {
  type: string;
  name: string;
  parent: string;
  provider: string;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  aliases: unknown[];
  deleteBeforeReplace: boolean;
  inputs?: Record<string, unknown>;
  secretInputs?: string[];
}

/** The result JSON the mocked benchmark jobs print (the fields `parseBenchmarkResult` reads). */
export const FAKE_BENCHMARK_RESULT = {
  output_throughput: 1234.5,
  mean_ttft_ms: 100,
  p50_ttft_ms: 90,
  p90_ttft_ms: 150,
  p99_ttft_ms: 200,
  mean_itl_ms: 20,
  p50_itl_ms: 18,
  p90_itl_ms: 25,
  p99_itl_ms: 40,
};

let recording: RecordedResource[] = [];
let current: Pending | undefined;
let installed: Promise<void> | undefined;

/** Replaces secret envelopes by their values, reporting whether any was found. */
function unwrapSecrets(value: unknown): { value: unknown; secret: boolean } {
  if (pulumi.runtime.isRpcSecret(value)) {
    return { value: unwrapSecrets(pulumi.runtime.unwrapRpcSecret(value)).value, secret: true };
  }
  if (Array.isArray(value)) {
    const items = value.map(unwrapSecrets);
    return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
  }
  if (value !== null && typeof value === "object") {
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const u = unwrapSecrets(v);
      out[k] = u.value;
      secret ||= u.secret;
    }
    return { value: out, secret };
  }
  return { value, secret: false };
}

function providerUrn(ref: string): string | undefined {
  if (ref === "") return undefined;
  // A provider reference is `<urn>::<id>`; URNs contain `::` themselves, the id never does.
  return ref.slice(0, ref.lastIndexOf("::"));
}

const mocks: pulumi.runtime.Mocks = {
  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs: Record<string, unknown> = {};
    const secretInputs: string[] = [];
    for (const [k, v] of Object.entries(args.inputs as Record<string, unknown>)) {
      const u = unwrapSecrets(v);
      inputs[k] = u.value;
      if (u.secret) secretInputs.push(k);
    }
    if (current && current.type === args.type && current.name === args.name) {
      current.inputs = inputs;
      current.secretInputs = secretInputs.sort();
    }
    const state: Record<string, unknown> = { ...(args.inputs as Record<string, unknown>) };
    if (args.type === REMOTE_IMAGE) {
      const digest = createHash("sha256").update(String(inputs.name)).digest("hex");
      state.imageId = `sha256:${digest}`;
      state.repoDigest = `${String(inputs.name).split(":")[0]}@sha256:${digest}`;
    }
    if (args.type === NODE_COMMAND) {
      // Benchmark jobs end their stdout with `vllm bench serve`'s result JSON, preflights print `ok:` lines; other
      // commands print nothing.
      state.stdout = args.name.includes("-benchmark-")
        ? `progress...\n${JSON.stringify(FAKE_BENCHMARK_RESULT)}\n`
        : args.name.endsWith("-preflight")
          ? `rocm-vllm preflight ${args.name}: ok: /dev/kfd present\nrocm-vllm preflight ${args.name}: ok: curl present\n`
          : "";
      state.stderr = "";
    }
    // A container's ID changes when it is replaced, as on a real daemon: here, whenever its inputs change. Gates
    // whose triggers are container IDs then change too, as they do in a real update.
    const id =
      args.type === CONTAINER
        ? `${args.name}-${createHash("sha256")
            .update(JSON.stringify(sortKeys(inputs)))
            .digest("hex")
            .slice(0, 12)}`
        : `${args.name}-id`;
    return { id, state };
  },
  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    return args.inputs as Record<string, unknown>;
  },
};

/** The program threw: same message as its error, plus what it had registered by then. */
export class ProgramFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly resources: RecordedResource[],
  ) {
    super(error instanceof Error ? error.message : String(error));
    this.name = "ProgramFailure";
  }
}

/** Installs the mocks and the registration recorder; once per test file. */
export function installMocks(): Promise<void> {
  installed ??= (async () => {
    await pulumi.runtime.setMocks(mocks, PROJECT, STACK, false);
    const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
      const pending: Pending = {
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent(),
        provider: req.getProvider(),
        dependencies: [...req.getDependenciesList()].sort(),
        propertyDependencies: {},
        aliases: req.getAliasesList().map((a) => a.toObject()),
        deleteBeforeReplace: req.getDeletebeforereplace(),
      };
      req.getPropertydependenciesMap().forEach((value, key) => {
        const urns = [...value.getUrnsList()].sort();
        if (urns.length > 0) pending.propertyDependencies[key] = urns;
      });
      // The mock monitor calls `newResource` synchronously from here, which fills in the inputs.
      current = pending;
      try {
        register(req, (err, resp) => {
          if (!err && resp) {
            recording.push({
              urn: resp.getUrn(),
              id: resp.getId(),
              type: pending.type,
              name: pending.name,
              custom: pending.type !== STACK_TYPE && !pending.type.startsWith("rocm-vllm:"),
              parent: pending.parent || undefined,
              provider: providerUrn(pending.provider),
              dependencies: pending.dependencies,
              propertyDependencies: pending.propertyDependencies,
              aliases: pending.aliases,
              deleteBeforeReplace: pending.deleteBeforeReplace,
              inputs: pending.inputs ?? {},
              secretInputs: pending.secretInputs ?? [],
            });
          }
          callback(err, resp);
        });
      } finally {
        current = undefined;
      }
    };
  })();
  return installed;
}

/**
 * A structured value as the engine decrypts it: every `{secure: x}` inside replaced by its plaintext. The mocks'
 * encryption is the identity (`{secure: x}` decrypts to `x`), so a test chooses the plaintext a secret holds.
 */
function decryptStructured(value: unknown): { value: unknown; secure: boolean } {
  if (Array.isArray(value)) {
    const items = value.map(decryptStructured);
    return { value: items.map((i) => i.value), secure: items.some((i) => i.secure) };
  }
  if (value === null || typeof value !== "object") return { value, secure: false };
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0][0] === "secure" && typeof entries[0][1] === "string") {
    return { value: entries[0][1], secure: true };
  }
  const items = entries.map(([k, v]) => [k, decryptStructured(v)] as const);
  return { value: Object.fromEntries(items.map(([k, i]) => [k, i.value])), secure: items.some(([, i]) => i.secure) };
}

/**
 * Stack config as `pulumi` passes it to the program: every value a string, objects as JSON. A structured key with a
 * secure value anywhere inside is passed decrypted and listed as a secret key as a whole, as the engine does
 * (pulumi/pulumi `sdk/go/common/resource/config/value.go`: `hasSecureValue` makes the whole value secure).
 */
function stackConfigMap(stack: StackInput): { config: Record<string, string>; secretKeys: string[] } {
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, raw] of [
    ["cluster", stack.cluster],
    ["deployments", stack.deployments],
  ] as const) {
    if (raw === undefined) continue;
    const { value, secure } = decryptStructured(raw);
    config[`${PROJECT}:${key}`] = secure && typeof value === "string" ? value : JSON.stringify(value);
    if (secure) secretKeys.push(`${PROJECT}:${key}`);
  }
  for (const [key, value] of [
    ["hfToken", stack.hfToken],
    ["sshPrivateKey", stack.sshPrivateKey],
  ] as const) {
    if (value === undefined) continue;
    config[`${PROJECT}:${key}`] = value;
    secretKeys.push(`${PROJECT}:${key}`);
  }
  for (const [key, value] of Object.entries(stack.plainConfig ?? {})) {
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  for (const [key, value] of Object.entries(stack.secretConfig ?? {})) {
    config[key] = value;
    secretKeys.push(key);
  }
  return { config, secretKeys };
}

/** `waitForRPCs` is exported by the runtime's JavaScript but missing from its typings. */
function waitForRegistrations(): Promise<void> {
  const runtime = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };
  if (!runtime.waitForRPCs) throw new Error("@pulumi/pulumi no longer exports runtime.waitForRPCs; update the helper");
  return runtime.waitForRPCs();
}

/**
 * Runs `init` as a Pulumi program under the mocks, with `stack` as its config, and returns every registered resource
 * and what `init` returned. Rejects with the program's error if it throws.
 */
export async function runInMocks<T extends object>(stack: StackInput, init: () => T): Promise<ProgramRun<T>> {
  await installMocks();
  const { config, secretKeys } = stackConfigMap(stack);
  pulumi.runtime.setAllConfig(config, secretKeys);
  recording = [];
  let returned: T | undefined;
  let failure: { error: unknown } | undefined;
  // The runtime records a stack trace for every promise it creates (leak diagnostics); with source maps on, that is
  // most of a run's time. The program's own errors keep their messages.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      // Caught here rather than inside the runtime, which would leave rejected promises nobody awaits.
      try {
        returned = init();
        return returned;
      } catch (error) {
        failure = { error };
        return {};
      }
    });
    await waitForRegistrations();
  } finally {
    current = undefined;
    Error.stackTraceLimit = stackTraceLimit;
  }
  if (failure) {
    const resources = recording;
    recording = [];
    throw new ProgramFailure(failure.error, resources);
  }
  if (!returned) throw new Error("the program returned nothing");
  const secretOutputs: string[] = [];
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(returned)) {
    if (pulumi.Output.isInstance(value)) {
      if (await pulumi.isSecret(value)) secretOutputs.push(key);
      outputs[key] = await new Promise((resolve) => value.apply(resolve));
    } else {
      outputs[key] = value;
    }
  }
  const resources = recording;
  recording = [];
  resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
  return { resources, outputs: outputs as pulumi.Unwrap<T>, secretOutputs };
}

/**
 * Runs the real program, `deployCluster`, with `stack` as its config. Rejects with the program's error (e.g. the
 * config problems) if it throws.
 */
export async function runProgram(stack: StackInput): Promise<ProgramRun> {
  // Imported lazily so that component tests using `runInMocks` do not load the planner.
  const { deployCluster } = await import("../../components/program");
  return runInMocks(stack, deployCluster);
}

/** Fake values for encrypted stack secrets, recognisable in assertions. */
export const FAKE_SECRETS = { hfToken: "hf_test_token_do_not_leak", sshPrivateKey: "-----FAKE KEY-----" } as const;

/**
 * Reads `stacks/Pulumi.<stack>.yaml` into a `StackInput`, as Pulumi would pass it to the program: keys without a
 * namespace get the project's, encrypted values (`{secure: ...}`) become secrets (`hfToken` and `sshPrivateKey` with
 * the `FAKE_SECRETS` values, others with `"fake-secret"`), and every other key is passed through as a plain value.
 */
export function readStackFile(path: string): StackInput {
  const doc = parse(readFileSync(path, "utf8")) as { config?: Record<string, unknown> } | null;
  const stack: StackInput = { cluster: undefined, deployments: undefined };
  const plainConfig: Record<string, unknown> = {};
  const secretConfig: Record<string, string> = {};
  for (const [raw, value] of Object.entries(doc?.config ?? {})) {
    const key = raw.includes(":") ? raw : `${PROJECT}:${raw}`;
    const encrypted = value !== null && typeof value === "object" && "secure" in value;
    if (key === `${PROJECT}:cluster`) stack.cluster = value;
    else if (key === `${PROJECT}:deployments`) stack.deployments = value;
    else if (encrypted && key === `${PROJECT}:hfToken`) stack.hfToken = FAKE_SECRETS.hfToken;
    else if (encrypted && key === `${PROJECT}:sshPrivateKey`) stack.sshPrivateKey = FAKE_SECRETS.sshPrivateKey;
    else if (encrypted) secretConfig[key] = "fake-secret";
    else plainConfig[key] = value;
  }
  if (Object.keys(plainConfig).length > 0) stack.plainConfig = plainConfig;
  if (Object.keys(secretConfig).length > 0) stack.secretConfig = secretConfig;
  return stack;
}

/** `mi300x-single` for `stacks/Pulumi.mi300x-single.yaml`. */
export function stackName(path: string): string {
  return basename(path)
    .replace(/^Pulumi\./, "")
    .replace(/\.ya?ml$/, "");
}

/** A resource of the snapshot: names instead of URNs, secrets redacted, inputs with sorted keys. */
export interface GraphEntry {
  type: string;
  name: string;
  parent?: string;
  provider?: string;
  dependsOn?: string[];
  inputs?: Record<string, unknown>;
}

export const REDACTED = "[secret]";

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * The sorted, stable resource graph of a run, for file snapshots: what `pulumi up` would create, and in which order
 * (parents, providers, dependencies). Secret inputs are replaced by `[secret]`.
 */
export function resourceGraph(run: Pick<ProgramRun<unknown>, "resources">): GraphEntry[] {
  const names = new Map(run.resources.map((r) => [r.urn, r.name]));
  const nameOf = (urn: string): string => names.get(urn) ?? urn;
  return run.resources
    .map((r): GraphEntry => {
      const entry: GraphEntry = { type: r.type, name: r.name };
      if (r.parent && names.get(r.parent) !== undefined && !r.parent.includes(`::${STACK_TYPE}::`)) {
        entry.parent = nameOf(r.parent);
      }
      if (r.provider) entry.provider = nameOf(r.provider);
      if (r.dependencies.length > 0) entry.dependsOn = r.dependencies.map(nameOf).sort();
      if (r.custom) {
        const inputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r.inputs)) inputs[k] = r.secretInputs.includes(k) ? REDACTED : v;
        entry.inputs = sortKeys(inputs) as Record<string, unknown>;
      }
      return entry;
    })
    .sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.type < b.type ? -1 : 1));
}

/**
 * Longest chain of "waits for" edges (parent, provider, dependencies) through the graph, counting resources.
 * Parallel rollout means this does not grow with the number of nodes.
 */
export function dependencyDepth(resources: readonly RecordedResource[]): number {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (urn: string): number => {
    const known = memo.get(urn);
    if (known !== undefined) return known;
    const r = byUrn.get(urn);
    if (!r) return 0;
    if (visiting.has(urn)) throw new Error(`dependency cycle through ${urn}`);
    visiting.add(urn);
    const edges = [r.parent, r.provider, ...r.dependencies].filter((u): u is string => !!u);
    const d = 1 + Math.max(0, ...edges.map(depth));
    visiting.delete(urn);
    memo.set(urn, d);
    return d;
  };
  return Math.max(0, ...resources.map((r) => depth(r.urn)));
}

/** Host a node command reaches: the `user@host` after `--` in its ssh command line. */
export function commandHost(r: Pick<RecordedResource, "inputs">): string | undefined {
  return /(?:^|\s)--\s+[^\s@']+@(\S+)/.exec(String(r.inputs.create ?? ""))?.[1];
}

/** The step text a node command sends on stdin after its secrets (`export NAME=...` lines). */
export function commandStep(r: Pick<RecordedResource, "inputs">): string {
  return String(r.inputs.stdin ?? "").replace(/^(export [A-Z_][A-Z0-9_]*='[^']*(?:'\\''[^']*)*'\n)+/, "");
}

/** Resources of one type. */
export function ofType(run: Pick<ProgramRun<unknown>, "resources">, type: string): RecordedResource[] {
  return run.resources.filter((r) => r.type === type);
}

/** The URN → resource lookup, for following parent/provider/dependency edges in assertions. */
export function byUrn(run: Pick<ProgramRun<unknown>, "resources">): Map<string, RecordedResource> {
  return new Map(run.resources.map((r) => [r.urn, r]));
}

/** How the resources of two runs differ, by logical name (type and name; URNs include the mock stack). */
export interface RunDiff {
  added: string[];
  removed: string[];
  /** Resources in both runs whose inputs differ, with the top-level input keys that changed. */
  changed: Record<string, string[]>;
}

function resourceKey(r: RecordedResource): string {
  return `${r.type}::${r.name}`;
}

/**
 * Compares the inputs of two runs, e.g. before and after a config change: what `pulumi preview` would show as
 * created, deleted and changed. Secret inputs are compared by value. For containers, any changed input other than
 * `restart`/`mustRun` means a replacement (a restart); for commands, a change means the command runs again.
 */
export function diffRuns(
  before: Pick<ProgramRun<unknown>, "resources">,
  after: Pick<ProgramRun<unknown>, "resources">,
): RunDiff {
  const old = new Map(before.resources.map((r) => [resourceKey(r), r]));
  const now = new Map(after.resources.map((r) => [resourceKey(r), r]));
  const changed: Record<string, string[]> = {};
  for (const [key, r] of now) {
    const o = old.get(key);
    if (!o) continue;
    const keys = [...new Set([...Object.keys(o.inputs), ...Object.keys(r.inputs)])].sort();
    const differing = keys.filter(
      (k) => JSON.stringify(sortKeys(o.inputs[k])) !== JSON.stringify(sortKeys(r.inputs[k])),
    );
    if (differing.length > 0) changed[r.name] = differing;
  }
  return {
    added: [...now.keys()]
      .filter((k) => !old.has(k))
      .map((k) => k.split("::")[1])
      .sort(),
    removed: [...old.keys()]
      .filter((k) => !now.has(k))
      .map((k) => k.split("::")[1])
      .sort(),
    changed,
  };
}

/**
 * The most of `members` that can run at the same time: the largest set of them with no "waits for" path between any
 * two (the width of the order the dependencies define, by Dilworth's theorem: members minus a maximum matching of the
 * "reaches" relation). Dependencies are followed through every resource of the run, not only `members`.
 */
export function maxConcurrent(run: Pick<ProgramRun<unknown>, "resources">, members: ReadonlySet<string>): number {
  const deps = new Map(run.resources.map((r) => [r.urn, r.dependencies]));
  const reach = new Map<string, Set<string>>();
  const reachable = (urn: string): Set<string> => {
    const known = reach.get(urn);
    if (known) return known;
    const out = new Set<string>();
    reach.set(urn, out);
    for (const d of deps.get(urn) ?? []) {
      out.add(d);
      for (const x of reachable(d)) out.add(x);
    }
    return out;
  };
  const list = [...members];
  const edges = new Map(list.map((u) => [u, list.filter((v) => v !== u && reachable(u).has(v))]));
  const matchOf = new Map<string, string>();
  const augment = (u: string, seen: Set<string>): boolean => {
    for (const v of edges.get(u) ?? []) {
      if (seen.has(v)) continue;
      seen.add(v);
      const owner = matchOf.get(v);
      if (owner === undefined || augment(owner, seen)) {
        matchOf.set(v, u);
        return true;
      }
    }
    return false;
  };
  let matching = 0;
  for (const u of list) if (augment(u, new Set())) matching++;
  return list.length - matching;
}
