/**
 * What applying a change does to the cluster, per node and per deployment on each node, derived only from comparing
 * the two plans part by part (`planParts`) the way the Pulumi program maps them to resources:
 *
 * - a GPU container whose Docker inputs differ is replaced (delete, then create under the same name): its serving
 *   process restarts and reloads the model;
 * - containers of a Ray cluster, a native multi-node engine or a data-parallel replica spanning containers carry the
 *   `rocm-vllm.generation` label, a hash of the whole group, so when one changes every one of them is replaced: the
 *   group is re-formed (also when the executor switches between Ray and native: the same nodes, re-formed);
 * - a node's image pull under a new reference is a new pull, and containers run the pulled image's ID, so an image
 *   change replaces every container on the node;
 * - readiness gates, smoke tests, jobs and preflight are SSH commands: a changed script or connection updates them in
 *   place and runs them again, without touching the containers;
 * - a job also runs again when its trigger (a hash of what it depends on) changes.
 */
import { GENERATION_ENV } from "../kinds/containers";
import { LABELS } from "../plan";
import { memberCommand, supervisorConfig } from "../scripts/supervisor";
import type { ContainerSpec, DeploymentKind, JobPlan, NodePlan } from "../types";
import { same } from "./jsonValues";
import {
  commandConnection,
  containerInputs,
  type DeploymentParts,
  type Gate,
  nodeImages,
  type PlacedSpec,
  type PlanParts,
  providerInputs,
  servingArgv,
  union,
} from "./planParts";
import { type Impact, type ImpactAction, SECRET_OF_ENV, type SecretFingerprints } from "./types";

export interface ImpactResult {
  impact: Impact[];
  /** Image pulls `pulumi up` would run (new or changed references, on new and existing nodes). */
  imagePulls: number;
  /** Changes `pulumi up` cannot apply in one update (see `handoverHazards`). */
  hazards: string[];
}

type Status = "same" | "replaced" | "started" | "stopped" | "updated";

const JOB_WORDS: Record<string, string> = { weights: "weights download", benchmark: "benchmark" };

function list(items: readonly string[]): string {
  return items.join(", ");
}

function changedKeys(a: Record<string, string>, b: Record<string, string>): string[] {
  return union(Object.keys(b), Object.keys(a))
    .filter((k) => a[k] !== b[k])
    .sort();
}

/** What re-forming a deployment's group of containers is called, per kind (kinds whose replicas are one container: none). */
const GROUPS: Record<DeploymentKind, { action: ImpactAction; words: string } | undefined> = {
  "single-node": undefined,
  ray: { action: "re-form the Ray cluster", words: "Ray cluster" },
  "native-multi-node": { action: "re-form the native multi-node group", words: "native multi-node group" },
  "data-parallel": { action: "re-form the data-parallel group", words: "data-parallel group" },
};

/** The kind of a deployment in words, for added and removed deployments. */
const KIND_WORDS: Record<DeploymentKind, string> = {
  "single-node": "single-node",
  ray: "Ray cluster",
  "native-multi-node": "native multi-node",
  "data-parallel": "data-parallel",
};

