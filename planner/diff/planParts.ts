/**
 * A plan cut into the parts the Pulumi program turns into resources, each under the identity the program gives it
 * (see `components/`): a container per deployment, replica and node (`containerLogicalName`), a service or job per
 * deployment, role and node, a readiness gate and a smoke test per replica, and per node its Docker provider, its
 * image pulls (the cluster image under one fixed name) and its preflight. Two plans compared part by part show which
 * resources `pulumi up` would create, replace, update or delete.
 */

import { memberCommand } from "../scripts/supervisor";
import type {
  ContainerSpec,
  DeploymentKind,
  InstancePlan,
  JobPlan,
  NodePlan,
  Plan,
  ReadinessCheck,
  RolloutPlan,
  SmokeTest,
} from "../types";
import { SECRET_OF_ENV, type SecretFingerprints } from "./types";

export interface PlacedSpec {
  node: string;
  spec: ContainerSpec;
}

export interface PlacedJob {
  node: string;
  job: JobPlan;
}

export interface Gate {
  node: string;
  replica: number;
  kind: "readiness" | "smoke test";
  check: ReadinessCheck | SmokeTest;
}

export interface DeploymentParts {
  name: string;
  kind: DeploymentKind;
  /** GPU containers by `r<replica>@<node>`. */
  containers: Map<string, PlacedSpec>;
  /** Load balancers by `<role>@<node>`. */
  services: Map<string, PlacedSpec>;
  /** One-shot jobs by `<role>@<node>`. */
  jobs: Map<string, PlacedJob>;
  /** Readiness gates and smoke tests by `<kind> r<replica>`. */
  gates: Map<string, Gate>;
  instances: InstancePlan[];
  /** URLs clients use (a stack output): the load balancer's, else every instance's. */
  endpoints: string[];
  /** How a change that restarts serving reaches the replicas. */
  rollout: RolloutPlan;
}

export interface PlanParts {
  clusterImage: string;
  /** Registry login of every node's Docker provider (`Plan.cluster.registry`). */
  registry?: Plan["cluster"]["registry"];
  nodes: Map<string, NodePlan>;
  deployments: Map<string, DeploymentParts>;
  secrets: SecretFingerprints;
}

/** Key of a GPU container: the program names it `<component>-r<replica>-<node>`. */
export const containerKey = (replica: number, node: string): string => `r${replica}@${node}`;

/** Cuts a plan into parts; `undefined` (a stack file that does not exist on that side) gives no parts. */
export function planParts(plan: Plan | undefined, secrets: SecretFingerprints = {}): PlanParts {
  const parts: PlanParts = {
    clusterImage: plan?.cluster.image ?? "",
    ...(plan?.cluster.registry ? { registry: plan.cluster.registry } : {}),
    nodes: new Map(),
    deployments: new Map(),
    secrets,
  };
  if (!plan) return parts;
  for (const node of plan.nodes) parts.nodes.set(node.name, node);
  for (const d of plan.deployments) {
    const mine = <T extends { deployment: string }>(x: T) => x.deployment === d.name;
    const dp: DeploymentParts = {
      name: d.name,
      kind: d.kind,
      containers: new Map(),
      services: new Map(),
      jobs: new Map(),
      gates: new Map(),
      instances: d.instances,
      endpoints: d.endpoints,
      rollout: d.rollout,
    };
    for (const node of plan.nodes) {
      for (const spec of node.containers.filter(mine)) {
        dp.containers.set(containerKey(spec.replica, node.name), { node: node.name, spec });
      }
      for (const spec of node.services.filter(mine))
        dp.services.set(`${spec.role}@${node.name}`, { node: node.name, spec });
      for (const job of node.jobs.filter((j) => mine(j.container))) {
        dp.jobs.set(`${job.container.role}@${node.name}`, { node: node.name, job });
      }
    }
    d.readiness.forEach((check, index) => {
      const instance = d.instances.find((i) => i.node === check.node && i.container === check.container);
      const replica = instance?.replica ?? index;
      dp.gates.set(`readiness r${replica}`, { node: check.node, replica, kind: "readiness", check });
    });
    for (const test of d.smokeTests) {
      const replica = d.instances.find((i) => i.node === test.node && i.port === test.port)?.replica ?? 0;
      dp.gates.set(`smoke test r${replica}`, { node: test.node, replica, kind: "smoke test", check: test });
    }
    parts.deployments.set(d.name, dp);
  }
  return parts;
}

/** Argv of the `vllm serve` a container runs: its command, or for a Ray head its instance's argv (inside a script). */
export function servingArgv(spec: ContainerSpec, d: DeploymentParts | undefined): readonly string[] | undefined {
  if (spec.role === "serve" || spec.role === "dp-engine" || spec.role === "headless-rank")
    return memberCommand(spec.command);
  if (spec.role === "ray-head") return d?.instances.find((i) => i.container === spec.name)?.argv;
  return undefined;
}

/** Every image the node pulls (its containers', services' and jobs'), keyed as the program names the pulls. */
export function nodeImages(node: NodePlan, clusterImage: string): Map<string, string> {
  const refs = [...node.containers, ...node.services, ...node.jobs.map((j) => j.container)].map((c) => c.image);
  return new Map([...new Set(refs)].sort().map((ref) => [ref === clusterImage ? "(cluster image)" : ref, ref]));
}

/** What the node's Docker provider is configured from (`dockerSshHost`, `dockerSshOpts`, the registry login). */
export function providerInputs(node: NodePlan, parts: Pick<PlanParts, "registry" | "secrets">): unknown {
  return { host: node.host, ssh: node.ssh, registry: parts.registry, password: parts.secrets.registryPassword };
}

/**
 * What every ssh step on the node connects with (the ssh command line of `stepCommand`: the same options as the
 * Docker provider); a change re-runs the node's host-key check and every step on update.
 */
export function commandConnection(node: NodePlan | undefined, _secrets: SecretFingerprints): unknown {
  if (!node) return undefined;
  return { host: node.host, ssh: node.ssh };
}

/**
 * The inputs a GPU container or service gets from its spec (`containerArgs`): ports, role, replica and the
 * shared-memory note are not Docker inputs, `restart` updates in place, and secret values enter through `secretEnv`.
 */
export function containerInputs(spec: ContainerSpec, secrets: SecretFingerprints): Record<string, unknown> {
  const { ports: _p, sharedMemory: _s, role: _r, deployment: _d, replica: _n, restart: _x, ...inputs } = spec;
  const secretValues = spec.secretEnv.map((name) => {
    const key = SECRET_OF_ENV.get(name);
    return key ? secrets[key] : undefined;
  });
  return { ...inputs, secretValues };
}

/** The ordered union of two key lists without repeats: `first`'s order, then keys only in `second`. */
export function union<K>(first: Iterable<K>, second: Iterable<K>): K[] {
  const out: K[] = [];
  for (const k of [...first, ...second]) if (!out.includes(k)) out.push(k);
  return out;
}
