/**
 * What the Pulumi Docker provider does with a `docker.Container`, reduced to what decides drift, so the e2e can check
 * it against a real daemon. `@pulumi/docker` 5.2.0 bridges kreuzwerker/terraform-provider-docker v4.5.0 (commit
 * 5074970, the `upstream` submodule of pulumi/pulumi-docker after "Upgrade terraform-provider-docker to v4.5.0"),
 * which links the Docker Go client v28.5.2. Pointers below are to that provider's `internal/provider/` files:
 *
 * - `createBody`: `resource_docker_container_funcs.go` `resourceDockerContainerCreate` (the request it sends), with
 *   the client's own rewrite of capabilities (moby v28.5.2 `client/container_create.go` `normalizeCapabilities`);
 *   `init` always (`hostConfig.Init = &init`), `stop_timeout` when non-zero, `healthcheck` durations through
 *   `time.ParseDuration`, read back with `Duration.String()` (so the program sends `1h0m0s`, not `3600s`);
 * - `readState`: `resourceDockerContainerRead` (every attribute it sets from `ContainerInspect`);
 * - `FIELDS` and `driftedFields`: `resource_docker_container.go` (Optional / Computed / Default / DiffSuppressFunc /
 *   set or list), which decides whether the read-back state differs from the program's inputs. Every field here is
 *   ForceNew except `restart`, `maxRetryCount`, `memory*`, `cpuShares`, `cpuSet`, `rm`, `init`, `tmpfs`: a difference
 *   in a ForceNew field replaces the container on every `pulumi up`.
 *
 * Not read back, so never drift: `envs`, `labels` ("We decided not to set the environment variables and labels",
 * `resourceDockerContainerRead`), `volumes`, `mustRun` while the container runs, `destroyGraceSeconds`.
 */

type Inputs = Record<string, unknown>;

/** The subset of `docker inspect` the provider reads. */
export interface InspectJson {
  Id: string;
  Name: string;
  Image: string;
  Platform?: string;
  State: { Running: boolean };
  Config: {
    Hostname: string;
    Domainname: string;
    User: string;
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    Tty: boolean;
    OpenStdin: boolean;
    StopSignal?: string;
    StopTimeout?: number;
    Healthcheck?: unknown;
  };
  HostConfig: {
    AutoRemove: boolean;
    ReadonlyRootfs: boolean;
    Dns: string[] | null;
    DnsOptions: string[] | null;
    DnsSearch: string[] | null;
    SecurityOpt: string[] | null;
    PublishAllPorts: boolean;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    Init: boolean | null;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Runtime: string;
    Mounts?: unknown[] | null;
    Tmpfs?: Record<string, string> | null;
    ExtraHosts: string[] | null;
    Ulimits: { Name: string; Soft: number; Hard: number }[] | null;
    Privileged: boolean;
    Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
    Memory: number;
    MemoryReservation: number;
    MemorySwap: number;
    ShmSize: number;
    NanoCpus: number;
    CpuShares: number;
    CpusetCpus: string;
    LogConfig: { Type: string; Config: Record<string, string> };
    StorageOpt?: Record<string, string> | null;
    NetworkMode: string;
    PidMode: string;
    UsernsMode: string;
    Sysctls?: Record<string, string> | null;
    IpcMode: string;
    GroupAdd: string[] | null;
  };
}

/** moby v28.5.2 `client/container_create.go` `normalizeCapabilities`: upper case, `CAP_` prefix, unique, sorted. */
export function normalizeCapabilities(caps: readonly string[]): string[] | null {
  const out = [
    ...new Set(
      caps.map((c) => {
        const u = c.toUpperCase();
        return u === "ALL" || u.startsWith("CAP_") ? u : `CAP_${u}`;
      }),
    ),
  ].sort();
  return out.length > 0 ? out : null;
}

const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);

/** Go's `time.ParseDuration` for the `XhYmZs` texts the program sends, in nanoseconds (the API's unit). */
export function parseGoDuration(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === "") throw new Error(`not a whole-second Go duration: ${text}`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1e9;
}

