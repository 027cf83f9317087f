/**
 * `rocm-vllm`: the offline face of the planner. `plan` prints what `pulumi up` would deploy; `diff` and `export`
 * register themselves from their own modules. Exit codes: 0 ok, 1 invalid config, 2 usage error (and 2 for `diff`
 * when something changes).
 */
import { Command, CommanderError } from "commander";
import { formatProblems } from "../planner/problems";
import { registerDiff } from "./diff";
import { registerExport } from "./export";
import { renderPlan } from "./renderPlan";
import { planStackFile, UsageError } from "./stackFile";

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

/** Writes problems to stderr, one line each, and returns the invalid-config exit code. */
export function reportProblems(problems: Parameters<typeof formatProblems>[0]): number {
  process.stderr.write(`${formatProblems(problems)}\n`);
  return EXIT.invalid;
}

function planCommand(file: string, opts: { json?: boolean }): number {
  const result = planStackFile(file);
  if (!result.ok) return reportProblems(result.problems);
  process.stdout.write(opts.json ? `${JSON.stringify(result.plan, null, 2)}\n` : renderPlan(result.plan, file));
  return EXIT.ok;
}

/** Builds the program; commands set `process.exitCode`. */
export function buildProgram(): Command {
  const program = new Command("rocm-vllm")
    .description("Plan, diff and export tuned vLLM deployments on AMD Instinct GPUs from a Pulumi stack config")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command("plan")
    .description("print the deployment plan of a stack file (containers per node, vllm serve argv, memory, warnings)")
    .argument("<stack-file>", "stacks/Pulumi.<stack>.yaml")
    .option("--json", "print the plan as one JSON object")
    .action((file: string, opts: { json?: boolean }) => {
      process.exitCode = planCommand(file, opts);
    });
  registerDiff(program);
  registerExport(program);
  return program;
}

/** Runs the CLI; never prints a stack trace for a config or usage error. */
export function run(argv: string[]): void {
  const program = buildProgram();
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (e instanceof UsageError) {
      process.stderr.write(`rocm-vllm: ${e.message}\n`);
      process.exitCode = EXIT.usage;
    } else {
      throw e;
    }
  }
}
