/**
 * Changed planned values behind the config changes: per deployment the `vllm serve` flags and the container
 * environment that differ (`llama70b argv: --max-num-seqs 256 → 128`, `llama70b env NCCL_DEBUG: (unset) → INFO`),
 * other container settings, endpoints and warnings. A change that applies to every container of a deployment is
 * shown once under the deployment's name; one that applies to some is shown per `<deployment>@<node>`.
 */
import { GENERATION_ENV } from "../kinds/containers";
import type { ContainerSpec, Warning } from "../types";
import { same, toJson } from "./jsonValues";
import { type DeploymentParts, type PlanParts, servingArgv, union } from "./planParts";
import type { Change, JsonValue } from "./types";

/** `vllm serve` argv as flag → rendered occurrence (`--max-num-seqs 256`); the model is under `(model)`. */
export function argvFlags(argv: readonly string[]): Map<string, string> {
  const rest = argv[0] === "vllm" && argv[1] === "serve" ? argv.slice(2) : argv;
  const groups = new Map<string, string[]>();
  let key = "(model)";
  for (const token of rest) {
    if (/^--?[A-Za-z]/.test(token)) {
      const eq = token.indexOf("=");
      key = eq > 0 ? token.slice(0, eq) : token;
      const values = groups.get(key) ?? [];
      values.push(key);
      if (eq > 0) values.push(token.slice(eq + 1));
      groups.set(key, values);
    } else {
      groups.set(key, [...(groups.get(key) ?? []), token]);
    }
  }
  return new Map([...groups].map(([k, v]) => [k, v.join(" ")]));
}

interface Subject {
  subject: string;
  before: JsonValue;
  after: JsonValue;
}

const SETTINGS = [
  "devices",
  "groupAdd",
  "ipcMode",
  "shmSizeMb",
  "securityOpt",
  "capAdd",
  "ulimits",
  "volumes",
  "secretEnv",
  "ports",
] as const;

function containerSubjects(a: ContainerSpec, b: ContainerSpec, bd: DeploymentParts, hd: DeploymentParts): Subject[] {
  const out: Subject[] = [];
  if (a.name !== b.name) out.push({ subject: "container name", before: a.name, after: b.name });
  const argvA = servingArgv(a, bd);
  const argvB = servingArgv(b, hd);
  if (argvA && argvB && !same(argvA, argvB)) {
    const fa = argvFlags(argvA);
    const fb = argvFlags(argvB);
    for (const flag of union(fb.keys(), fa.keys())) {
      const before = fa.get(flag) ?? null;
      const after = fb.get(flag) ?? null;
      if (before !== after) out.push({ subject: "argv", before, after });
    }
  }
  for (const key of union(Object.keys(b.env), Object.keys(a.env)).sort()) {
    // The group's generation changes whenever any member does; the impact says so once, per container.
    if (key === GENERATION_ENV) continue;
    if (a.env[key] !== b.env[key])
      out.push({ subject: `env ${key}`, before: a.env[key] ?? null, after: b.env[key] ?? null });
  }
  for (const field of SETTINGS) {
    if (!same(a[field], b[field])) out.push({ subject: field, before: toJson(a[field]), after: toJson(b[field]) });
  }
  return out;
}

function deploymentChanges(bd: DeploymentParts, hd: DeploymentParts, nodeCount: Map<string, number>): Change[] {
  const common = [...hd.containers.keys()].filter((k) => bd.containers.has(k));
  // Argv is compared on the containers that run `vllm serve` (not on Ray workers), everything else on all of them.
  const serving = common.filter((k) => {
    const a = bd.containers.get(k)?.spec as ContainerSpec;
    const b = hd.containers.get(k)?.spec as ContainerSpec;
    return servingArgv(a, bd) !== undefined && servingArgv(b, hd) !== undefined;
  });
  const groups = new Map<string, { s: Subject; keys: string[] }>();
  for (const key of common) {
    const a = bd.containers.get(key)?.spec as ContainerSpec;
    const b = hd.containers.get(key)?.spec as ContainerSpec;
    for (const s of containerSubjects(a, b, bd, hd)) {
      const id = JSON.stringify([s.subject, s.before, s.after]);
      const g = groups.get(id) ?? { s, keys: [] };
      g.keys.push(key);
      groups.set(id, g);
    }
  }
  const out: Change[] = [];
  for (const { s, keys } of groups.values()) {
    const applicable = s.subject === "argv" ? serving : common;
    const where =
      keys.length === applicable.length
        ? [hd.name]
        : keys.map((k) => {
            const c = hd.containers.get(k)?.spec as ContainerSpec;
            const node = hd.containers.get(k)?.node as string;
            return (nodeCount.get(`${hd.name}@${node}`) ?? 0) > 1
              ? `${hd.name}@${node}/r${c.replica}`
              : `${hd.name}@${node}`;
          });
    for (const w of where) out.push({ path: `${w} ${s.subject}`, before: s.before, after: s.after });
  }
  return out;
}

function warningKey(w: Warning): string {
  return `warning ${w.code} at ${w.path}`;
}

/** Planned-value changes from `base` to `head`, for deployments present on both sides. */
export function planChanges(
  base: PlanParts,
  head: PlanParts,
  warnings: { base: Warning[]; head: Warning[] },
): Change[] {
  const out: Change[] = [];
  for (const [name, hd] of head.deployments) {
    const bd = base.deployments.get(name);
    if (!bd) continue;
    const nodeCount = new Map<string, number>();
    for (const c of hd.containers.values()) {
      nodeCount.set(`${name}@${c.node}`, (nodeCount.get(`${name}@${c.node}`) ?? 0) + 1);
    }
    out.push(...deploymentChanges(bd, hd, nodeCount));
    if (!same(bd.endpoints, hd.endpoints))
      out.push({ path: `${name} endpoints`, before: bd.endpoints, after: hd.endpoints });
  }
  const before = new Map(warnings.base.map((w) => [warningKey(w), w.message]));
  const after = new Map(warnings.head.map((w) => [warningKey(w), w.message]));
  for (const key of union(after.keys(), before.keys())) {
    const a = before.get(key) ?? null;
    const b = after.get(key) ?? null;
    if (a !== b) out.push({ path: key, before: a, after: b });
  }
  return out;
}
