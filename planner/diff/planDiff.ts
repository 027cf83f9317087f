/**
 * `rocm-vllm diff` without I/O: two versions of a stack (config, plan, secret fingerprints) in, the changed settings,
 * the impact per node and per deployment on each node, and a one-line summary out. Same inputs, same result.
 */
import { configChanges } from "./configChanges";
import { impactOf, rolloutWords } from "./impact";
import { planChanges } from "./planChanges";
import { planParts } from "./planParts";
import type { Impact, ImpactAction, StackDiff, StackSide } from "./types";

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

function phrase(action: ImpactAction, nodes: number, containers: number): string {
  const on = `on ${plural(nodes, "node")}`;
  switch (action) {
    case "deployment added":
      return `added ${on} (model load)`;
    case "deployment removed":
      return `removed from ${plural(nodes, "node")}`;
    case "re-form the Ray cluster":
      return `re-form Ray cluster ${on} (model reload)`;
    case "re-form the native multi-node group":
      return `re-form native multi-node group ${on} (model reload)`;
    case "re-form the data-parallel group":
      return `re-form data-parallel group ${on} (model reload)`;
    case "restart serving process":
      return `restart ${containers === 1 ? "serving process" : `${containers} serving processes`} ${on} (model reload)`;
    case "start serving process":
    case "stop serving process":
      return `${action.split(" ")[0]} ${plural(containers, "serving process", "serving processes")} ${on}`;
    case "in place":
      return `in place ${on} (no restart)`;
    default:
      return `${action} ${on}`;
  }
}

const RESTARTS = new Set<ImpactAction>([
  "restart serving process",
  "re-form the Ray cluster",
  "re-form the data-parallel group",
]);

/**
 * The one-line summary: node changes, then per deployment what restarts where (and, when serving restarts, whether it
 * rolls in waves or restarts all at once), then the number of image pulls.
 */
export function summarize(
  impact: readonly Impact[],
  imagePulls: number,
  changed: boolean,
  rollouts: ReadonlyMap<string, string> = new Map(),
): string {
  if (!changed) return "no change";
  const parts: string[] = [];
  for (const i of impact) {
    if (i.target.includes("@")) continue;
    if (i.action === "node added" || i.action === "node removed") parts.push(`${i.target} ${i.action.split(" ")[1]}`);
  }
  const byDeployment = new Map<string, Impact[]>();
  for (const i of impact) {
    const at = i.target.indexOf("@");
    if (at < 0 || i.action === "no change") continue;
    const name = i.target.slice(0, at);
    byDeployment.set(name, [...(byDeployment.get(name) ?? []), i]);
  }
  for (const [name, entries] of byDeployment) {
    const actions = [...new Set(entries.map((e) => e.action))];
    const phrases = actions.map((action) => {
      const mine = entries.filter((e) => e.action === action);
      return phrase(action, new Set(mine.map((e) => e.target)).size, mine.flatMap((e) => e.containers).length);
    });
    const how = actions.some((a) => RESTARTS.has(a)) ? rollouts.get(name) : undefined;
    parts.push(`${name}: ${[...phrases, ...(how ? [how] : [])].join(", ")}`);
  }
  if (parts.length === 0) parts.push("nothing restarts");
  return [...parts, plural(imagePulls, "image pull")].join("; ");
}

/**
 * Compares two versions of a stack. `undefined` on one side is a stack file that is added (no base) or deleted (no
 * head): every node and deployment is then added or removed.
 */
export function planDiff(base: StackSide | undefined, head: StackSide | undefined): StackDiff {
  const before = planParts(base?.plan, base?.secrets);
  const after = planParts(head?.plan, head?.secrets);
  const changes = [
    ...configChanges(base, head),
    ...planChanges(before, after, { base: base?.plan.warnings ?? [], head: head?.plan.warnings ?? [] }),
  ];
  const { impact, imagePulls, hazards } = impactOf(before, after);
  const changed = changes.length > 0 || impact.some((i) => i.action !== "no change");
  const rollouts = new Map([...after.deployments].map(([name, d]) => [name, rolloutWords(d)]));
  return { changes, impact, hazards, summary: summarize(impact, imagePulls, changed, rollouts), changed };
}