/** Go's `time.Duration.String()` for whole seconds, from nanoseconds (`10s`, `2m0s`, `1h0m0s`). */
export function goDurationString(ns: number): string {
  const seconds = Math.trunc(ns / 1e9);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const sec = seconds % 60;
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

interface HealthcheckInput {
  tests: string[];
  interval?: string;
  timeout?: string;
  startPeriod?: string;
  retries?: number;
}

/** The `POST /containers/create` body the provider sends for these inputs (only what the program sets). */
export function createBody(inputs: Inputs, image: string): Record<string, unknown> {
  const volumes = list<{ hostPath?: string; containerPath: string; readOnly?: boolean }>(inputs.volumes);
  const caps = (inputs.capabilities ?? {}) as { adds?: string[]; drops?: string[] };
  const labels = list<{ label: string; value: string }>(inputs.labels);
  const command = list<string>(inputs.command);
  const entrypoints = list<string>(inputs.entrypoints);
  const health = inputs.healthcheck as HealthcheckInput | undefined;
  return {
    Image: image,
    Hostname: "",
    Domainname: "",
    Tty: false,
    OpenStdin: false,
    StopSignal: "",
    // `stop_timeout` only when set (GetOk: 0 is unset).
    ...(typeof inputs.stopTimeout === "number" && inputs.stopTimeout !== 0 ? { StopTimeout: inputs.stopTimeout } : {}),
    // `healthcheck`: test, and each duration parsed with time.ParseDuration.
    ...(health
      ? {
          Healthcheck: {
            Test: health.tests,
            ...(health.interval ? { Interval: parseGoDuration(health.interval) } : {}),
            ...(health.timeout ? { Timeout: parseGoDuration(health.timeout) } : {}),
            ...(health.startPeriod ? { StartPeriod: parseGoDuration(health.startPeriod) } : {}),
            ...(health.retries !== undefined ? { Retries: health.retries } : {}),
          },
        }
      : {}),
    Env: list<string>(inputs.envs),
    ...(command.length > 0 ? { Cmd: command } : {}),
    ...(entrypoints.length > 0 ? { Entrypoint: entrypoints } : {}),
    ...(volumes.length > 0 ? { Volumes: Object.fromEntries(volumes.map((v) => [v.containerPath, {}])) } : {}),
    ...(labels.length > 0 ? { Labels: Object.fromEntries(labels.map((l) => [l.label, l.value])) } : {}),
    HostConfig: {
      Privileged: false,
      PublishAllPorts: false,
      RestartPolicy: { Name: inputs.restart ?? "no", MaximumRetryCount: 0 },
      Runtime: "",
      Mounts: [],
      AutoRemove: false,
      ReadonlyRootfs: false,
      LogConfig: { Type: "" },
      ...(volumes.length > 0
        ? { Binds: volumes.map((v) => `${v.hostPath}:${v.containerPath}:${v.readOnly ? "ro" : "rw"}`) }
        : {}),
      ...(list(inputs.ulimits).length > 0
        ? {
            Ulimits: list<{ name: string; soft: number; hard: number }>(inputs.ulimits).map((u) => ({
              Name: u.name,
              Soft: u.soft,
              Hard: u.hard,
            })),
          }
        : {}),
      CapAdd: normalizeCapabilities(caps.adds ?? []),
      CapDrop: normalizeCapabilities(caps.drops ?? []),
      Devices: list<{ hostPath: string; containerPath?: string; permissions?: string }>(inputs.devices).map((d) => ({
        PathOnHost: d.hostPath,
        PathInContainer: d.containerPath || d.hostPath,
        CgroupPermissions: d.permissions ?? "rwm",
      })),
      ...(list(inputs.securityOpts).length > 0 ? { SecurityOpt: list<string>(inputs.securityOpts) } : {}),
      ...(typeof inputs.shmSize === "number" ? { ShmSize: inputs.shmSize * 1024 * 1024 } : {}),
      NetworkMode: inputs.networkMode ?? "bridge",
      ...(inputs.ipcMode ? { IpcMode: inputs.ipcMode } : {}),
      ...(list(inputs.groupAdds).length > 0 ? { GroupAdd: list<string>(inputs.groupAdds) } : {}),
      Init: inputs.init === true,
    },
  };
}

/** Attributes `resourceDockerContainerRead` sets, in Pulumi's names, from `docker inspect`. */
export function readState(c: InspectJson, inputs: Inputs): Inputs {
  const h = c.HostConfig;
  const state: Inputs = {
    name: c.Name.replace(/^\/+/, ""),
    rm: h.AutoRemove,
    readOnly: h.ReadonlyRootfs,
    // The program passes the image ID (sha256:…), so the provider reads back `container.Image`.
    image: String(inputs.image).startsWith("sha256:") ? c.Image : undefined,
    hostname: c.Config.Hostname,
    domainname: c.Config.Domainname,
    command: c.Config.Cmd ?? [],
    entrypoints: c.Config.Entrypoint ?? [],
    user: c.Config.User,
    dns: h.Dns ?? [],
    dnsOpts: h.DnsOptions ?? [],
    securityOpts: h.SecurityOpt ?? [],
    dnsSearches: h.DnsSearch ?? [],
    publishAllPorts: h.PublishAllPorts,
    restart: h.RestartPolicy.Name,
    maxRetryCount: h.RestartPolicy.MaximumRetryCount,
    init: h.Init ?? false,
    workingDir: c.Config.WorkingDir,
    runtime: h.Runtime,
    platform: c.Platform ?? "",
    mounts: h.Mounts ?? [],
    tmpfs: h.Tmpfs ?? {},
    hosts: h.ExtraHosts ?? [],
    privileged: h.Privileged,
    memory: Math.trunc(h.Memory / 1024 / 1024),
    memoryReservation: h.MemoryReservation > 0 ? Math.trunc(h.MemoryReservation / 1024 / 1024) : h.MemoryReservation,
    memorySwap: h.MemorySwap > 0 ? Math.trunc(h.MemorySwap / 1024 / 1024) : h.MemorySwap,
    shmSize: Math.trunc(h.ShmSize / 1024 / 1024),
    cpuShares: h.CpuShares,
    cpuSet: h.CpusetCpus,
    logDriver: h.LogConfig.Type,
    storageOpts: h.StorageOpt ?? {},
    networkMode: h.NetworkMode,
    usernsMode: h.UsernsMode,
    sysctls: h.Sysctls ?? {},
    ipcMode: h.IpcMode,
    groupAdds: h.GroupAdd ?? [],
    tty: c.Config.Tty,
    stdinOpen: c.Config.OpenStdin,
    stopSignal: c.Config.StopSignal ?? "",
    stopTimeout: c.Config.StopTimeout ?? 0,
  };
  // Set only in some cases (see the Read function): capabilities when any is set, ulimits and devices and pid mode
  // when configured, cpus when limited, the healthcheck when the image or config has one.
  if ((h.CapAdd ?? []).length > 0 || (h.CapDrop ?? []).length > 0) {
    state.capabilities = { adds: h.CapAdd ?? [], drops: h.CapDrop ?? [] };
  }
  if (list(inputs.ulimits).length > 0) {
    state.ulimits = (h.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard }));
  }
  if (list(inputs.devices).length > 0) {
    // `flattenDevices`: container_path only where the configuration set it.
    const withPath = new Set(
      list<{ hostPath: string; containerPath?: string }>(inputs.devices)
        .filter((d) => d.containerPath)
        .map((d) => d.hostPath),
    );
    state.devices = (h.Devices ?? []).map((d) => ({
      hostPath: d.PathOnHost,
      permissions: d.CgroupPermissions,
      ...(withPath.has(d.PathOnHost) ? { containerPath: d.PathInContainer } : {}),
    }));
  }
  if (inputs.pidMode !== undefined) state.pidMode = h.PidMode;
  if (h.NanoCpus > 0) state.cpus = String(h.NanoCpus / 1e9);
  if (c.Config.Healthcheck) {
    // Durations as Duration.String(): the program sends them in that form, so they read back equal.
    const h = c.Config.Healthcheck as {
      Test?: string[];
      Interval?: number;
      Timeout?: number;
      StartPeriod?: number;
      Retries?: number;
    };
    state.healthcheck = {
      tests: h.Test ?? [],
      interval: goDurationString(h.Interval ?? 0),
      timeout: goDurationString(h.Timeout ?? 0),
      startPeriod: goDurationString(h.StartPeriod ?? 0),
      retries: h.Retries ?? 0,
    };
  }
  return state;
}

