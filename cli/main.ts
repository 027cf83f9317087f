/**
 * `rocm-vllm`: the offline face of the planner. `plan` prints what `pulumi up` would deploy; `diff` and `export`
 * register themselves from their own modules. One exit-code scheme for every command (`cli/exitCodes.ts`, shown in
 * each command's `--help`).
 */
import { Command, CommanderError } from "commander";
import pkg from "../package.json";
import { formatProblems } from "../planner/problems";
import { displayText } from "../planner/redact";
import type { Problem } from "../planner/types";
import { colorEnabled } from "./color";
import { registerDiff } from "./diff";
import { EXIT, EXIT_CODES_HELP } from "./exitCodes";
import { registerExport } from "./export";
import { apiKeyOption, hfTokenOption, stackOptions } from "./options";
import { renderPlan } from "./renderPlan";
import { InputError, planStackFile, STDIN_NAME, UsageError } from "./stackFile";

export { EXIT };

/** Writes problems to stderr, one line each, and returns the invalid-config exit code. */
export function reportProblems(problems: readonly Problem[]): number {
  process.stderr.write(`${formatProblems([...problems])}\n`);
  return EXIT.invalid;
}

interface PlanOptions {
  json?: boolean;
  stack?: string;
  color?: boolean;
  hfToken?: boolean;
  apiKey?: boolean;
}

function planCommand(file: string, opts: PlanOptions): number {
  const result = planStackFile(file, opts);
  if (!result.ok) {
    if (!opts.json) return reportProblems(result.problems);
    // Scripts parse stdout: the problems as JSON there, with the same exit code.
    process.stdout.write(`${JSON.stringify({ problems: result.problems }, null, 2)}\n`);
    return EXIT.invalid;
  }
  const shown = file === "-" ? STDIN_NAME : file;
  process.stdout.write(
    opts.json
      ? `${JSON.stringify(result.plan, null, 2)}\n`
      : renderPlan(result.plan, shown, colorEnabled(process.stdout, process.env, opts.color)),
  );
  return EXIT.ok;
}

/** Builds the program; commands set `process.exitCode`. */
export function buildProgram(): Command {
  const program = new Command("rocm-vllm")
    .description("Plan, diff and export tuned vLLM deployments on AMD Instinct GPUs from a Pulumi stack config")
    .version(`rocm-vllm ${pkg.version}`, "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // Commander quotes what was typed (`unknown option '--hf-token=hf_…'`): masked like every other message.
      outputError: (s, write) =>
        write(
          s
            .split("\n")
            .map((line) => displayText(line, 400))
            .join("\n"),
        ),
    })
    .addHelpText("after", EXIT_CODES_HELP);
  stackOptions(
    program
      .command("plan")
      .description("print the deployment plan of a stack file (containers per node, vllm serve argv, memory, warnings)")
      .argument("<stack-file>", "stacks/Pulumi.<stack>.yaml, or - to read it from stdin (with --stack)")
      .option("--json", "print the plan as one JSON object; an invalid config as {problems: [...]}")
      .addOption(hfTokenOption())
      .addOption(apiKeyOption()),
  ).action((file: string, opts: PlanOptions) => {
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
      // Help and --version end with code 0; every other commander error is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (e instanceof UsageError) {
      process.stderr.write(`rocm-vllm: ${e.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (e instanceof InputError) {
      process.stderr.write(`rocm-vllm: ${e.message}\n`);
      process.exitCode = EXIT.invalid;
    } else {
      throw e;
    }
  }
}
