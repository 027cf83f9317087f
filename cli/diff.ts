/**
 * `rocm-vllm diff`: what a stack config change does to the running cluster, before it is merged.
 *
 *   rocm-vllm diff <base-stack-file> <head-stack-file> [--json]
 *   rocm-vllm diff --base <git-ref> [stack-files...] [--json]
 *
 * With `--base`, each stack file is compared with its version at the ref (`git show <ref>:<path>`); without files,
 * every `stacks/Pulumi.*.yaml` that differs between the ref and the working tree (added and deleted ones included).
 * One of two files may be `-` (stdin). Exit codes (`cli/exitCodes.ts`): 0 nothing changes, 2 something changes, 3 a
 * change with a hazard (it needs two updates), 1 error (a config that does not validate, a bad ref, an unreadable
 * file), 64 usage error. The comparison is `planner/diff/planDiff.ts`; this file only reads files and git.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import type { Command } from "commander";
import { stackNameFromFile } from "../planner/config/load";
import { planDiff } from "../planner/diff/planDiff";
import { loadStackSide } from "../planner/diff/stackSide";
import type { StackDiff, StackSide } from "../planner/diff/types";
import { formatProblems } from "../planner/problems";
import type { Problem } from "../planner/types";
import { colorEnabled } from "./color";
import { EXIT } from "./exitCodes";
import { stackOptions } from "./options";
import { renderStackDiff } from "./renderDiff";
import { STDIN_NAME } from "./stackFile";

/** Exit codes of `diff`, in the scheme every command shares (`cli/exitCodes.ts`). */
export const DIFF_EXIT = {
  same: EXIT.ok,
  error: EXIT.invalid,
  changed: EXIT.changed,
  hazard: EXIT.hazard,
  usage: EXIT.usage,
} as const;

/** A stack file in the repository's `stacks/` directory, as git names it. */
const STACK_PATH = /^stacks\/Pulumi\.[^/]+\.yaml$/;

/** An error that ends the command with one message and exit 1. */
class DiffError extends Error {}

/** A command line `diff` cannot run: one message and exit 64. */
class DiffUsageError extends Error {}

/** Where the command runs and writes: the process by default, a capture in tests. */
export interface DiffIo {
  cwd: string;
  out: (text: string) => void;
  err: (text: string) => void;
  color: boolean;
  /** Reads stdin (`-`). */
  stdin: () => string;
}

const processIo = (colorFlag?: boolean): DiffIo => ({
  cwd: process.cwd(),
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  color: colorEnabled(process.stdout, process.env, colorFlag),
  stdin: () => readFileSync(0, "utf8"),
});

interface StackInput {
  /** Shown as the stack's title and `file` in JSON. */
  file: string;
  title: string;
  /** The stack's name, the same on both sides (see `stackNameFromFile`). */
  stack: string;
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
      stack: stackNameFromFile(path),
      base: shown.ok ? { text: shown.stdout, where: `${path} at ${ref}` } : undefined,
      head: headText !== undefined ? { text: headText, where: path } : undefined,
    };
  });
}

function fileInputs(baseFile: string, headFile: string, io: DiffIo, stack: string | undefined): StackInput[] {
  if (baseFile === "-" && headFile === "-")
    throw new DiffUsageError("only one of the two stack files can be - (stdin)");
  if ((baseFile === "-" || headFile === "-") && stack === undefined) {
    throw new DiffUsageError("reading a stack from stdin (-): name the stack with --stack <name>");
  }
  const read = (f: string) => {
    if (f === "-") return { text: io.stdin(), where: STDIN_NAME };
    const text = readText(resolve(io.cwd, f), f);
    if (text === undefined) throw new DiffError(`cannot read ${f}: ENOENT`);
    return { text, where: f };
  };
  const [base, head] = [read(baseFile), read(headFile)];
  return [
    {
      file: head.where,
      title: `${base.where} → ${head.where}`,
      // Both sides are the same stack: the head file names it (a base copy may be called anything).
      stack: stack ?? stackNameFromFile(headFile),
      base,
      head,
    },
  ];
}

/** A problem of one side of a stack that does not validate, for `--json`. */
interface SideProblem extends Problem {
  /** Which side: the file, or the file at the base ref. */
  where: string;
}