/** Why a container's Docker inputs differ, in words. */
function containerReason(
  before: ContainerSpec,
  after: ContainerSpec,
  base: { d?: DeploymentParts; secrets: SecretFingerprints },
  head: { d?: DeploymentParts; secrets: SecretFingerprints },
): string {
  const why: string[] = [];
  if (base.d && head.d && base.d.kind !== head.d.kind) why.push(`kind ${base.d.kind} → ${head.d.kind}`);
  if (before.name !== after.name) why.push(`renamed ${before.name} → ${after.name}`);
  if (before.image !== after.image) why.push("new image");
  const argvBefore = servingArgv(before, base.d);
  const argvAfter = servingArgv(after, head.d);
  const argvChanged = argvBefore !== undefined && argvAfter !== undefined && !same(argvBefore, argvAfter);
  if (argvChanged) why.push("vllm serve arguments changed");
  const supervised = [supervisorConfig(before.command), supervisorConfig(after.command)];
  const mainBefore = memberCommand(before.command);
  const mainAfter = memberCommand(after.command);
  if (!same(before.entrypoint, after.entrypoint) || (!argvChanged && !same(mainBefore, mainAfter))) {
    why.push(after.role.startsWith("ray") ? "launch script changed" : "command changed");
  }
  const [sb, sa] = supervised.map((c) => (c ? { ...c, main: [] } : undefined));
  if (!same(sb, sa)) why.push("member supervisor settings changed (healing, readiness time or stop grace)");
  const env = changedKeys(before.env, after.env).filter((k) => k !== GENERATION_ENV);
  if (env.length > 0) why.push(`env changed (${list(env)})`);
  if (!same(before.secretEnv, after.secretEnv)) why.push(`secret env changed (${list(after.secretEnv) || "none"})`);
  else {
    for (const name of after.secretEnv) {
      const key = SECRET_OF_ENV.get(name);
      if (key && base.secrets[key] !== head.secrets[key]) {
        why.push(`rocm-vllm:${key} changed (replaced only if its value changed)`);
      }
    }
  }
  const labels = changedKeys(before.labels, after.labels);
  const fields = (
    [
      "devices",
      "groupAdd",
      "ipcMode",
      "networkMode",
      "shmSizeMb",
      "securityOpt",
      "capAdd",
      "ulimits",
      "volumes",
      "init",
      "stopGraceSeconds",
      "healthcheck",
    ] as const
  ).filter((f) => !same(before[f], after[f]));
  if (fields.length > 0) why.push(`${list(fields)} changed`);
  if (labels.some((l) => l !== LABELS.generation)) why.push("labels changed");
  else if (labels.length > 0 && why.length === 0) {
    const group = head.d ? GROUPS[head.d.kind]?.words : undefined;
    why.push(`generation label changed: another container of its ${group ?? "group"} changed`);
  }
  return why.length > 0 ? list(why) : "restart policy changed";
}

/** Replace, in-place update or nothing, from the container's Docker inputs. */
function containerStatus(
  before: PlacedSpec | undefined,
  after: PlacedSpec | undefined,
  base: PlanParts,
  head: PlanParts,
) {
  if (!before) return "started";
  if (!after) return "stopped";
  const a = containerInputs(before.spec, base.secrets);
  const b = containerInputs(after.spec, head.secrets);
  if (!same(a, b)) return "replaced";
  return before.spec.restart === after.spec.restart ? "same" : "updated";
}

interface ContainerOutcome {
  node: string;
  name: string;
  action: ImpactAction;
  reason: string;
  replica: number;
}

/** The action for a GPU container that is replaced, started or stopped. */
function containerAction(
  status: Exclude<Status, "same" | "updated">,
  spec: ContainerSpec,
  headGroup: ContainerSpec | undefined,
  headKind: DeploymentKind,
): ImpactAction {
  // A container that leaves a group which still exists is part of re-forming it; one that leaves with its group is not.
  const group = status === "stopped" ? headGroup : spec;
  const reform = GROUPS[headKind]?.action;
  if (reform && group && LABELS.generation in group.labels) return reform;
  return status === "replaced"
    ? "restart serving process"
    : status === "started"
      ? "start serving process"
      : "stop serving process";
}

/** `k/W` when a rolling update replaces the container in its wave k of W. */
function rolledIn(d: DeploymentParts, placed: PlacedSpec): string | undefined {
  if (d.rollout.strategy !== "rolling") return undefined;
  const k = d.rollout.waves.findIndex((w) =>
    w.containers.some((c) => c.node === placed.node && c.name === placed.spec.name),
  );
  return k < 0 ? undefined : `${k + 1}/${d.rollout.waves.length}`;
}

/**
 * How the restarts of a deployment reach its replicas, for the summary: in waves (how many, how many keep serving),
 * or all at once and why.
 */
export function rolloutWords(d: DeploymentParts): string {
  const r = d.rollout;
  const replicas = r.waves.reduce((n, w) => n + w.replicas.length, 0);
  if (r.strategy === "rolling") {
    return `rolling in ${r.waves.length} waves, at least ${replicas - r.maxUnavailable} of ${replicas} replicas serving`;
  }
  return replicas === 1 ? "one replica: cannot roll" : "all replicas at once";
}

function gateReason(before: Gate | undefined, after: Gate | undefined, connectionChanged: boolean): string {
  const kind = (after ?? before)?.kind === "smoke test" ? "smoke test" : "readiness gate";
  if (!before) return `${kind} added`;
  if (!after) return `${kind} removed`;
  const a = before.check as unknown as Record<string, unknown>;
  const b = after.check as unknown as Record<string, unknown>;
  const fields = union(Object.keys(b), Object.keys(a)).filter((k) => k !== "script" && !same(a[k], b[k]));
  const what = fields.map((f) => `${f} ${String(a[f])} → ${String(b[f])}`);
  if (what.length === 0) what.push(connectionChanged ? "SSH connection changed" : "script changed");
  return `${kind} updated (${list(what)})`;
}

