/**
 * Splitting one cluster over several stacks (README "Many nodes"): when each stack holds a group of nodes and the
 * deployments placed on them, every node gets exactly the containers, jobs and preflight it gets in the one big
 * stack, and each stack's Pulumi program touches only its own nodes. So a cluster can be split without changing what
 * runs anywhere.
 */
import { describe, expect, it } from "vitest";
import type { Plan } from "../planner/types";
import { planOk, rawCluster } from "./support/stackConfigs";

const nodes = Array.from({ length: 6 }, (_, i) => ({ name: `gpu-${i}`, host: `10.0.1.${10 + i}` }));
const cluster = (names: string[]) =>
  rawCluster({ nodes: nodes.filter((n) => names.includes(n.name)), network: { interface: "ens50f0np0" } });
const deployments = {
  ray: {
    name: "llama405b",
    model: "meta-llama/Llama-3.1-405B-Instruct",
    parallelism: { tensor: 8, pipeline: 2 },
    nodes: ["gpu-0", "gpu-1"],
    maxModelLen: 8192,
    maxNumSeqs: 256,
  },
  packed: {
    name: "llama8b",
    model: "meta-llama/Llama-3.1-8B-Instruct",
    replicas: 16,
    nodes: ["gpu-2", "gpu-3"],
    loadBalancer: { nodes: ["gpu-2"] },
  },
  single: {
    name: "llama70b",
    model: "meta-llama/Llama-3.3-70B-Instruct",
    parallelism: { tensor: 8 },
    replicas: 2,
    nodes: ["gpu-4", "gpu-5"],
  },
};

function byNode(plan: Plan) {
  return Object.fromEntries(plan.nodes.map((n) => [n.name, n]));
}

describe("one cluster split over several stacks", () => {
  it("plans every node of every part exactly as the whole cluster does", () => {
    const whole = byNode(
      planOk(cluster(nodes.map((n) => n.name)), [deployments.ray, deployments.packed, deployments.single], true),
    );
    const parts = [
      planOk(cluster(["gpu-0", "gpu-1"]), [deployments.ray], true),
      planOk(cluster(["gpu-2", "gpu-3"]), [deployments.packed], true),
      planOk(cluster(["gpu-4", "gpu-5"]), [deployments.single], true),
    ];
    const seen = new Set<string>();
    for (const part of parts) {
      for (const node of part.nodes) {
        expect(seen.has(node.name), `${node.name} in two parts`).toBe(false);
        seen.add(node.name);
        expect(node, node.name).toEqual(whole[node.name]);
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(whole).sort());
  });
});