type Shape = "scalar" | "set" | "list" | "map";
interface Field {
  shape: Shape;
  /** Optional+Computed: a value the program does not set is taken from the daemon, never a difference. */
  computed?: boolean;
  /** The schema's Default, used when the program does not set the field. */
  default?: unknown;
  /** DiffSuppressFunc "treat an empty configuration as no-op" (`user`, `working_dir`). */
  emptyIsNoop?: boolean;
}

/** Every attribute `resourceDockerContainerRead` sets, with its schema in `resource_docker_container.go`. */
export const FIELDS: Record<string, Field> = {
  name: { shape: "scalar" },
  rm: { shape: "scalar", default: false },
  readOnly: { shape: "scalar", default: false },
  image: { shape: "scalar" },
  hostname: { shape: "scalar", computed: true },
  domainname: { shape: "scalar" },
  command: { shape: "list", computed: true },
  entrypoints: { shape: "list", computed: true },
  user: { shape: "scalar", emptyIsNoop: true },
  dns: { shape: "set" },
  dnsOpts: { shape: "set" },
  securityOpts: { shape: "set", computed: true },
  dnsSearches: { shape: "set" },
  publishAllPorts: { shape: "scalar" },
  restart: { shape: "scalar", default: "no" },
  maxRetryCount: { shape: "scalar" },
  init: { shape: "scalar", computed: true },
  workingDir: { shape: "scalar", emptyIsNoop: true },
  capabilities: { shape: "set" },
  runtime: { shape: "scalar", computed: true },
  platform: { shape: "scalar", computed: true },
  mounts: { shape: "set" },
  tmpfs: { shape: "map" },
  hosts: { shape: "set" },
  ulimits: { shape: "set" },
  privileged: { shape: "scalar" },
  devices: { shape: "set" },
  memory: { shape: "scalar" },
  memoryReservation: { shape: "scalar", default: 0 },
  memorySwap: { shape: "scalar" },
  shmSize: { shape: "scalar", computed: true },
  cpus: { shape: "scalar" },
  cpuShares: { shape: "scalar" },
  cpuSet: { shape: "scalar" },
  logDriver: { shape: "scalar", computed: true },
  storageOpts: { shape: "map" },
  networkMode: { shape: "scalar", default: "bridge" },
  pidMode: { shape: "scalar" },
  usernsMode: { shape: "scalar" },
  healthcheck: { shape: "list", computed: true },
  sysctls: { shape: "map" },
  ipcMode: { shape: "scalar", computed: true },
  groupAdds: { shape: "set" },
  tty: { shape: "scalar", default: false },
  stdinOpen: { shape: "scalar", default: false },
  stopSignal: { shape: "scalar", computed: true },
  stopTimeout: { shape: "scalar", computed: true },
};

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

