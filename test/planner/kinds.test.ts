/**
 * The deployment kinds (planner/kinds): which kind a deployment's shape selects, and what the kinds share: one
 * `vllm serve` argv builder, and one generation label per group of containers replaced together.
 */
import { describe, expect, it } from "vitest";
import { selectKind } from "../../planner/kinds";
import { deploymentContext } from "../../planner/kinds/containers";
import { healingPlan } from "../../planner/rules/healing";
import type { Shape } from "../../planner/rules/parallelism";
import type { NodePlan } from "../../planner/types";
import { planOk, rawCluster, rawDeployment, stackConfig } from "../support/stackConfigs";

const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `node-${i}`, host: `10.0.0.${11 + i}` }));
const deployment = (raw: Record<string, unknown>) => stackConfig(rawCluster(), [rawDeployment(raw)]).deployments[0];
const shape = (over: Partial<Shape>): Shape => ({
  tensor: 8,
  pipeline: 1,
  data: 1,
  expert: false,
  gpusPerEngine: 8,
  gpusPerReplica: 8,
  nodesPerReplica: 1,
  spansNodes: false,
  dpRanksPerNode: 1,
  ...over,
});

describe("kind selection", () => {
  it("picks one kind per shape, in registration order", () => {
    const d = deployment({});
    const ext = deployment({ parallelism: { tensor: 1, data: 8, dataLoadBalancing: "external" } });
    expect(selectKind({ d, shape: shape({}) }).id).toBe("single-node");
    expect(selectKind({ d, shape: shape({ data: 8, tensor: 1 }) }).id).toBe("single-node");
    const engineOverNodes = shape({
      pipeline: 2,
      gpusPerEngine: 16,
      gpusPerReplica: 16,
      spansNodes: true,
      nodesPerReplica: 2,
    });
    expect(selectKind({ d, shape: engineOverNodes, multiNode: "ray" }).id).toBe("ray-cluster");
    expect(selectKind({ d, shape: engineOverNodes, multiNode: "native" }).id).toBe("native-multi-node");
    // An engine spanning nodes without an executor decision is a bug in the planner, not a config problem.
    expect(() => selectKind({ d, shape: engineOverNodes })).toThrow(/internal: no deployment kind/);
    expect(selectKind({ d, shape: shape({ tensor: 1, data: 16, spansNodes: true }) }).id).toBe(
      "multi-node-data-parallel",
    );
    expect(selectKind({ d: ext, shape: shape({ tensor: 1, data: 8 }) }).id).toBe("external-data-parallel");
    expect(selectKind({ d: ext, shape: shape({ tensor: 1, data: 16, spansNodes: true }) }).id).toBe(
      "external-data-parallel",
    );
  });
});

describe("what the kinds share", () => {
  const node: NodePlan = {
    name: "node-a",
    host: "10.0.0.11",
    ip: "10.0.0.11",
    ssh: { user: "root", port: 22 },
    gpus: 8,
    containers: [],
    services: [],
    jobs: [],
  };
  const ctx = (servedModelName: string) =>
    deploymentContext({
      d: deployment({ extraArgs: ["--seed", "1"] }),
      shape: shape({}),
      image: "rocm/vllm:x",
      args: ["--tensor-parallel-size", "8"],
      env: { A: "1" },
      servedModelName,
      secretEnv: [],
      runtime: {
        devices: [],
        groupAdd: [],
        ipcMode: "host",
        networkMode: "host",
        sharedMemory: "",
        securityOpt: [],
        capAdd: [],
        ulimits: [],
        volumes: [],
      },
      cluster: stackConfig(rawCluster(), [rawDeployment()]).cluster,
      compileCache: false,
      healing: healingPlan(deployment({})),
      stopGraceSeconds: 30,
    });

  it("builds every vllm serve argv one way: model, rule flags, API port and name, rank flags, extraArgs last", () => {
    const model = "meta-llama/Llama-3.3-70B-Instruct";
    expect(ctx("llama").serveArgv({ port: 8000, rankArgs: ["--rank", "0"] })).toEqual([
      "vllm",
      "serve",
      model,
      "--tensor-parallel-size",
      "8",
      "--port",
      "8000",
      "--served-model-name",
      "llama",
      "--rank",
      "0",
      "--seed",
      "1",
    ]);
    // A headless process has no API port and no served name; a served name equal to the model is not repeated.
    expect(ctx("llama").serveArgv({ rankArgs: ["--headless"] })).toEqual([
      "vllm",
      "serve",
      model,
      "--tensor-parallel-size",
      "8",
      "--headless",
      "--seed",
      "1",
    ]);
    expect(ctx(model).serveArgv({ port: 8001 })).not.toContain("--served-model-name");
  });

  it("gives each container the node's VLLM_HOST_IP and, on part of a node, its GPUs", () => {
    const spec = ctx("x").container({
      node,
      name: "c",
      role: "serve",
      gpus: [2, 3],
      command: [],
      ports: [],
      replica: 1,
      member: { kind: "serving", port: 8000 },
    });
    expect(spec.env).toEqual({ A: "1", CUDA_VISIBLE_DEVICES: "2,3", VLLM_HOST_IP: "10.0.0.11" });
    expect(spec.labels["rocm-vllm.replica"]).toBe("1");
  });

  it("labels the containers of a group with one generation, and a lone container with none", () => {
    const multi = planOk(rawCluster({ nodes: nodes(2) }), [
      rawDeployment({ model: "meta-llama/Llama-3.1-405B-Instruct", parallelism: { tensor: 8, pipeline: 2 } }),
    ]);
    const generations = multi.nodes.flatMap((n) => n.containers.map((c) => c.labels["rocm-vllm.generation"]));
    expect(generations).toHaveLength(2);
    expect(generations[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(generations[1]).toBe(generations[0]);
    const single = planOk(rawCluster(), [rawDeployment()]);
    expect(single.nodes[0].containers[0].labels["rocm-vllm.generation"]).toBeUndefined();
  });
});
