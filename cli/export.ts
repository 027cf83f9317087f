/**
 * `rocm-vllm export <stack-file> --out <dir>`: writes the plan as shell scripts (one per node, deploy.sh,
 * teardown.sh). Rendering is `planner/export/shellScripts.ts`; this file only plans the stack and writes files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Command } from "commander";
import { exportScripts, GENERATED_MARKER, planSecrets } from "../planner/export/shellScripts";
import { formatProblems } from "../planner/problems";
import { planStackFile, UsageError } from "./stackFile";

/** Exit codes, as in `cli/main.ts`: 0 ok, 1 invalid config. Usage errors are thrown as `UsageError` (exit 2). */
const EXIT_OK = 0;
const EXIT_INVALID = 1;

/** True for a file an earlier `export` wrote (its second line is the marker), which a new export may replace. */
function isGenerated(path: string): boolean {
  try {
    return readFileSync(path, "utf8").split("\n", 2)[1] === GENERATED_MARKER;
  } catch {
    return false;
  }
}

/**
 * Writes the scripts into `out` (created if missing) and removes scripts of an earlier export that the plan no longer
 * has (a renamed node). Files the tool did not write are never touched. Returns the exit code.
 */
export function exportCommand(file: string, out: string): number {
  const planned = planStackFile(file);
  if (!planned.ok) {
    process.stderr.write(`${formatProblems(planned.problems)}\n`);
    return EXIT_INVALID;
  }
  const result = exportScripts(planned.plan, { source: basename(file) });
  if (!result.ok) {
    process.stderr.write(`${formatProblems(result.problems)}\n`);
    return EXIT_INVALID;
  }
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`--out ${out} is not a directory`);
  mkdirSync(out, { recursive: true });
  const names = Object.keys(result.files).sort();
  for (const name of readdirSync(out)) {
    if (name.endsWith(".sh") && !names.includes(name) && isGenerated(join(out, name))) unlinkSync(join(out, name));
  }
  for (const name of names) {
    const path = join(out, name);
    if (existsSync(path) && !isGenerated(path)) {
      throw new UsageError(`${path} exists and was not written by rocm-vllm export; choose another --out`);
    }
  }
  for (const name of names) writeFileSync(join(out, name), result.files[name] ?? "", { mode: 0o755 });
  const secrets = planSecrets(planned.plan);
  process.stdout.write(
    [
      `wrote ${names.length} scripts to ${out}: ${names.join(", ")}`,
      `deploy:   ${secrets.map((s) => `${s}=... `).join("")}${join(out, "deploy.sh")}`,
      `teardown: ${join(out, "teardown.sh")}`,
      "",
    ].join("\n"),
  );
  return EXIT_OK;
}

/** Adds `export` to the CLI; `cli/main.ts` calls this so the command lives with its own code. */
export function registerExport(program: Command): void {
  program
    .command("export")
    .description("write the plan as shell scripts: <node>.sh per node, deploy.sh and teardown.sh (run over SSH)")
    .argument("<stack-file>", "stacks/Pulumi.<stack>.yaml")
    .requiredOption("--out <dir>", "directory to write the scripts into (created if missing)")
    .action((file: string, opts: { out: string }) => {
      process.exitCode = exportCommand(file, opts.out);
    });
}
