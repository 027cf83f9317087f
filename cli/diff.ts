/**
 * `rocm-vllm diff`: what a stack config change does to the running cluster, before it is merged.
 *
 *   rocm-vllm diff <base-stack-file> <head-stack-file> [--json]
 *   rocm-vllm diff --base <git-ref> [stack-files...] [--json]
 *
 * With `--base`, each stack file is compared with its version at the ref (`git show <ref>:<path>`); without files,
 * every `stacks/Pulumi.*.yaml` that differs between the ref and the working tree (added and deleted ones included).
 * Exit codes: 0 nothing changes, 2 something changes, 1 error (a config that does not validate, a bad ref, an
 * unreadable file). The comparison is `planner/diff/planDiff.ts`; this file only reads files and git.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import type { Command } from "commander";
import { planDiff } from "../planner/diff/planDiff";
import { loadStackSide } from "../planner/diff/stackSide";
import type { StackDiff, StackSide } from "../planner/diff/types";
import { formatProblems } from "../planner/problems";
import { colorEnabled } from "./color";
import { renderStackDiff } from "./renderDiff";

/** Exit codes of `diff` (unlike `plan`, 2 means "changes", so errors of any kind are 1). */
export const DIFF_EXIT = { same: 0, error: 1, changed: 2 } as const;

/** A stack file in the repository's `stacks/` directory, as git names it. */
const STACK_PATH = /^stacks\/Pulumi\.[^/]+\.yaml$/;

/** An error that ends the command with one message and exit 1. */
class DiffError extends Error {}

/** Where the command runs and writes: the process by default, a capture in tests. */
export interface DiffIo {
  cwd: string;
  out: (text: string) => void;
  err: (text: string) => void;
  color: boolean;
}

const processIo = (): DiffIo => ({
  cwd: process.cwd(),
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  color: colorEnabled(process.stdout),
});

interface StackInput {
  /** Shown as the stack's title and `file` in JSON. */
  file: string;
  title: string;
  base?: { text: string; where: string };
  head?: { text: string; where: string };
}

function git(root: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync("git", args, { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new DiffError(`cannot run git: ${r.error.message}`);
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr.trim() };
}

function readText(path: string, shown: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new DiffError(`cannot read ${shown}: ${code ?? String(e)}`);
  }
}

/** Stack inputs for `--base <ref>`: the named files, or every stack file that differs from the ref. */
function gitInputs(ref: string, files: string[], cwd: string): StackInput[] {
  const top = spawnSync("git", ["rev-parse", "--show-toplevel"], { cwd, encoding: "utf8" });
  if (top.error || top.status !== 0) throw new DiffError("--base needs a git repository (git rev-parse failed)");
  const root = top.stdout.trim();
  if (!git(root, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]).ok) {
    throw new DiffError(`--base ${ref} is not a commit git knows (fetch it, e.g. git fetch origin)`);
  }
  let paths: string[];
  if (files.length > 0) {
    paths = files.map((f) => relative(root, resolve(cwd, f)).split("\\").join("/"));
  } else {
    const changed = git(root, ["diff", "--name-only", "--no-renames", ref, "--", "stacks/"]);
    if (!changed.ok) throw new DiffError(`git diff against ${ref} failed: ${changed.stderr}`);
    const untracked = git(root, ["ls-files", "--others", "--exclude-standard", "--", "stacks/"]);
    paths = [...changed.stdout.split("\n"), ...untracked.stdout.split("\n")].filter((p) => STACK_PATH.test(p));
    paths = [...new Set(paths)].sort();
  }
  return paths.map((path) => {
    const shown = git(root, ["show", `${ref}:${path}`]);
    const headText = readText(resolve(root, path), path);
    if (!shown.ok && headText === undefined)
      throw new DiffError(`${path} exists neither at ${ref} nor in the working tree`);
    return {
      file: path,
      title: `${path} (${ref} → working tree)`,
      base: shown.ok ? { text: shown.stdout, where: `${path} at ${ref}` } : undefined,
      head: headText !== undefined ? { text: headText, where: path } : undefined,
    };
  });
}

function fileInputs(baseFile: string, headFile: string, cwd: string): StackInput[] {
  const read = (f: string) => {
    const text = readText(resolve(cwd, f), f);
    if (text === undefined) throw new DiffError(`cannot read ${f}: ENOENT`);
    return { text, where: f };
  };
  return [{ file: headFile, title: `${baseFile} → ${headFile}`, base: read(baseFile), head: read(headFile) }];
}

/** Loads one side; on invalid config writes its problems (one line each) and returns `null`. */
function loadSide(side: { text: string; where: string } | undefined, io: DiffIo): StackSide | undefined | null {
  if (!side) return undefined;
  const loaded = loadStackSide(side.text, side.where);
  if (loaded.ok) return loaded.side;
  io.err(`rocm-vllm diff: ${side.where} does not validate:\n${formatProblems(loaded.problems)}\n`);
  return null;
}

/** Runs the command and returns its exit code. */
export function diffCommand(
  files: string[],
  opts: { base?: string; json?: boolean },
  io: DiffIo = processIo(),
): number {
  let inputs: StackInput[];
  try {
    if (opts.base !== undefined) inputs = gitInputs(opts.base, files, io.cwd);
    else if (files.length === 2) inputs = fileInputs(files[0], files[1], io.cwd);
    else {
      throw new DiffError(
        "give two stack files (rocm-vllm diff <base-stack-file> <head-stack-file>) or --base <git-ref> [stack-files...]",
      );
    }
  } catch (e) {
    if (!(e instanceof DiffError)) throw e;
    io.err(`rocm-vllm diff: ${e.message}\n`);
    return DIFF_EXIT.error;
  }

  let failed = false;
  const results: { input: StackInput; diff: StackDiff }[] = [];
  for (const input of inputs) {
    const base = loadSide(input.base, io);
    const head = loadSide(input.head, io);
    if (base === null || head === null) {
      failed = true;
      continue;
    }
    results.push({ input, diff: planDiff(base, head) });
  }

  if (opts.json) {
    const stacks = results.map(({ input, diff }) => ({
      file: input.file,
      changes: diff.changes,
      impact: diff.impact,
      hazards: diff.hazards,
      summary: diff.summary,
      changed: diff.changed,
    }));
    io.out(`${JSON.stringify({ stacks }, null, 2)}\n`);
  } else if (inputs.length === 0) {
    io.out(`no stack file differs between ${opts.base} and the working tree\n`);
  } else {
    io.out(results.map(({ input, diff }) => renderStackDiff({ title: input.title, diff }, io.color)).join("\n"));
  }
  if (failed) return DIFF_EXIT.error;
  return results.some((r) => r.diff.changed) ? DIFF_EXIT.changed : DIFF_EXIT.same;
}

/** Adds `diff` to the CLI; `cli/main.ts` calls this so the command lives with its own code. */
export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description(
      "what a stack config change does to the cluster: changed settings, what restarts where (exit 2 = changes)",
    )
    .argument("[stack-files...]", "<base-stack-file> <head-stack-file>, or with --base the stack files to compare")
    .option(
      "--base <git-ref>",
      "compare each stack file with its version at this git ref (default: all changed stacks)",
    )
    .option("--json", "print {stacks: [{file, changes, impact}]}")
    // Commander's usage errors must not exit 2 here, which would read as "the plan changes": returning lets
    // commander exit with its own code 1. Help (exit 0) goes back to `run`.
    .exitOverride((err) => {
      if (err.exitCode === 0) throw err;
    })
    .action((files: string[], opts: { base?: string; json?: boolean }) => {
      process.exitCode = diffCommand(files, opts);
    });
}
