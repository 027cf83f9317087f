/**
 * The human-readable `rocm-vllm diff` report: per stack its changed settings (`path: before → after`), the impact per
 * node and per deployment on each node, and a one-line summary. It renders a `StackDiff` and decides nothing.
 */
import { createColors } from "picocolors";
import type { Impact, JsonValue, StackDiff } from "../planner/diff/types";

/** Longest rendering of one value before it is cut (the JSON output always has all of it). */
const MAX_VALUE = 160;

/** A value for people: `(unset)`, plain strings and numbers, compact JSON for lists and objects. */
export function showDiffValue(value: JsonValue): string {
  if (value === null) return "(unset)";
  if (typeof value === "string") return value === "" ? '""' : value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

/** `--max-num-seqs 256 → 128` rather than `--max-num-seqs 256 → --max-num-seqs 128`. */
function showChange(before: JsonValue, after: JsonValue): string {
  if (typeof before === "string" && typeof after === "string") {
    const [fa, ...ra] = before.split(" ");
    const [fb, ...rb] = after.split(" ");
    if (fa === fb && fa.startsWith("-") && ra.length > 0 && rb.length > 0)
      return `${fa} ${ra.join(" ")} → ${rb.join(" ")}`;
  }
  return `${showDiffValue(before)} → ${showDiffValue(after)}`;
}

type Colors = ReturnType<typeof createColors>;

function paint(c: Colors, action: Impact["action"]): string {
  if (action === "no change") return c.dim(action);
  if (action === "in place" || action.startsWith("run ") || action.startsWith("re-run ")) return c.cyan(action);
  if (action.includes("removed") || action.startsWith("stop") || action.startsWith("drop")) return c.red(action);
  if (action.includes("added") || action.startsWith("start") || action.includes("pull")) return c.green(action);
  return c.yellow(action);
}

export interface RenderedStack {
  /** Header: the stack file, with the base it is compared with. */
  title: string;
  diff: StackDiff;
}

/** One stack's report, ending with a newline. */
export function renderStackDiff(stack: RenderedStack, color = false): string {
  const c = createColors(color);
  const { diff } = stack;
  const lines = [c.bold(stack.title)];
  lines.push("  changes:");
  if (diff.changes.length === 0) lines.push(`    ${c.dim("(none)")}`);
  for (const ch of diff.changes) lines.push(`    ${ch.path}: ${showChange(ch.before, ch.after)}`);
  lines.push("  impact:");
  const width = Math.max(0, ...diff.impact.map((i) => i.target.length));
  for (const i of diff.impact) {
    const target = `${i.target}:`.padEnd(width + 1);
    if (i.action === "no change") {
      lines.push(`    ${target} ${paint(c, i.action)}`);
      continue;
    }
    const containers = i.containers.length > 0 ? ` [${i.containers.join(", ")}]` : "";
    lines.push(`    ${target} ${paint(c, i.action)}${containers} — ${i.reason}`);
  }
  for (const h of diff.hazards) lines.push(`  ${c.red("hazard:")} ${h}`);
  lines.push(`  summary: ${diff.summary}`);
  return `${lines.join("\n")}\n`;
}