/** Said once after the gates of an "in place" entry. */
const gatesRerun = (n: number) =>
  `${n === 1 ? "it runs" : "they run"} again against the running containers, which keep running`;

function jobReason(before: JobPlan, after: JobPlan, baseSecrets: SecretFingerprints, headSecrets: SecretFingerprints) {
  const role = after.container.role;
  if (before.trigger !== after.trigger) {
    return role === "weights"
      ? "its trigger changed (image, model, draft model or revision)"
      : "its trigger changed (the deployment's containers or the benchmark settings)";
  }
  if (!same(containerInputs(before.container, baseSecrets), containerInputs(after.container, headSecrets))) {
    return "its container changed";
  }
  return "SSH connection or key changed (commands run again on update)";
}

interface Side {
  parts: PlanParts;
  d?: DeploymentParts;
}

function nodeOrder(base: PlanParts, head: PlanParts): string[] {
  return union(head.nodes.keys(), base.nodes.keys());
}

/** Nodes a deployment touches on either side, in cluster node order. */
function deploymentNodes(order: string[], ...ds: (DeploymentParts | undefined)[]): string[] {
  const used = new Set<string>();
  for (const d of ds) {
    if (!d) continue;
    for (const m of [d.containers, d.services, d.jobs, d.gates]) for (const v of m.values()) used.add(v.node);
  }
  return order.filter((n) => used.has(n));
}

function namesOn(d: DeploymentParts, node: string): string[] {
  return [...d.containers.values(), ...d.services.values()].filter((c) => c.node === node).map((c) => c.spec.name);
}

