/**
 * An engine spanning nodes on vLLM's native multi-node mode (no Ray; vllm#23691, vllm v0.13.0
 * docs/serving/parallelism_scaling.md "Running vLLM with MultiProcessing"): on every node of a replica one
 * `vllm serve` with the same model, parallelism, `--nnodes`, `--master-addr` (node 0's address) and `--master-port`;
 * node 0 takes `--node-rank 0`, serves the API and holds the torch.distributed store the ranks meet at; every other
 * node takes its rank and `--headless`. The processes are one engine, so the replica's containers are replaced
 * together.
 */
import { NATIVE_MASTER_PORT } from "../rules/placement";
import { servedFromFirstNode } from "./containers";
import type { DeploymentKindModule } from "./kind";

/** Flags of node `rank` of `nodes`, meeting at `masterAddr`. */
export function nativeRankArgs(rank: number, nodes: number, masterAddr: string, masterPort: number): string[] {
  return [
    "--nnodes",
    String(nodes),
    "--node-rank",
    String(rank),
    "--master-addr",
    masterAddr,
    "--master-port",
    String(masterPort),
    ...(rank > 0 ? ["--headless"] : []),
  ];
}

export const nativeMultiNode: DeploymentKindModule = {
  id: "native-multi-node",
  planKind: () => "native-multi-node",
  executor: "mp",
  matches: ({ multiNode }) => multiNode === "native",
  grouped: true,
  replica(ctx, r) {
    const [first] = r.placement;
    const ranks = r.placement.map((p, rank) => {
      const argv = ctx.serveArgv({
        port: rank === 0 ? r.port : undefined,
        rankArgs: nativeRankArgs(rank, r.placement.length, first.node.ip, NATIVE_MASTER_PORT),
      });
      const spec = ctx.container({
        node: p.node,
        name: rank === 0 ? r.prefix : `${r.prefix}-rank${rank}`,
        role: rank === 0 ? "serve" : "headless-rank",
        gpus: p.gpus,
        command: argv,
        ports: rank === 0 ? [r.port, NATIVE_MASTER_PORT] : [],
        replica: r.index,
        // Node rank 0 serves the API and is probed with a generation; a headless rank lives while its leader serves
        // (a lost rank breaks rank 0's engine, a restarted rank 0 breaks the headless ranks: the group re-forms).
        member:
          rank === 0
            ? { kind: "serving", port: r.port }
            : { kind: "follower", leader: { ip: first.node.ip, port: r.port } },
      });
      return { node: p.node, spec, argv };
    });
    return {
      containers: ranks.map(({ node, spec }) => ({ node: node.name, spec })),
      serving: [
        {
          ...servedFromFirstNode(r, ranks[0].argv, ranks[0].spec),
          ranks: ranks.map(({ node, spec }) => ({ node: node.name, ip: node.ip, container: spec.name })),
        },
      ],
      reservedPorts: [
        {
          node: first.node.name,
          port: NATIVE_MASTER_PORT,
          container: ranks[0].spec.name,
          purpose: `torch.distributed store of ${ctx.d.name}, where its node ranks meet`,
        },
      ],
    };
  },
};
