/**
 * The interface every deployment kind implements: one module per kind (`singleNode`, `rayCluster`, …), registered in
 * `kinds/index.ts`. The rules decide a deployment's settings once; a kind only answers, for one replica placed on its
 * nodes and GPUs, which containers run where (with which per-rank `vllm serve` flags and ports), which of them serve
 * the API (each gets a readiness gate), and whether the replica's containers form a group replaced together.
 *
 * Which nodes and GPUs a replica takes follows from its shape (`rules/parallelism.ts`: part of one node, or whole
 * nodes when it spans nodes) and is placed by `rules/placement.ts` before the kind is asked.
 */
import type { DeploymentConfig } from "../config/schema";
import type { MultiNodeExecutor } from "../rules/executor";
import type { Executor, Shape } from "../rules/parallelism";
import type { SupervisedMember } from "../scripts/supervisor";
import type { ContainerRole, ContainerSpec, DeploymentKind, NodePlan, RayClusterPlan } from "../types";

/** What selects a kind: the deployment's shape and config, and the executor of an engine spanning nodes. */
export interface KindQuery {
  d: DeploymentConfig;
  shape: Shape;
  /** Set when one engine (tensor × pipeline) spans nodes: `rules/executor.ts` chose how it runs. */
  multiNode?: MultiNodeExecutor;
}

/** One node of a replica's placement, with the GPUs the replica holds there. */
export interface PlacedNode {
  node: NodePlan;
  gpus: number[];
}

/** One replica to lay out. */
export interface ReplicaInput {
  /** Replica index (0 … replicas − 1). */
  index: number;
  /** Serving port of the replica (`port + index`). */
  port: number;
  /** Docker name prefix of the replica's containers. */
  prefix: string;
  /** Nodes and GPUs the replica holds, in placement order; the first node leads. */
  placement: PlacedNode[];
}

/** Everything a kind may use from the deployment-wide decisions. */
export interface DeploymentContext {
  d: DeploymentConfig;
  shape: Shape;
  /**
   * The one `vllm serve` argv of the deployment: model, the rules' flags, the API port and served name when the
   * process serves HTTP (`port` given), the kind's per-rank flags, then the user's `extraArgs`.
   */
  serveArgv(process: { port?: number; rankArgs?: readonly string[] }): string[];
  /** A GPU container of this deployment on `node`, with the deployment's env, runtime, secrets and labels. */
  container(spec: {
    node: NodePlan;
    name: string;
    role: ContainerRole;
    gpus: number[];
    /** The member's own command; the container runs it under the member supervisor (`scripts/supervisor.ts`). */
    command: string[];
    ports: number[];
    replica: number;
    /** What the supervisor watches beyond the command: the API it serves, its Ray cluster, or its group's leader. */
    member: SupervisedMember;
  }): ContainerSpec;
}

/** A process clients (or a balancer) reach over HTTP; the planner gives each one a readiness gate and a smoke test. */
export interface ServingProcess {
  node: NodePlan;
  port: number;
  /** GPUs used on `node`. */
  gpus: number[];
  /** Every node and GPU the process's engine occupies. */
  placement: { node: string; gpus: number[] }[];
  argv: string[];
  /** The container it runs in. */
  container: ContainerSpec;
  /** Replica index as the plan reports it. */
  replica: number;
  /**
   * The nodes of an engine whose processes meet at this one (native multi-node), by node rank: named when the
   * readiness gate fails, since a missing rank only shows as rank 0 waiting.
   */
  ranks?: { node: string; ip: string; container: string }[];
}

/** What one replica runs. */
export interface ReplicaLayout {
  containers: { node: string; spec: ContainerSpec }[];
  serving: ServingProcess[];
  rayCluster?: RayClusterPlan;
  /** Ports that must be free on a node before the replica starts there (checked by the node's preflight). */
  reservedPorts?: ReservedPort[];
}

/** A port a planned container binds that no process outside the plan may hold. */
export interface ReservedPort {
  node: string;
  port: number;
  /** The planned container that binds it (it may hold the port already: a redeploy). */
  container: string;
  /** What the port is for, in words. */
  purpose: string;
}

export interface DeploymentKindModule {
  /** Module name, e.g. `ray-cluster`. */
  readonly id: string;
  /** What the plan calls a deployment of this kind. */
  planKind(shape: Shape): DeploymentKind;
  /** Executor backend its engines run (rules that depend on Ray read this). */
  readonly executor: Executor;
  /** Whether this kind runs the deployment. Kinds are asked in registration order; the first that answers yes runs it. */
  matches(q: KindQuery): boolean;
  /**
   * Whether the containers of one replica form one engine: they then carry a generation label hashing the whole
   * group, so any change to one replaces all of them together, a rolling update replaces the whole group in one
   * wave, and the group's members heal together (a member's failure breaks the leader's engine, whose restart makes
   * every member rejoin).
   */
  readonly grouped: boolean;
  /** Lays out one replica on its placement. */
  replica(ctx: DeploymentContext, r: ReplicaInput): ReplicaLayout;
}
