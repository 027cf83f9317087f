/**
 * Helpers of the end-to-end test: the simulated hosts (test/e2e/sim-hosts.sh), running exported scripts against
 * them through the ROCM_VLLM_ON_NODE hook (test/e2e/on-node.sh), and reading their Docker daemons.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseDocument } from "yaml";
import type { Plan } from "../../planner/types";

export const ROOT = join(__dirname, "..", "..");
export const E2E = __dirname;
export const STATE = process.env.ROCM_VLLM_E2E_STATE ?? "/run/rocm-vllm-e2e";
export const SIM_HOSTS = join(E2E, "sim-hosts.sh");
export const ON_NODE = join(E2E, "on-node.sh");

/** What the test stacks' jobs and containers write on the machine (their modelCache and compileCache.path). */
export const MODEL_CACHE = "/var/lib/rocm-vllm-e2e/model-cache";
export const COMPILE_CACHE = "/var/lib/rocm-vllm-e2e/compile-cache";

/** Simulated hosts: name → address on the private bridge. The test stacks use these addresses. */
export const HOSTS = { h1: "10.77.0.11", h2: "10.77.0.12" } as const;
export type HostName = keyof typeof HOSTS;
/** GPUs (render nodes) of every simulated host. */
export const GPUS_PER_HOST = 8;

/**
 * What the test images pretend to be; the test stacks name these images (checked by a test). The main image is vLLM
 * 0.11.1 WITHOUT Ray (a regression to the Ray path fails loudly there); the Ray image is vLLM 0.11.0, whose images
 * ship Ray and run it across nodes (0.11.1 cannot: vllm#28997).
 */
export const E2E_IMAGE = "rocm/vllm:rocm7.0.0_vllm_0.11.1_e2e";
export const E2E_VLLM_VERSION = "0.11.1";
export const E2E_RAY_IMAGE = "rocm/vllm:rocm7.0.0_vllm_0.11.0_e2e";
export const E2E_RAY_VLLM_VERSION = "0.11.0";
export const E2E_NGINX_IMAGE = "rocm-vllm-e2e/nginx:bookworm";

export const stackFile = (name: string) => join(E2E, "stacks", `Pulumi.${name}.yaml`);

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
  ms: number;
  /**
   * Errors of the pipes to and from the command (`EPIPE` when it exits without reading all of its input), recorded
   * instead of thrown: an unhandled stream error would crash the test worker and fail a run whose tests all passed.
   */
  streamErrors: string[];
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

/** Process groups of commands still running: killed if this worker is stopped (CI's `timeout`, Ctrl-C). */
const running = new Set<number>();

function killRunning(): void {
  for (const pgid of running) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  running.clear();
}

process.once("exit", killRunning);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killRunning();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}

/**
 * Runs a command in its own process group and kills the whole group when it outlives `timeoutMs`, so a hung script
 * never outlives its test. The environment is minimal unless `env` adds to it.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      detached: true,
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        HOME: process.env.HOME ?? "/root",
        LANG: "C.UTF-8",
        ...opts.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const pgid = child.pid;
    if (pgid !== undefined) running.add(pgid);
    let stdout = "";
    let stderr = "";
    let output = "";
    const streamErrors: string[] = [];
    for (const [name, stream] of [
      ["stdin", child.stdin],
      ["stdout", child.stdout],
      ["stderr", child.stderr],
    ] as const) {
      stream.on("error", (e: NodeJS.ErrnoException) => {
        streamErrors.push(`${name}: ${e.code ?? e.message}`);
      });
    }
    const timer = setTimeout(() => {
      output += `\n[e2e] killed after ${opts.timeoutMs} ms\n`;
      if (pgid !== undefined) {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }, opts.timeoutMs ?? 120_000);
    // Resolved once the command has exited and its stdin is closed: an EPIPE on stdin can come after the exit.
    let pending = 2;
    let exitCode: number | null = null;
    const settle = () => {
      if (--pending > 0) return;
      clearTimeout(timer);
      if (pgid !== undefined) running.delete(pgid);
      resolve({ code: exitCode, stdout, stderr, output, ms: Date.now() - started, streamErrors });
    };
    child.stdin.on("close", settle);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      output += d.toString();
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      exitCode = code;
      settle();
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs the CLI as a user would (`bin/rocm-vllm.js`). */
export function cli(...args: string[]): Promise<RunResult> {
  return run(process.execPath, [join(ROOT, "bin", "rocm-vllm.js"), ...args], { env: { NO_COLOR: "1" } });
}

