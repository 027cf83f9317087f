/**
 * Bounded SSH sessions per node. Every resource that reaches a node over ssh (the host-key check, the preflight,
 * image pulls and containers through the Docker provider's `ssh … docker system dial-stdio`, jobs, gates) takes a
 * place in one of `SESSIONS_PER_NODE` lanes of its node, and waits for the resource before it in its lane. So at most
 * that many operations, each holding one ssh connection, reach a node at once, far below sshd's default
 * `MaxStartups 10:30:100` (beyond 10 unauthenticated connections sshd starts dropping new ones:
 * `kex_exchange_identification: Connection closed`).
 *
 * Lanes are filled in stage order, then phase order (check, preflight, pulls, downloads, containers, gates, smoke
 * tests, undrains, jobs after readiness), so a lane never makes an earlier step wait for a later one, and lanes are per
 * node: the depth of the graph grows with what one node runs, never with the number of nodes. A stage is a wave of a
 * rolling update (`components/rollout.ts`): wave w's drain, containers, gates and undrain come after everything of
 * wave w−1, which they wait for anyway; without stages a lane could make wave w−1's gate wait for wave w's container,
 * which waits for that gate. Every real dependency goes from a lower (stage, phase, registration) to a higher one, and
 * so does every lane edge: no cycle. The order is only known once every resource
 * is registered, so each resource's lane dependency is a promise that `assign()` resolves at the end of the cluster.
 */
import type * as pulumi from "@pulumi/pulumi";

/** Concurrent ssh-using operations the program starts against one node. */
export const SESSIONS_PER_NODE = 4;

/** Phases, in the order lanes are filled. */
export const PHASE = {
  check: 0,
  preflight: 1,
  image: 2,
  setupJob: 3,
  container: 4,
  readiness: 5,
  smokeTest: 6,
  /** A wave's return to the balancer, after its gates. (A drain takes the container phase, registered first.) */
  undrain: 6.5,
  afterReadinessJob: 7,
} as const;

interface Entry {
  stage: number;
  phase: number;
  order: number;
  resource?: pulumi.Resource;
  resolve: (before: pulumi.Resource[]) => void;
}

/** The lanes of one node. */
export class NodeSessions {
  private readonly entries: Entry[] = [];
  private assigned = false;

  constructor(readonly node: string) {}

  /**
   * A place in a lane for a resource of `phase` in `stage` (a rolling update's wave; 0 otherwise):
   * `dependsOn(staticDeps)` is what to pass as the resource's `dependsOn`; `bind(resource)` records the resource once
   * it exists.
   */
  place(
    phase: number,
    stage = 0,
  ): {
    dependsOn: (deps?: pulumi.Resource[]) => pulumi.Input<pulumi.Resource>[];
    bind: <R extends pulumi.Resource>(resource: R) => R;
  } {
    if (this.assigned) throw new Error(`node ${this.node}: lanes already assigned`);
    let resolve: (before: pulumi.Resource[]) => void = () => {};
    const lane = new Promise<pulumi.Resource[]>((r) => {
      resolve = r;
    });
    // An array whose last element is the promise: a `dependsOn` that is itself a promise would be wrapped in an
    // Output by the SDK's `mergeOptions`, whose unknown-value scan walks every resource it reaches (quadratic). The
    // SDK resolves array elements that are promises, arrays included (`gatherExplicitDependencies`).
    const laneDependency = lane as unknown as pulumi.Input<pulumi.Resource>;
    const entry: Entry = { stage, phase, order: this.entries.length, resolve };
    this.entries.push(entry);
    return {
      dependsOn: (deps = []) => [...deps, laneDependency],
      bind: (resource) => {
        entry.resource = resource;
        return resource;
      },
    };
  }

  /** Orders the node's resources by stage, phase, then registration, and chains every `SESSIONS_PER_NODE`-th one. */
  assign(): void {
    this.assigned = true;
    const unbound = this.entries.filter((e) => !e.resource).length;
    if (unbound > 0) throw new Error(`node ${this.node}: ${unbound} lane place(s) without a resource`);
    const ordered = [...this.entries].sort((a, b) => a.stage - b.stage || a.phase - b.phase || a.order - b.order);
    ordered.forEach((entry, i) => {
      const before = i >= SESSIONS_PER_NODE ? ordered[i - SESSIONS_PER_NODE]?.resource : undefined;
      entry.resolve(before ? [before] : []);
    });
  }
}
