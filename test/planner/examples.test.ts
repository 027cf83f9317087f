/**
 * The example stacks: each plans cleanly, reads like a hand-written recipe, and its full plan is snapshotted so any
 * change to what would be deployed shows up in review.
 */
import { describe, expect, it } from "vitest";
import { buildPlan } from "../../planner/plan";
import { exampleConfig, exampleStacks } from "../support/stackConfigs";

const flagValue = (args: string[], flag: string) => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};
const planOf = (name: string) => {
  const stack = exampleStacks().find((s) => s.name === name);
  if (!stack) throw new Error(`no example stack ${name}`);
  return buildPlan(exampleConfig(stack.text));
};

describe("example stacks", () => {
  it("cover the shapes the project promises", () => {
    expect(exampleStacks().map((s) => s.name)).toEqual([
      "deepseek-r1-dp8-ep",
      "deepseek-r1-mla",
      "gpt-oss-mi355x",
      "llama405b-2node-ray",
      "llama405b-2node",
      "llama70b-mi300x",
      "llama70b-vllm023",
      "llama8b-packed",
    ]);
  });
  for (const stack of exampleStacks()) {
    it(`${stack.name}: plans without problems or warnings, matching its snapshot`, async () => {
      const { plan, problems } = buildPlan(exampleConfig(stack.text));
      expect(problems).toEqual([]);
      expect(plan.warnings).toEqual([]);
      await expect(`${JSON.stringify(plan, null, 2)}\n`).toMatchFileSnapshot(`__snapshots__/${stack.name}.plan.json`);
    });
  }
  it("llama70b-mi300x: one TP8 container on all eight GPUs", () => {
    const { plan } = planOf("llama70b-mi300x");
    const [inst] = plan.deployments[0].instances;
    expect(inst.gpus).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(flagValue(inst.argv, "--tensor-parallel-size")).toBe("8");
    expect(inst.endpoint).toBe("http://10.0.0.11:8000");
  });
  it("llama405b-2node: native multi-node on vLLM 0.11.1 (no Ray across nodes there), TP8 × PP2, RDMA, weights pre-downloaded with the token, serving offline", () => {
    const { plan } = planOf("llama405b-2node");
    const d = plan.deployments[0];
    expect(d.kind).toBe("native-multi-node");
    expect(flagValue(d.instances[0].argv, "--pipeline-parallel-size")).toBe("2");
    expect(plan.nodes.map((n) => n.containers.map((c) => c.role))).toEqual([["serve"], ["headless-rank"]]);
    const all = plan.nodes.flatMap((n) => n.containers);
    expect(all.map((c) => c.secretEnv)).toEqual([[], []]);
    expect(all.map((c) => c.env.HF_HUB_OFFLINE)).toEqual(["1", "1"]);
    expect(plan.nodes.map((n) => n.jobs.map((j) => [j.container.role, j.container.secretEnv, j.after]))).toEqual([
      [["weights", ["HF_TOKEN"], "image"]],
      [["weights", ["HF_TOKEN"], "image"]],
    ]);
    expect(JSON.stringify(plan)).not.toMatch(/v1:2ZcV0k/);
    expect(new Set(all.map((c) => c.labels["rocm-vllm.generation"])).size).toBe(1);
  });
  it("llama405b-2node-ray: the same model on vLLM 0.17.1's image, which ships Ray: a Ray head and worker", () => {
    const { plan } = planOf("llama405b-2node-ray");
    const d = plan.deployments[0];
    expect(d.kind).toBe("ray");
    expect(flagValue(d.instances[0].argv, "--distributed-executor-backend")).toBe("ray");
    expect(plan.nodes.map((n) => n.containers.map((c) => c.role))).toEqual([["ray-head"], ["ray-worker"]]);
    expect(d.rayClusters.map((r) => [r.headNode, r.workerNodes])).toEqual([["node-a", ["node-b"]]]);
  });
  it("deepseek-r1-mla: AITER MLA with --block-size 1 on vLLM 0.10.2", () => {
    const { plan } = planOf("deepseek-r1-mla");
    expect(plan.deployments[0].attention.backend).toBe("aiter-mla");
    expect(flagValue(plan.deployments[0].instances[0].argv, "--block-size")).toBe("1");
  });
  it("gpt-oss-mi355x: eight single-GPU instances on AITER unified attention", () => {
    const { plan } = planOf("gpt-oss-mi355x");
    expect(plan.deployments[0].instances.map((i) => i.env.CUDA_VISIBLE_DEVICES)).toEqual([
      "0",
      "1",
      "2",
      "3",
      "4",
      "5",
      "6",
      "7",
    ]);
    expect(plan.deployments[0].attention.backend).toBe("aiter-unified");
  });
  it("llama8b-packed: eight ports 8000–8007", () => {
    const { plan } = planOf("llama8b-packed");
    expect(plan.deployments[0].instances.map((i) => i.port)).toEqual([8000, 8001, 8002, 8003, 8004, 8005, 8006, 8007]);
  });
  it("deepseek-r1-dp8-ep: DP8 + EP with the ROCm all2all backend", () => {
    const { plan } = planOf("deepseek-r1-dp8-ep");
    const argv = plan.deployments[0].instances[0].argv;
    expect(flagValue(argv, "--data-parallel-size")).toBe("8");
    expect(argv).toContain("--enable-expert-parallel");
    expect(flagValue(argv, "--all2all-backend")).toBe("allgather_reducescatter");
  });
  it("llama70b-vllm023: a 2026 release names AITER flash attention, keeps async scheduling on by default, drains on stop", () => {
    const { plan } = planOf("llama70b-vllm023");
    const d = plan.deployments[0];
    expect(plan.cluster.vllmVersion).toBe("0.23.0");
    expect(flagValue(d.instances[0].argv, "--attention-backend")).toBe("ROCM_AITER_FA");
    expect(d.attention.expectedLogLine).toBe("Using ROCM_AITER_FA backend (selected via --attention-backend).");
    expect(d.instances[0].argv).not.toContain("--async-scheduling");
    expect(d.reasons.map((r) => r.what)).toContain("async scheduling: on by default in vLLM 0.23.0");
    expect(d.memory.gpuMemoryUtilization).toBe(0.92);
    expect(flagValue(d.instances[0].argv, "--shutdown-timeout")).toBe("20");
  });
  it("plans are deterministic", () => {
    for (const stack of exampleStacks()) {
      expect(JSON.stringify(buildPlan(exampleConfig(stack.text)))).toBe(
        JSON.stringify(buildPlan(exampleConfig(stack.text))),
      );
    }
  });
});