function deploymentImpact(name: string, order: string[], base: Side, head: Side): Impact[] {
  const out: Impact[] = [];
  const bd = base.d;
  const hd = head.d;
  if (!bd || !hd) {
    const d = (hd ?? bd) as DeploymentParts;
    const action: ImpactAction = hd ? "deployment added" : "deployment removed";
    for (const node of deploymentNodes(order, d)) {
      const names = namesOn(d, node);
      const verb = hd ? "starts" : "stops";
      const reason = `${KIND_WORDS[d.kind]} deployment ${verb} ${names.length} container${names.length === 1 ? "" : "s"} here`;
      out.push({ target: `${name}@${node}`, action, reason, containers: names });
    }
    return out;
  }

  const outcomes: ContainerOutcome[] = [];
  const restarted = new Set<number>();
  const headGroups = new Map<number, ContainerSpec>();
  for (const c of hd.containers.values()) if (!headGroups.has(c.spec.replica)) headGroups.set(c.spec.replica, c.spec);
  for (const key of union(hd.containers.keys(), bd.containers.keys())) {
    const before = bd.containers.get(key);
    const after = hd.containers.get(key);
    const status = containerStatus(before, after, base.parts, head.parts);
    const placed = (after ?? before) as PlacedSpec;
    if (status === "same") continue;
    if (status === "updated") {
      outcomes.push({
        node: placed.node,
        name: placed.spec.name,
        action: "in place",
        reason: "restart policy changed (updated without a restart)",
        replica: placed.spec.replica,
      });
      continue;
    }
    restarted.add(placed.spec.replica);
    const reason =
      status === "replaced"
        ? containerReason(
            (before as PlacedSpec).spec,
            (after as PlacedSpec).spec,
            { d: bd, secrets: base.parts.secrets },
            { d: hd, secrets: head.parts.secrets },
          )
        : status === "started"
          ? "new container"
          : "container removed";
    const action = containerAction(status, placed.spec, headGroups.get(placed.spec.replica), hd.kind);
    const wave = status === "replaced" ? rolledIn(hd, placed) : undefined;
    outcomes.push({
      node: placed.node,
      name: placed.spec.name,
      action,
      reason: wave ? `${reason}; rolled in wave ${wave}` : reason,
      replica: placed.spec.replica,
    });
  }

  for (const key of union(hd.services.keys(), bd.services.keys())) {
    const before = bd.services.get(key);
    const after = hd.services.get(key);
    const placed = (after ?? before) as PlacedSpec;
    if (!before || !after) {
      const action = after ? "start load balancer" : "stop load balancer";
      outcomes.push({
        node: placed.node,
        name: placed.spec.name,
        action,
        reason: after ? "new balancer container" : "balancer removed",
        replica: 0,
      });
    } else if (
      !same(containerInputs(before.spec, base.parts.secrets), containerInputs(after.spec, head.parts.secrets))
    ) {
      const reason = same(before.spec.command, after.spec.command)
        ? containerReason(before.spec, after.spec, { secrets: base.parts.secrets }, { secrets: head.parts.secrets })
        : "nginx config changed (upstreams or port)";
      outcomes.push({ node: placed.node, name: placed.spec.name, action: "restart load balancer", reason, replica: 0 });
    }
  }

  const others: { node: string; action: ImpactAction; reason: string }[] = [];
  for (const key of union(hd.jobs.keys(), bd.jobs.keys())) {
    const before = bd.jobs.get(key);
    const after = hd.jobs.get(key);
    const placed = (after ?? before) as { node: string; job: JobPlan };
    const words = JOB_WORDS[placed.job.container.role] ?? placed.job.container.role;
    const conn = (p: PlanParts) => commandConnection(p.nodes.get(placed.node), p.secrets);
    if (!before) others.push({ node: placed.node, action: `run ${words}` as ImpactAction, reason: "new job" });
    else if (!after) {
      others.push({ node: placed.node, action: `drop ${words}` as ImpactAction, reason: "no longer planned" });
    } else {
      const a = { ...containerInputs(before.job.container, base.parts.secrets), trigger: before.job.trigger };
      const b = { ...containerInputs(after.job.container, head.parts.secrets), trigger: after.job.trigger };
      if (!same(a, b) || !same(conn(base.parts), conn(head.parts))) {
        const reason = jobReason(before.job, after.job, base.parts.secrets, head.parts.secrets);
        others.push({ node: placed.node, action: `re-run ${words}` as ImpactAction, reason });
      }
    }
  }

  for (const key of union(hd.gates.keys(), bd.gates.keys())) {
    const before = bd.gates.get(key);
    const after = hd.gates.get(key);
    const gate = (after ?? before) as Gate;
    // A gate of a replica whose containers are replaced runs again anyway (its triggers are the container IDs).
    if (restarted.has(gate.replica)) continue;
    const conn = (p: PlanParts) => commandConnection(p.nodes.get(gate.node), p.secrets);
    const connectionChanged = !same(conn(base.parts), conn(head.parts));
    if (before && after && same(before, after) && !connectionChanged) continue;
    others.push({ node: gate.node, action: "in place", reason: gateReason(before, after, connectionChanged) });
  }

  for (const node of deploymentNodes(order, bd, hd)) {
    const target = `${name}@${node}`;
    const here = outcomes.filter((o) => o.node === node);
    const actions = union(
      here.map((o) => o.action),
      others.filter((o) => o.node === node).map((o) => o.action),
    );
    if (actions.length === 0) {
      out.push({ target, action: "no change", reason: "nothing this deployment runs here changes", containers: [] });
      continue;
    }
    for (const action of actions) {
      const mine = here.filter((o) => o.action === action);
      const reasons = [
        ...new Set([
          ...mine.map((o) => o.reason),
          ...others.filter((o) => o.node === node && o.action === action).map((o) => o.reason),
        ]),
      ];
      let reason =
        reasons.length === 1 || mine.length === 0
          ? list(reasons)
          : mine.map((o) => `${o.name}: ${o.reason}`).join("; ");
      if (action === "in place" && mine.length === 0) reason += `; ${gatesRerun(reasons.length)}`;
      out.push({ target, action, reason, containers: mine.map((o) => o.name) });
    }
  }
  return out;
}

