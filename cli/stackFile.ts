/**
 * Reads a stack file and plans it: the step every CLI command starts with. Problems come back as data so each
 * command prints them the same way (one line each, exit 1).
 *
 * `-` reads the stack from stdin. The stack's name (label `rocm-vllm.stack` on every container) is `<stack>` of
 * `Pulumi.<stack>.yaml`, the name `pulumi.getStack()` gives the Pulumi program for that file; `--stack` overrides it
 * and is required with `-`.
 */
import { readFileSync } from "node:fs";
import { parseStackYaml, stackNameFromFile } from "../planner/config/load";
import { planLoaded, type StackPlan } from "../planner/stack";

export type { StackPlan };

/** How a command was asked to read its stack. */
export interface StackOptions {
  /** The stack's name; default: from the file name. */
  stack?: string;
  /** Plan as if `rocm-vllm:hfToken` were set: exported scripts take `HF_TOKEN` from deploy.sh's environment. */
  hfToken?: boolean;
  /** Plan as if `rocm-vllm:apiKey` were set: exported scripts take `VLLM_API_KEY` from deploy.sh's environment. */
  apiKey?: boolean;
}

/** Plans a stack from its YAML text. */
export function planStackText(text: string, file: string, opts: StackOptions = {}): StackPlan {
  const loaded = parseStackYaml(text, file, opts.stack ?? stackNameFromFile(file));
  return planLoaded(loaded, (config) => ({
    ...config,
    ...(opts.hfToken ? { hasHfToken: true } : {}),
    ...(opts.apiKey ? { hasApiKey: true } : {}),
  }));
}

/** A command line that cannot be run as given (exit 64). */
export class UsageError extends Error {}

/** An input that cannot be used: a file that cannot be read, a refused output directory (exit 1). */
export class InputError extends Error {}

/** What `-` is called in messages. */
export const STDIN_NAME = "stdin";

/** The text of a stack file, `-` being stdin. */
export function readStackText(file: string, opts: StackOptions = {}): { text: string; name: string } {
  if (file === "-") {
    if (opts.stack === undefined) {
      throw new UsageError("reading the stack from stdin (-): name the stack with --stack <name>");
    }
    try {
      return { text: readFileSync(0, "utf8"), name: STDIN_NAME };
    } catch (e) {
      throw new InputError(`cannot read stdin: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  try {
    return { text: readFileSync(file, "utf8"), name: file };
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Plans a stack file from disk (`-`: stdin). */
export function planStackFile(file: string, opts: StackOptions = {}): StackPlan {
  const { text, name } = readStackText(file, opts);
  return planStackText(text, name, opts);
}