/** The plan of a test stack, through the CLI. */
export async function planOf(stack: string, file = stackFile(stack)): Promise<Plan> {
  const r = await cli("plan", "--json", file);
  if (r.code !== 0) throw new Error(`rocm-vllm plan ${stack} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Plan;
}

const exportDirs: string[] = [];

/**
 * Exports a test stack into a fresh directory and returns it. The directories live in the simulated hosts' state
 * directory, so `sim-hosts.sh down` (or its reaper) removes them even when `removeExports` never ran.
 */
export async function exportStack(stack: string, file = stackFile(stack)): Promise<string> {
  mkdirSync(join(STATE, "exports"), { recursive: true });
  const out = mkdtempSync(join(STATE, "exports", `${stack}-`));
  exportDirs.push(out);
  const r = await cli("export", file, "--out", out);
  if (r.code !== 0) throw new Error(`rocm-vllm export ${stack} failed: ${r.output}`);
  return out;
}

/** Exports a changed copy of a test stack (its text edited by `edit`) into a fresh directory and returns it. */
export async function exportEditedStack(stack: string, edit: (text: string) => string): Promise<string> {
  mkdirSync(join(STATE, "exports"), { recursive: true });
  const out = mkdtempSync(join(STATE, "exports", `${stack}-edited-`));
  exportDirs.push(out);
  const file = join(out, `Pulumi.${stack}.yaml`);
  writeFileSync(file, edit(readFileSync(stackFile(stack), "utf8")));
  const r = await cli("export", file, "--out", join(out, "scripts"));
  if (r.code !== 0) throw new Error(`rocm-vllm export of the edited ${stack} failed: ${r.output}`);
  return join(out, "scripts");
}

/** Removes the directories `exportStack` created. */
export function removeExports(): void {
  for (const dir of exportDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Environment of an exported script run from this machine: nodes are reached through the e2e hook. */
export function scriptEnv(extra: Record<string, string> = {}): Record<string, string> {
  // Containers of this test exit promptly on SIGTERM or not at all (bash as PID 1); 5 s keeps teardowns short.
  return { ROCM_VLLM_ON_NODE: ON_NODE, ROCM_VLLM_STOP_TIMEOUT: "5", ...extra };
}

/** Runs an exported script (deploy.sh, teardown.sh) from `dir`. */
export function runScript(dir: string, script: string, env: Record<string, string>, timeoutMs: number) {
  return run("bash", [join(dir, script)], { env: scriptEnv(env), timeoutMs });
}

/** The client side of real ssh: the agent holding the key, and a HOME whose .ssh/known_hosts has every host key. */
export const CLIENT = join(STATE, "client");

/** Every simulated host's real key; `known_hosts.wrong` has another key for the last host. */
export const KNOWN_HOSTS = join(CLIENT, "known_hosts");
export const WRONG_KNOWN_HOSTS = join(CLIENT, "known_hosts.wrong");

/**
 * Environment of a script that reaches the hosts through real `ssh` (no ROCM_VLLM_ON_NODE hook): the key only in
 * the ssh-agent; host keys come from the stack's `ssh.knownHostsFile` (see `withKnownHosts`).
 */
export function sshEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { SSH_AUTH_SOCK: join(CLIENT, "agent.sock"), ROCM_VLLM_STOP_TIMEOUT: "5", ...extra };
}

/**
 * A copy of a test stack whose nodes are reached with `ssh.knownHostsFile: file`, written next to the exports (ssh
 * takes `~/.ssh` from the passwd entry, so a test cannot point it elsewhere through HOME).
 */
export function withKnownHosts(stack: string, file: string): string {
  const doc = parseDocument(readFileSync(stackFile(stack), "utf8"));
  doc.setIn(["config", "rocm-vllm:cluster", "ssh", "knownHostsFile"], file);
  return stackVariant(stack, doc.toString());
}

/** Writes `text` as `Pulumi.<stack>.yaml` (a variant of a test stack) in a fresh directory; returns its path. */
export function stackVariant(stack: string, text: string): string {
  mkdirSync(join(STATE, "exports"), { recursive: true });
  const out = join(mkdtempSync(join(STATE, "exports", `${stack}-stack-`)), `Pulumi.${stack}.yaml`);
  writeFileSync(out, text);
  exportDirs.push(dirname(out));
  return out;
}

/** Namespace of the client (the machine running `pulumi up` or deploy.sh), on the simulated hosts' network. */
export const CLIENT_NETNS = "rvx-client";

/** Runs a command on the client, over the simulated network, with the ssh environment (`sshEnv`). */
export function onClient(cmd: string[], opts: RunOptions & { env?: Record<string, string> } = {}) {
  return run("ip", ["netns", "exec", CLIENT_NETNS, ...cmd], { ...opts, env: sshEnv(opts.env) });
}

/** Runs an exported script (deploy.sh, teardown.sh) from `dir` on the client, over real ssh. */
export function runScriptOverSsh(dir: string, script: string, env: Record<string, string>, timeoutMs: number) {
  return onClient(["bash", join(dir, script)], { env, timeoutMs });
}

/** Runs shell on a simulated host exactly as deploy.sh does: through the hook, the script on stdin. */
export function onNode(node: string, host: string, script: string, timeoutMs = 120_000) {
  return run(ON_NODE, [node, host], { input: script, timeoutMs });
}

/** Runs a command inside a simulated host's network namespace (e.g. curl from another host). */
export function inHost(host: HostName, cmd: string[], timeoutMs = 30_000) {
  return run("ip", ["netns", "exec", `rvx-${host}`, ...cmd], { timeoutMs });
}

/** A container's log, stdout and stderr interleaved (`docker logs` replays the container's stderr on its own). */
export async function containerLog(host: HostName, container: string): Promise<string> {
  const r = await run("docker", ["-H", `unix://${STATE}/hosts/${host}/docker.sock`, "logs", container], {
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`docker logs ${container} on ${host}: ${r.output}`);
  return r.output;
}

