/**
 * An engine spanning nodes on a Ray cluster (guide § Multi-node checklist): per replica a head container on the first
 * node that starts Ray, waits for every worker and then runs `vllm serve --distributed-executor-backend ray` (it
 * serves the API), and a worker container on each other node that joins the head, retrying until it answers.
 */
import { RAY_GCS_PORT } from "../rules/placement";
import { rayHeadScript, rayWorkerScript } from "../scripts/launchScripts";
import type { RayClusterPlan } from "../types";
import { servedFromFirstNode } from "./containers";
import type { DeploymentKindModule } from "./kind";

export const rayCluster: DeploymentKindModule = {
  id: "ray-cluster",
  planKind: () => "ray",
  executor: "ray",
  matches: ({ multiNode }) => multiNode === "ray",
  grouped: true,
  replica(ctx, r) {
    const { d, shape } = ctx;
    const [head, ...workers] = r.placement;
    const argv = ctx.serveArgv({ port: r.port });
    const ray: RayClusterPlan = {
      headNode: head.node.name,
      headAddress: head.node.ip,
      gcsPort: RAY_GCS_PORT,
      workerNodes: workers.map((w) => w.node.name),
      expectedNodes: r.placement.length,
      expectedGpus: shape.gpusPerReplica,
      joinTimeoutSeconds: d.timeouts.rayJoinSeconds,
    };
    const headScript = rayHeadScript({
      deployment: d.name,
      gcsPort: RAY_GCS_PORT,
      gpus: head.gpus.length,
      workers: workers.map((w) => ({ name: w.node.name, ip: w.node.ip })),
      expectedNodes: ray.expectedNodes,
      expectedGpus: ray.expectedGpus,
      joinTimeoutSeconds: ray.joinTimeoutSeconds,
      serveArgv: argv,
    });
    const headSpec = ctx.container({
      node: head.node,
      name: `${r.prefix}-ray-head`,
      role: "ray-head",
      gpus: head.gpus,
      command: ["bash", "-c", headScript],
      ports: [r.port, RAY_GCS_PORT],
      replica: r.index,
      member: { kind: "ray-head", port: r.port },
    });
    const workerSpecs = workers.map((w) => {
      const script = rayWorkerScript({
        deployment: d.name,
        headAddress: head.node.ip,
        gcsPort: RAY_GCS_PORT,
        gpus: w.gpus.length,
        joinTimeoutSeconds: d.timeouts.rayJoinSeconds,
      });
      const spec = ctx.container({
        node: w.node,
        name: `${r.prefix}-ray-worker`,
        role: "ray-worker",
        gpus: w.gpus,
        command: ["bash", "-c", script],
        ports: [],
        replica: r.index,
        member: { kind: "ray-worker" },
      });
      return { node: w.node.name, spec };
    });
    return {
      containers: [{ node: head.node.name, spec: headSpec }, ...workerSpecs],
      serving: [servedFromFirstNode(r, argv, headSpec)],
      rayCluster: ray,
    };
  },
};
