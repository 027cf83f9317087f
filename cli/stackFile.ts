/**
 * Reads a stack file and plans it: the step every CLI command starts with. Problems come back as data so each
 * command prints them the same way (one line each, exit 1).
 */
import { readFileSync } from "node:fs";
import { parseStackYaml } from "../planner/config/load";
import { buildPlan } from "../planner/plan";
import type { Plan, Problem } from "../planner/types";

export type StackPlan = { ok: true; plan: Plan } | { ok: false; problems: Problem[] };

/** Plans a stack from its YAML text. */
export function planStackText(text: string, file: string): StackPlan {
  const loaded = parseStackYaml(text, file);
  if (!loaded.ok) return { ok: false, problems: loaded.problems };
  const { plan, problems } = buildPlan(loaded.config);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, plan };
}

/** Thrown for a file that cannot be read: a usage error (exit 2), not a config error. */
export class UsageError extends Error {}

/** Plans a stack file from disk. */
export function planStackFile(file: string): StackPlan {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return planStackText(text, file);
}