/** Terraform's zero value of a shape: what an unset Optional attribute equals. */
const zero = (shape: Shape, value: unknown): unknown =>
  shape === "scalar"
    ? typeof value === "number"
      ? 0
      : typeof value === "boolean"
        ? false
        : ""
    : shape === "map"
      ? {}
      : [];

function isZero(shape: Shape, value: unknown): boolean {
  return JSON.stringify(canonical(value ?? zero(shape, value))) === JSON.stringify(canonical(zero(shape, value)));
}

/** Compares one attribute as the provider's diff would: sets without order, capability sets element-wise. */
function same(shape: Shape, a: unknown, b: unknown): boolean {
  const norm = (v: unknown): string => {
    if (shape === "set") {
      const items = (Array.isArray(v) ? v : []).map((x) => {
        // `capabilities` is a set of one {add, drop} block whose members are sets too.
        if (x && typeof x === "object" && ("adds" in x || "drops" in x)) {
          const c = x as { adds?: string[]; drops?: string[] };
          return JSON.stringify({ adds: [...(c.adds ?? [])].sort(), drops: [...(c.drops ?? [])].sort() });
        }
        return JSON.stringify(canonical(x));
      });
      return JSON.stringify(items.sort());
    }
    return JSON.stringify(canonical(v ?? null));
  };
  if (shape === "scalar" && (a === undefined || b === undefined)) return isZero(shape, a) && isZero(shape, b);
  return norm(a) === norm(b);
}

/**
 * The attributes whose state, read back from the daemon, differs from the program's inputs: each one would show as
 * `~field` in every preview (and, ForceNew, replace the container). Empty means a second `pulumi up` changes nothing.
 */
export function driftedFields(inputs: Inputs, state: Inputs): string[] {
  const drifted: string[] = [];
  for (const [field, schema] of Object.entries(FIELDS)) {
    if (!(field in state)) continue; // not read back in this case: the state keeps the input
    let wanted = inputs[field];
    // `capabilities` is a block: the program's `{adds}` object is a one-element set.
    if (field === "capabilities" && wanted !== undefined) wanted = [wanted];
    let got = state[field];
    if (field === "capabilities") got = [got];
    if (wanted === undefined) {
      if (schema.computed) continue;
      if (schema.default !== undefined) wanted = schema.default;
    }
    if (schema.emptyIsNoop && (wanted === undefined || wanted === "")) continue;
    if (wanted === undefined) {
      if (!isZero(schema.shape, got)) drifted.push(field);
      continue;
    }
    if (!same(schema.shape, wanted, got)) drifted.push(field);
  }
  return drifted;
}
