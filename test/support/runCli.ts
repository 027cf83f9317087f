/**
 * Runs `bin/rocm-vllm.js` as a user would: a child process with its own cwd and environment. Async, so a test file
 * can run many invocations at once (bounded by `mapLimit`) instead of paying ~0.5 s of start-up per case in series.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";

export const ROOT = join(__dirname, "..", "..");
export const BIN = join(ROOT, "bin", "rocm-vllm.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Replaces the environment (PATH is kept so `node` children still resolve); `NO_COLOR` is not added. */
  env?: NodeJS.ProcessEnv;
}

/** Runs the CLI with `args`; never rejects for a non-zero exit. */
export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? { PATH: process.env.PATH, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
  });
}

/**
 * Runs many CLI invocations in one child process (`test/support/cliBatch.ts`): each is `run(argv)` with its own cwd,
 * captured output and exit code, as `bin/rocm-vllm.js` would run it, without one Node start-up per invocation.
 */
export function runCliBatch(
  jobs: readonly { args: string[]; cwd: string }[],
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NO_COLOR: "1" },
): Promise<CliResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--require", "tsx/cjs", join(__dirname, "cliBatch.ts")], {
      cwd: ROOT,
      env,
      stdio: ["pipe", "inherit", "pipe", "pipe"],
    });
    const results: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdio[3]?.on("data", (b: Buffer) => results.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`cliBatch exited ${code}: ${Buffer.concat(err).toString("utf8")}`));
      else resolve(JSON.parse(Buffer.concat(results).toString("utf8")) as CliResult[]);
    });
    child.stdin?.end(JSON.stringify(jobs));
  });
}

/** Maps `items` through `fn` with at most `limit` calls in flight (default: one per core, at least 2). */
export async function mapLimit<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
  limit = Math.max(2, cpus().length),
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Runs the CLI synchronously from the repository root with `NO_COLOR`, for tests that run a few cases in order. */
export function runCliSync(...args: string[]): CliResult {
  return runCliSyncWith({}, ...args);
}

/** `runCliSync` with text on stdin (`-`) or an environment of its own (added to this process's, NO_COLOR unset). */
export function runCliSyncWith(opts: { input?: string; env?: NodeJS.ProcessEnv }, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    input: opts.input ?? "",
    env: opts.env ? { ...process.env, NO_COLOR: undefined, ...opts.env } : { ...process.env, NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
