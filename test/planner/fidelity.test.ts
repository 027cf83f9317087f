/**
 * Guide fidelity, second pass (issue 12): one block per item. Each test fails without its rule or table entry.
 */
import { describe, expect, it } from "vitest";
import type { Plan } from "../../planner/types";
import { planOk, planRaw, rawCluster, rawDeployment } from "../support/stackConfigs";

const argv = (plan: Plan, i = 0) => plan.deployments[i].instances[0].argv;
const flagValue = (args: string[], flag: string) => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};
const codes = (plan: Plan) => plan.warnings.map((w) => w.code);
const problemLines = (r: { problems: { path: string; message: string; fix: string }[] }) =>
  r.problems.map((p) => `${p.path}: ${p.message} | ${p.fix}`);
const cluster010 = (extra: Record<string, unknown> = {}) =>
  rawCluster({ image: "rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006", ...extra });
const cluster0110 = (extra: Record<string, unknown> = {}) =>
  rawCluster({ image: "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251006", vllmVersion: "0.11.0", ...extra });

describe("item 5: extraEnv against the release's variable table (vllm/envs.py at the tag)", () => {
  it("refuses a lower-case Quick Reduce value where vLLM validates it case-sensitively, pointing at quickReduce", () => {
    const r = planRaw(rawCluster(), [rawDeployment({ extraEnv: { VLLM_ROCM_QUICK_REDUCE_QUANTIZATION: "int4" } })]);
    expect(problemLines(r)).toEqual([
      expect.stringMatching(
        /^rocm-vllm:deployments\[0\]\.extraEnv\.VLLM_ROCM_QUICK_REDUCE_QUANTIZATION: vLLM 0\.11\.1 accepts only FP, INT8, INT6, INT4, NONE .*ValueError.* \| write it in upper case: INT4, or set quickReduce/,
      ),
    ]);
  });
  it("accepts the same lower-case value on 0.10.2, which upper-cases it", () => {
    const plan = planOk(cluster010(), [rawDeployment({ extraEnv: { VLLM_ROCM_QUICK_REDUCE_QUANTIZATION: "int4" } })]);
    expect(plan.deployments[0].env.VLLM_ROCM_QUICK_REDUCE_QUANTIZATION).toBe("int4");
  });
  it("warns about names the release no longer reads, with the replacement", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ extraEnv: { VLLM_USE_AITER_UNIFIED_ATTENTION: "1", VLLM_USE_V1: "1" } }),
    ]);
    const messages = plan.warnings.filter((w) => w.code === "extra-env-unknown").map((w) => w.message);
    expect(messages).toEqual([
      expect.stringMatching(/VLLM_USE_AITER_UNIFIED_ATTENTION .*vllm#25507.*use VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION/),
      expect.stringMatching(/VLLM_USE_V1 .*vllm#28204/),
    ]);
    // 0.11.0 still reads both: no warning there.
    const old = planOk(cluster0110(), [
      rawDeployment({ extraEnv: { VLLM_USE_AITER_UNIFIED_ATTENTION: "1", VLLM_USE_V1: "1" } }),
    ]);
    expect(codes(old)).not.toContain("extra-env-unknown");
  });
  it("suggests the closest name for a typo and leaves non-vLLM variables alone", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ extraEnv: { VLLM_ROCM_USE_AITR_MOE: "1", NCCL_DEBUG: "WARN" } }),
    ]);
    expect(plan.warnings.map((w) => [w.code, w.path])).toEqual([
      ["extra-env-unknown", "rocm-vllm:deployments[0].extraEnv.VLLM_ROCM_USE_AITR_MOE"],
    ]);
    expect(plan.warnings[0].message).toMatch(/did you mean VLLM_ROCM_USE_AITER_MOE\?/);
  });
  it("refuses values the release's int() parser raises on, and warns about boolean words it reads as false", () => {
    const r = planRaw(rawCluster(), [rawDeployment({ extraEnv: { VLLM_USE_TRITON_AWQ: "true" } })]);
    expect(problemLines(r)).toEqual([
      expect.stringMatching(
        /extraEnv\.VLLM_USE_TRITON_AWQ: vLLM 0\.11\.1 parses VLLM_USE_TRITON_AWQ with int\(\).* \| use 1 or 0/,
      ),
    ]);
    const plan = planOk(rawCluster(), [rawDeployment({ extraEnv: { VLLM_ROCM_USE_SKINNY_GEMM: "yes" } })]);
    expect(codes(plan)).toEqual(["extra-env-boolean"]);
  });
});

