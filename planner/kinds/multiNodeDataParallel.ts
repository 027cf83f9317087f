/**
 * Data parallelism over whole nodes with vLLM's internal load balancing (docs/serving/data_parallel_deployment.md):
 * per replica, the first node runs the API server with its local ranks and binds the data-parallel RPC port; every
 * other node runs a headless engine with the next ranks, connecting to the first node's address.
 */
import { dataParallelNodeArgs } from "../rules/parallelism";
import { dpRpcPort } from "../rules/placement";
import { servedFromFirstNode } from "./containers";
import type { DeploymentKindModule } from "./kind";

export const multiNodeDataParallel: DeploymentKindModule = {
  id: "multi-node-data-parallel",
  planKind: () => "data-parallel",
  executor: "mp",
  matches: ({ shape }) => shape.spansNodes && shape.data > 1,
  grouped: true,
  replica(ctx, r) {
    const [first] = r.placement;
    const rpcPort = dpRpcPort(ctx.d.port, r.index);
    const nodes = r.placement.map((p, k) => {
      const argv = ctx.serveArgv({
        port: k === 0 ? r.port : undefined,
        rankArgs: dataParallelNodeArgs(ctx.shape, k, first.node.ip, rpcPort),
      });
      const spec = ctx.container({
        node: p.node,
        name: k === 0 ? r.prefix : `${r.prefix}-dp${k}`,
        role: k === 0 ? "serve" : "dp-engine",
        gpus: p.gpus,
        command: argv,
        ports: k === 0 ? [r.port, rpcPort] : [],
        replica: r.index,
        member:
          k === 0
            ? { kind: "serving", port: r.port }
            : { kind: "follower", leader: { ip: first.node.ip, port: r.port } },
      });
      return { node: p.node.name, spec, argv };
    });
    return {
      containers: nodes.map(({ node, spec }) => ({ node, spec })),
      serving: [servedFromFirstNode(r, nodes[0].argv, nodes[0].spec)],
    };
  },
};
