/**
 * One `vllm serve` per replica on part of one node (guide § Maximizing instances per node): TP × PP, and internal
 * data parallelism whose ranks all fit on the node. The container serves the API.
 */
import type { DeploymentKindModule } from "./kind";

export const singleNode: DeploymentKindModule = {
  id: "single-node",
  planKind: (shape) => (shape.data > 1 ? "data-parallel" : "single-node"),
  executor: "mp",
  matches: ({ shape }) => !shape.spansNodes,
  grouped: false,
  replica(ctx, r) {
    const [first] = r.placement;
    const argv = ctx.serveArgv({ port: r.port });
    const spec = ctx.container({
      node: first.node,
      name: r.prefix,
      role: "serve",
      gpus: first.gpus,
      command: argv,
      ports: [r.port],
      replica: r.index,
    });
    return {
      containers: [{ node: first.node.name, spec }],
      serving: [
        {
          node: first.node,
          port: r.port,
          gpus: first.gpus,
          placement: [{ node: first.node.name, gpus: first.gpus }],
          argv,
          container: spec,
          replica: r.index,
        },
      ],
    };
  },
};