describe("item 6: extraArgs read like vLLM's parser", () => {
  it.each([
    [["-tp", "4"], "-tp (= --tensor-parallel-size)"],
    [["-q", "fp8"], "-q (= --quantization)"],
    [["-pp=2"], "-pp (= --pipeline-parallel-size)"],
    [["-dp", "2"], "-dp (= --data-parallel-size)"],
    [["--max_num_seqs", "300"], "--max_num_seqs (= --max-num-seqs)"],
    [["--max-num-seqs=300"], "--max-num-seqs"],
    [["--tensor-parallel", "4"], "--tensor-parallel (= --tensor-parallel-size)"],
    [["--speculative_config", "{}"], "--speculative_config (= --speculative-config)"],
    [["--compilation-config.cudagraph_mode", "FULL"], "--compilation-config.cudagraph_mode (= --compilation-config)"],
    [["-O3"], "-O3 (= --compilation-config)"],
    [["--no-enable-expert-parallel"], "--no-enable-expert-parallel (= --enable-expert-parallel)"],
  ])("%j is the planned flag it stands for", (extraArgs, what) => {
    const r = planRaw(rawCluster(), [rawDeployment({ extraArgs })]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0].path).toBe("rocm-vllm:deployments[0].extraArgs[0]");
    expect(r.problems[0].message).toContain(`${what} is set by rocm-vllm from the config key`);
  });
  it("accepts other flags in every spelling", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ extraArgs: ["--enable_prefix_caching", "--swap-space=16", "--no-enable-chunked-prefill"] }),
    ]);
    expect(argv(plan).slice(-3)).toEqual(["--enable_prefix_caching", "--swap-space=16", "--no-enable-chunked-prefill"]);
  });
  it("knows which aliases each release has: -dph only from 0.11.1", () => {
    expect(problemLines(planRaw(cluster0110(), [rawDeployment({ extraArgs: ["-dph"] })]))).toEqual([
      expect.stringMatching(/extraArgs\[0\]: vllm serve 0\.11\.0 has no option -dph/),
    ]);
    expect(planRaw(rawCluster(), [rawDeployment({ extraArgs: ["-dph"] })]).problems).toEqual([]);
  });
  it("refuses an ambiguous abbreviation as argparse does", () => {
    const r = planRaw(rawCluster(), [rawDeployment({ extraArgs: ["--enable-p", "x"] })]);
    expect(r.problems[0].message).toMatch(/ambiguous abbreviation of --enable-prefix-caching/);
  });
  it("never echoes a token passed with an alias-free spelling", () => {
    const r = planRaw(rawCluster(), [rawDeployment({ extraArgs: ["--hf_token=hf_SECRET_CANARY"] })]);
    expect(r.problems).toHaveLength(1);
    expect(JSON.stringify(r.problems)).not.toContain("hf_SECRET_CANARY");
  });
});

describe("item 10: --distributed-executor-backend is owned only where rocm-vllm sets it", () => {
  it("accepts the guide's speculative-decoding example flag on one node", () => {
    const plan = planOk(rawCluster(), [rawDeployment({ extraArgs: ["--distributed-executor-backend", "mp"] })]);
    expect(argv(plan).slice(-2)).toEqual(["--distributed-executor-backend", "mp"]);
  });
  it("refuses it on a Ray deployment (set there) and ray on one node", () => {
    const twoNodes = rawCluster({
      nodes: [
        { name: "node-a", host: "10.0.0.11" },
        { name: "node-b", host: "10.0.0.12" },
      ],
    });
    const ray = planRaw(twoNodes, [
      rawDeployment({
        model: "meta-llama/Llama-3.1-405B-Instruct",
        parallelism: { tensor: 8, pipeline: 2 },
        extraArgs: ["--distributed-executor-backend=mp"],
      }),
    ]);
    expect(problemLines(ray)).toEqual([expect.stringMatching(/is set by rocm-vllm for this deployment/)]);
    const single = planRaw(rawCluster(), [rawDeployment({ extraArgs: ["--distributed-executor-backend", "ray"] })]);
    expect(problemLines(single)).toEqual([expect.stringMatching(/runs Ray only for engines that span nodes/)]);
  });
});

describe("item 16: async scheduling with EAGLE/MTP on 0.11.1 (vllm#24799)", () => {
  const spec = (method: string, model?: string) => ({
    profile: "throughput",
    asyncScheduling: true,
    speculative: { method, ...(model ? { model } : {}) },
  });
  it("plans --async-scheduling with eagle3 on 0.11.1", () => {
    const plan = planOk(rawCluster(), [rawDeployment(spec("eagle3", "yuhuili/EAGLE3-LLaMA3.3-Instruct-70B"))]);
    expect(argv(plan)).toContain("--async-scheduling");
  });
  it("still refuses ngram on 0.11.1 and every method on 0.11.0", () => {
    expect(problemLines(planRaw(rawCluster(), [rawDeployment(spec("ngram"))]))).toEqual([
      expect.stringMatching(/asyncScheduling: vLLM 0\.11\.1 runs async scheduling only with EAGLE\/MTP/),
    ]);
    expect(
      problemLines(planRaw(cluster0110(), [rawDeployment(spec("eagle3", "yuhuili/EAGLE3-LLaMA3.3-Instruct-70B"))])),
    ).toEqual([expect.stringMatching(/vLLM 0\.11\.0 rejects async scheduling with speculative decoding/)]);
  });
});

export { flagValue };
