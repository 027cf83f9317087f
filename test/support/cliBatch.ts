/**
 * Child-process driver that runs many CLI invocations in one Node process, each exactly as `bin/rocm-vllm.js` runs
 * one: `run(argv)` from `cli/main.ts`, its own cwd, stdout and stderr captured, the exit code from `process.exitCode`,
 * and an escaping exception printed with its stack and exit code 1, as Node does for an uncaught exception.
 *
 * Reads `[{ args, cwd }]` as JSON on stdin, writes `[{ code, stdout, stderr }]` as JSON on fd 3. Used by
 * `runCliBatch` so a corpus of cases costs one Node start-up instead of one per case.
 */
import { readFileSync, writeSync } from "node:fs";
import { run } from "../../cli/main";

interface Job {
  args: string[];
  cwd: string;
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

type Write = typeof process.stdout.write;

async function runOne(job: Job): Promise<Outcome> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const capture = (sink: string[]): Write =>
    ((chunk: string | Uint8Array) => {
      sink.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return true;
    }) as Write;
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  const failures: unknown[] = [];
  const onFailure = (e: unknown) => failures.push(e);
  process.on("uncaughtException", onFailure);
  process.on("unhandledRejection", onFailure);
  process.exitCode = undefined;
  process.chdir(job.cwd);
  process.stdout.write = capture(stdout);
  process.stderr.write = capture(stderr);
  try {
    run(["node", "rocm-vllm", ...job.args]);
  } catch (e) {
    failures.push(e);
  }
  // Let actions that finish asynchronously settle before reading the exit code.
  await new Promise((resolve) => setImmediate(resolve));
  process.stdout.write = realOut;
  process.stderr.write = realErr;
  process.off("uncaughtException", onFailure);
  process.off("unhandledRejection", onFailure);
  for (const e of failures) stderr.push(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  const code = failures.length > 0 ? 1 : Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
}

async function main(): Promise<void> {
  const jobs = JSON.parse(readFileSync(0, "utf8")) as Job[];
  const outcomes: Outcome[] = [];
  for (const job of jobs) outcomes.push(await runOne(job));
  writeSync(3, JSON.stringify(outcomes));
}

void main();
