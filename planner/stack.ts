/**
 * From a loaded stack config to a plan or the problems that stop it: the step every face (CLI, diff, Pulumi program)
 * takes after loading, so all report the same problems.
 *
 * When the config has shape errors (a refused value, an unknown key), the guide's rules still run on the config with
 * those keys removed, and their problems elsewhere are reported after the shape errors: fixing one problem should
 * not reveal the next one only on the following run.
 */
import type { LoadResult } from "./config/load";
import type { StackConfig } from "./config/schema";
import { buildPlan } from "./plan";
import type { Plan, Problem } from "./types";

export type StackPlan = { ok: true; plan: Plan } | { ok: false; problems: Problem[] };

/** True when `path` is `reported` or lies under it (a key of it, an element of it). */
const within = (path: string, reported: string) =>
  path === reported || path.startsWith(`${reported}.`) || path.startsWith(`${reported}[`);

/**
 * Keys whose removal changes what every other rule computes: with one of them refused, the rules' problems would be
 * consequences of the default that replaced it (a mistyped `parallelism` planned as TP 1 does not fit), not news.
 */
const CLUSTER_KEYS_RULES_NEED = ["gpu", "image", "vllmVersion", "nodes", "modelCache"];
const DEPLOYMENT_KEYS_RULES_NEED = ["model", "modelInfo", "parallelism", "nodes", "replicas", "port"];

/** The deployment (`rocm-vllm:deployments[i]`) whose rules cannot run, `all` when none can, else `undefined`. */
function unreliable(removed: string): string | undefined {
  const cluster = /^rocm-vllm:cluster\.(\w+)/.exec(removed);
  if (cluster) return CLUSTER_KEYS_RULES_NEED.includes(cluster[1] ?? "") ? "all" : undefined;
  const deployment = /^(rocm-vllm:deployments\[\d+\])(?:\.(\w+))?/.exec(removed);
  if (!deployment) return "all";
  return deployment[2] === undefined || DEPLOYMENT_KEYS_RULES_NEED.includes(deployment[2]) ? deployment[1] : undefined;
}

export function planLoaded(loaded: LoadResult, adjust: (c: StackConfig) => StackConfig = (c) => c): StackPlan {
  if (loaded.ok) {
    const { plan, problems } = buildPlan(adjust(loaded.config));
    return problems.length > 0 ? { ok: false, problems } : { ok: true, plan };
  }
  if (!loaded.salvaged) return { ok: false, problems: loaded.problems };
  const skip = loaded.salvaged.removed.map(unreliable).filter((u) => u !== undefined);
  if (skip.includes("all")) return { ok: false, problems: loaded.problems };
  const more = buildPlan(adjust(loaded.salvaged.config)).problems.filter(
    (p) =>
      !skip.some((d) => within(p.path, d)) &&
      !loaded.problems.some((r) => within(p.path, r.path) || within(r.path, p.path)),
  );
  return { ok: false, problems: [...loaded.problems, ...more] };
}