/** The docker CLI against a simulated host's daemon. */
export async function docker(host: HostName, ...args: string[]): Promise<string> {
  const r = await run("docker", ["-H", `unix://${STATE}/hosts/${host}/docker.sock`, ...args], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} on ${host}: ${r.output}`);
  return r.stdout;
}

/** Names of every container (running or not) on a simulated host. */
export async function containerNames(host: HostName): Promise<string[]> {
  return (await docker(host, "ps", "--all", "--format", "{{.Names}}"))
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** The subset of `docker inspect` the test compares with the plan. */
export interface Inspected {
  Id: string;
  /** ID of the image the container runs (`sha256:…`). */
  Image: string;
  State: { Running: boolean; StartedAt: string; Status: string; Health?: { Status: string } };
  RestartCount: number;
  Config: {
    Env: string[];
    Entrypoint: string[] | null;
    Cmd: string[] | null;
    Image: string;
    Labels: Record<string, string>;
  };
  HostConfig: {
    Devices: { PathOnHost: string; PathInContainer: string }[] | null;
    GroupAdd: string[] | null;
    IpcMode: string;
    NetworkMode: string;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Ulimits: { Name: string; Soft: number; Hard: number }[] | null;
    Binds: string[] | null;
    RestartPolicy: { Name: string };
    ShmSize: number;
    Init: boolean | null;
  };
}

export async function inspect(host: HostName, container: string): Promise<Inspected> {
  const [first] = JSON.parse(await docker(host, "inspect", container)) as Inspected[];
  if (!first) throw new Error(`no container ${container} on ${host}`);
  return first;
}

/** Polls `probe` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Host of a plan node by name, as a simulated host. */
export function simHost(plan: Plan, node: string): HostName {
  const ip = plan.nodes.find((n) => n.name === node)?.host;
  const entry = Object.entries(HOSTS).find(([, addr]) => addr === ip);
  if (!entry) throw new Error(`node ${node} (${ip}) is not a simulated host`);
  return entry[0] as HostName;
}

/**
 * Every scenario starts from hosts without containers, caches or job stamps: removes them, and fails unless no
 * container is left.
 */
export async function resetHosts(): Promise<string[]> {
  const r = await run(SIM_HOSTS, ["clean"], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`sim-hosts.sh clean failed: ${r.output}`);
  rmSync(MODEL_CACHE, { recursive: true, force: true });
  rmSync(COMPILE_CACHE, { recursive: true, force: true });
  const names: string[] = [];
  for (const h of Object.keys(HOSTS) as HostName[]) {
    rmSync(join(STATE, "hosts", h, "home"), { recursive: true, force: true });
    names.push(...(await containerNames(h)).map((n) => `${h}: ${n}`));
  }
  return names;
}