function nodeImpact(name: string, base: PlanParts, head: PlanParts): { impact: Impact[]; pulls: number } {
  const b = base.nodes.get(name);
  const h = head.nodes.get(name);
  const entry = (action: ImpactAction, reason: string): Impact => ({ target: name, action, reason, containers: [] });
  if (!b || !h) {
    const node = (h ?? b) as NodePlan;
    const images = [...nodeImages(node, (h ? head : base).clusterImage).values()];
    if (h) {
      const pulls = images.length > 0 ? `pulls ${list(images)}` : "pulls nothing (no container is placed on it)";
      return {
        impact: [entry("node added", `new Docker provider for ${node.host}; ${pulls}`)],
        pulls: images.length,
      };
    }
    return {
      impact: [entry("node removed", "its containers are removed; pulled images stay on the node (keepLocally)")],
      pulls: 0,
    };
  }
  const impact: Impact[] = [];
  let pulls = 0;
  const providerChanged = !same(providerInputs(b, base), providerInputs(h, head));
  if (providerChanged) {
    impact.push(
      entry("in place", "SSH settings or registry login changed: the node's Docker provider is reconfigured"),
    );
  }
  const bi = nodeImages(b, base.clusterImage);
  const hi = nodeImages(h, head.clusterImage);
  for (const key of union(hi.keys(), bi.keys())) {
    const before = bi.get(key);
    const after = hi.get(key);
    if (before === after) continue;
    if (before && after) impact.push(entry("re-pull image", `${before} → ${after}`));
    else if (after) impact.push(entry("pull image", `${after} (newly used on this node)`));
    else impact.push(entry("release image", `${before} is no longer used (it stays on the node: keepLocally)`));
    if (after) pulls++;
  }
  const connectionChanged = !same(commandConnection(b, base.secrets), commandConnection(h, head.secrets));
  if (b.preflight && h.preflight) {
    if (b.preflight.script !== h.preflight.script) {
      impact.push(entry("re-run preflight checks", "preflight script changed (checks or disk needed)"));
    } else if (connectionChanged) {
      impact.push(entry("re-run preflight checks", "SSH connection or key changed (commands run again on update)"));
    }
  } else if (h.preflight) impact.push(entry("run preflight checks", "preflight turned on"));
  else if (b.preflight) impact.push(entry("drop preflight checks", "preflight turned off"));
  if (impact.length === 0) impact.push(entry("no change", "Docker provider, image pulls and preflight unchanged"));
  return { impact, pulls };
}

interface Held {
  identity: string;
  node: string;
  name: string;
  gpus: number[];
  ports: number[];
}

/** Containers and services by program identity (deployment, replica or role, node), with the GPUs and ports they hold. */
function held(parts: PlanParts): Map<string, Held> {
  const out = new Map<string, Held>();
  for (const d of parts.deployments.values()) {
    for (const [key, c] of d.containers) {
      const instance = d.instances.find((i) => i.replica === c.spec.replica);
      const gpus = instance?.placement.find((p) => p.node === c.node)?.gpus ?? [];
      out.set(`${d.name} ${key}`, {
        identity: `${d.name} ${key}`,
        node: c.node,
        name: c.spec.name,
        gpus,
        ports: c.spec.ports,
      });
    }
    for (const [key, c] of d.services) {
      out.set(`${d.name} ${key}`, {
        identity: `${d.name} ${key}`,
        node: c.node,
        name: c.spec.name,
        gpus: [],
        ports: c.spec.ports,
      });
    }
  }
  return out;
}

/**
 * GPUs or ports handed from a container that leaves the program to one with a new identity on the same node. Pulumi
 * creates the new one first and deletes the old one only at the end of the update, so the new one cannot start and
 * its readiness gate times out: such a change needs two updates (README § What restarts when).
 */
export function handoverHazards(base: PlanParts, head: PlanParts): string[] {
  const before = held(base);
  const after = held(head);
  const gone = [...before.values()].filter((h) => !after.has(h.identity));
  const out: string[] = [];
  for (const h of after.values()) {
    if (before.has(h.identity)) continue;
    for (const old of gone.filter((g) => g.node === h.node)) {
      const gpus = h.gpus.filter((g) => old.gpus.includes(g));
      const ports = h.ports.filter((p) => old.ports.includes(p));
      if (gpus.length === 0 && ports.length === 0) continue;
      const named = (word: string, xs: number[]) =>
        xs.length === 0 ? [] : [`${word}${xs.length === 1 ? "" : "s"} ${list(xs.map(String))}`];
      const what = [...named("GPU", gpus), ...named("port", ports)].join(" and ");
      out.push(
        `${h.node}: ${h.name} needs ${what} that ${old.name} holds until the end of the update, so it cannot start; apply this in two updates (remove, pulumi up, then add)`,
      );
    }
  }
  return out;
}

/** The impact of going from `base` to `head`: node entries first, then each deployment on each of its nodes. */
export function impactOf(base: PlanParts, head: PlanParts): ImpactResult {
  const order = nodeOrder(base, head);
  const impact: Impact[] = [];
  let imagePulls = 0;
  for (const node of order) {
    const n = nodeImpact(node, base, head);
    impact.push(...n.impact);
    imagePulls += n.pulls;
  }
  for (const name of union(head.deployments.keys(), base.deployments.keys())) {
    impact.push(
      ...deploymentImpact(
        name,
        order,
        { parts: base, d: base.deployments.get(name) },
        { parts: head, d: head.deployments.get(name) },
      ),
    );
  }
  return { impact, imagePulls, hazards: handoverHazards(base, head) };
}