/** Loads one side; on invalid config writes its problems (one line each), records them and returns `null`. */
function loadSide(
  side: { text: string; where: string } | undefined,
  stack: string,
  io: DiffIo,
  problems: SideProblem[],
): StackSide | undefined | null {
  if (!side) return undefined;
  const loaded = loadStackSide(side.text, side.where, stack);
  if (loaded.ok) return loaded.side;
  io.err(`rocm-vllm diff: ${side.where} does not validate:\n${formatProblems(loaded.problems)}\n`);
  problems.push(...loaded.problems.map((p) => ({ where: side.where, ...p })));
  return null;
}

/** Runs the command and returns its exit code. */
export function diffCommand(
  files: string[],
  opts: { base?: string; json?: boolean; stack?: string },
  io: DiffIo = processIo(),
): number {
  let inputs: StackInput[];
  try {
    if (opts.base !== undefined) {
      if (files.includes("-"))
        throw new DiffUsageError("--base compares files of the repository; - (stdin) is not one");
      inputs = gitInputs(opts.base, files, io.cwd).map((i) => ({ ...i, stack: opts.stack ?? i.stack }));
    } else if (files.length === 2) inputs = fileInputs(files[0], files[1], io, opts.stack);
    else {
      throw new DiffUsageError(
        "give two stack files (rocm-vllm diff <base-stack-file> <head-stack-file>) or --base <git-ref> [stack-files...]",
      );
    }
  } catch (e) {
    if (!(e instanceof DiffError || e instanceof DiffUsageError)) throw e;
    io.err(`rocm-vllm diff: ${e.message}\n`);
    return e instanceof DiffUsageError ? DIFF_EXIT.usage : DIFF_EXIT.error;
  }

  const results: { input: StackInput; diff?: StackDiff; problems: SideProblem[] }[] = [];
  for (const input of inputs) {
    const problems: SideProblem[] = [];
    const base = loadSide(input.base, input.stack, io, problems);
    const head = loadSide(input.head, input.stack, io, problems);
    results.push({ input, problems, diff: base === null || head === null ? undefined : planDiff(base, head) });
  }

  if (opts.json) {
    // A stack that does not validate is listed with its problems (changed: null), never dropped.
    const stacks = results.map(({ input, diff, problems }) => ({
      file: input.file,
      changes: diff?.changes ?? [],
      impact: diff?.impact ?? [],
      hazards: diff?.hazards ?? [],
      summary: diff?.summary ?? null,
      changed: diff ? diff.changed : null,
      problems,
    }));
    io.out(`${JSON.stringify({ stacks }, null, 2)}\n`);
  } else if (inputs.length === 0) {
    io.out(`no stack file differs between ${opts.base} and the working tree\n`);
  } else {
    io.out(
      results
        .flatMap(({ input, diff }) => (diff ? [renderStackDiff({ title: input.title, diff }, io.color)] : []))
        .join("\n"),
    );
  }
  return diffExitCode(results.map((r) => r.diff));
}

/** Error beats hazard beats change: the code says the worst thing that is true of any stack. */
export function diffExitCode(diffs: readonly (StackDiff | undefined)[]): number {
  if (diffs.some((d) => d === undefined)) return DIFF_EXIT.error;
  if (diffs.some((d) => (d?.hazards.length ?? 0) > 0)) return DIFF_EXIT.hazard;
  return diffs.some((d) => d?.changed) ? DIFF_EXIT.changed : DIFF_EXIT.same;
}

/** Adds `diff` to the CLI; `cli/main.ts` calls this so the command lives with its own code. */
export function registerDiff(program: Command): void {
  stackOptions(
    program
      .command("diff")
      .description(
        "what a stack config change does to the cluster: changed settings, what restarts where (exit 2 = changes, 3 = hazard)",
      )
      .argument(
        "[stack-files...]",
        "<base-stack-file> <head-stack-file> (one may be - for stdin, with --stack), or with --base the stack files to compare",
      )
      .option(
        "--base <git-ref>",
        "compare each stack file with its version at this git ref (default: all changed stacks)",
      )
      .option("--json", "print {stacks: [{file, changes, impact, hazards, summary, changed, problems}]}"),
  ).action((files: string[], opts: { base?: string; json?: boolean; stack?: string; color?: boolean }) => {
    process.exitCode = diffCommand(files, opts, processIo(opts.color));
  });
}
