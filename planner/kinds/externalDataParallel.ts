/**
 * Data parallelism with external load balancing (guide § Choosing a load balancing strategy): one `vllm serve` per
 * data-parallel rank, each with its own GPUs, its own API port (`port + replica × data + rank`) and
 * `--data-parallel-rank`, reaching rank 0's node for the ranks' RPC. Every rank is an endpoint behind the balancer.
 */
import { externalDataParallelArgs } from "../rules/parallelism";
import { dpRpcPort } from "../rules/placement";
import type { DeploymentKindModule } from "./kind";

export const externalDataParallel: DeploymentKindModule = {
  id: "external-data-parallel",
  planKind: () => "data-parallel",
  executor: "mp",
  matches: ({ d, shape }) => shape.data > 1 && d.parallelism.dataLoadBalancing === "external",
  grouped: true,
  replica(ctx, r) {
    const { d, shape } = ctx;
    const [first] = r.placement;
    const rpcPort = dpRpcPort(d.port, r.index);
    const ranks = r.placement.flatMap((p) =>
      Array.from({ length: p.gpus.length / shape.gpusPerEngine }, (_, j) => ({
        node: p.node,
        gpus: p.gpus.slice(j * shape.gpusPerEngine, (j + 1) * shape.gpusPerEngine),
      })),
    );
    const laid = ranks.map((rank, k) => {
      const index = r.index * shape.data + k;
      const port = d.port + index;
      const argv = ctx.serveArgv({ port, rankArgs: externalDataParallelArgs(k, first.node.ip, rpcPort) });
      const spec = ctx.container({
        node: rank.node,
        name: `rocm-vllm-${d.name}-${index}`,
        role: "serve",
        gpus: rank.gpus,
        command: argv,
        ports: k === 0 ? [port, rpcPort] : [port],
        replica: index,
        member: { kind: "serving", port },
      });
      return { rank, index, port, argv, spec };
    });
    return {
      containers: laid.map(({ rank, spec }) => ({ node: rank.node.name, spec })),
      serving: laid.map(({ rank, index, port, argv, spec }) => ({
        node: rank.node,
        port,
        gpus: rank.gpus,
        placement: [{ node: rank.node.name, gpus: rank.gpus }],
        argv,
        container: spec,
        replica: index,
      })),
    };
  },
};
