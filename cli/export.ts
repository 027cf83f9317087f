/**
 * `rocm-vllm export <stack-file> --out <dir>`: writes the plan as shell scripts (one per node, deploy.sh,
 * teardown.sh). Rendering is `planner/export/shellScripts.ts`; this file only plans the stack and writes files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Command } from "commander";
import { stackNameFromFile } from "../planner/config/load";
import { exportScripts, GENERATED_MARKER, planSecrets, STACK_LINE_PREFIX } from "../planner/export/shellScripts";
import { formatProblems } from "../planner/problems";
import { colorEnabled } from "./color";
import { EXIT } from "./exitCodes";
import { apiKeyOption, hfTokenOption, stackOptions } from "./options";
import { renderWarnings } from "./renderPlan";
import { InputError, planStackFile, STDIN_NAME, UsageError } from "./stackFile";

/** The stack an earlier export's file belongs to, or `undefined` when `export` did not write it. */
function exportedStack(path: string): string | undefined {
  let lines: string[];
  try {
    lines = readFileSync(path, "utf8").split("\n", 6);
  } catch {
    return undefined;
  }
  if (lines[1] !== GENERATED_MARKER) return undefined;
  const named = lines.find((l) => l.startsWith(STACK_LINE_PREFIX));
  if (named) return named.slice(STACK_LINE_PREFIX.length);
  // Exports written before files named their stack: the stack file's name says it.
  const file = /^# Stack file: (.+?)\. Do not edit/.exec(lines[2] ?? "")?.[1];
  return file === undefined ? "(unknown)" : stackNameFromFile(file);
}

export interface ExportOptions {
  out: string;
  force?: boolean;
  stack?: string;
  color?: boolean;
  hfToken?: boolean;
  apiKey?: boolean;
}

/**
 * Writes the scripts into `out` (created if missing) and removes scripts of an earlier export of the same stack that
 * the plan no longer has (a renamed node). Files the tool did not write are never touched; a directory holding
 * another stack's export is refused unless `force`. Returns the exit code.
 */
export function exportCommand(file: string, opts: ExportOptions): number {
  const { out } = opts;
  const planned = planStackFile(file, opts);
  if (!planned.ok) {
    process.stderr.write(`${formatProblems(planned.problems)}\n`);
    return EXIT.invalid;
  }
  const plan = planned.plan;
  const source = file === "-" ? STDIN_NAME : basename(file);
  const result = exportScripts(plan, { source });
  if (!result.ok) {
    process.stderr.write(`${formatProblems(result.problems)}\n`);
    return EXIT.invalid;
  }
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`--out ${out} is not a directory`);
  const names = Object.keys(result.files).sort();
  const earlier = existsSync(out)
    ? readdirSync(out)
        .filter((name) => name.endsWith(".sh"))
        .map((name) => ({ name, stack: exportedStack(join(out, name)) }))
    : [];
  const others = [
    ...new Set(earlier.flatMap((e) => (e.stack !== undefined && e.stack !== plan.stack ? [e.stack] : []))),
  ];
  if (others.length > 0 && !opts.force) {
    const files = earlier.filter((e) => e.stack !== undefined && e.stack !== plan.stack).map((e) => e.name);
    throw new InputError(
      `--out ${out} holds the export of stack ${others.join(", ")} (${files.join(", ")}), not of stack ${plan.stack}: export into another directory, or pass --force to replace it (its teardown.sh goes too)`,
    );
  }
  for (const name of names) {
    const path = join(out, name);
    if (existsSync(path) && exportedStack(path) === undefined) {
      throw new InputError(`${path} exists and was not written by rocm-vllm export; choose another --out`);
    }
  }
  mkdirSync(out, { recursive: true });
  for (const e of earlier) {
    if (!names.includes(e.name) && e.stack !== undefined) unlinkSync(join(out, e.name));
  }
  for (const name of names) writeFileSync(join(out, name), result.files[name] ?? "", { mode: 0o755 });
  const secrets = planSecrets(plan);
  const color = colorEnabled(process.stdout, process.env, opts.color);
  process.stdout.write(
    [
      `wrote ${names.length} scripts for stack ${plan.stack} to ${out}: ${names.join(", ")}`,
      `deploy:   ${secrets.map((s) => `${s}=... `).join("")}${join(out, "deploy.sh")}`,
      `teardown: ${join(out, "teardown.sh")}`,
      ...renderWarnings(plan.warnings, color),
      "",
    ].join("\n"),
  );
  return EXIT.ok;
}

/** Adds `export` to the CLI; `cli/main.ts` calls this so the command lives with its own code. */
export function registerExport(program: Command): void {
  stackOptions(
    program
      .command("export")
      .description("write the plan as shell scripts: <node>.sh per node, deploy.sh and teardown.sh (run over SSH)")
      .usage("<stack-file> --out <dir> [options]")
      .argument("<stack-file>", "stacks/Pulumi.<stack>.yaml, or - to read it from stdin (with --stack)")
      .requiredOption("--out <dir>", "(required) directory to write the scripts into (created if missing)")
      .option("--force", "replace the scripts of another stack found in --out (refused otherwise)")
      .addOption(hfTokenOption())
      .addOption(apiKeyOption()),
  ).action((file: string, opts: ExportOptions) => {
    process.exitCode = exportCommand(file, opts);
  });
}
