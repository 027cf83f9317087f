/**
 * Each release difference of the version table changes the plan where, and only where, the table says: one test per
 * difference, planned on the last release without it and the first with it.
 */
import { describe, expect, it } from "vitest";
import { renderPlan } from "../../cli/renderPlan";
import type { Plan } from "../../planner/types";
import {
  planOk,
  planRaw,
  type RawCluster,
  type RawDeployment,
  rawCluster,
  rawDeployment,
} from "../support/stackConfigs";

const on = (version: string, overrides: RawCluster = {}) =>
  rawCluster({ image: `vllm/vllm-openai-rocm:v${version}`, ...overrides });
const TWO_NODES = {
  nodes: [
    { name: "node-a", host: "10.0.0.11" },
    { name: "node-b", host: "10.0.0.12" },
  ],
  network: { interface: "ens50f0np0" },
};
const argvOf = (plan: Plan) => plan.deployments[0].instances[0].argv;
const envOf = (plan: Plan) => plan.deployments[0].instances[0].env;
const flag = (plan: Plan, name: string) => {
  const argv = argvOf(plan);
  const i = argv.indexOf(name);
  return i < 0 ? undefined : (argv[i + 1] ?? "");
};
const reasons = (plan: Plan) => plan.deployments[0].reasons;
const problems = (version: string, d: RawDeployment, cluster: RawCluster = {}) =>
  planRaw(on(version, cluster), [rawDeployment(d)]).problems.map((p) => `${p.path}: ${p.message} Fix: ${p.fix}`);
const plan = (version: string, d: RawDeployment = {}, cluster: RawCluster = {}) =>
  planOk(on(version, cluster), [rawDeployment(d)], true);

describe("attention backend selection", () => {
  it("is by environment up to 0.12.0 and named with --attention-backend from 0.13.0 (vllm#26315)", () => {
    expect(flag(plan("0.12.0"), "--attention-backend")).toBeUndefined();
    const p = plan("0.13.0");
    expect(flag(p, "--attention-backend")).toBe("ROCM_AITER_FA");
    expect(reasons(p).find((r) => r.what === "--attention-backend ROCM_AITER_FA")?.source).toMatch(/vllm#26315/);
    expect(envOf(p).VLLM_ROCM_USE_AITER).toBe("1");
  });
  it("from 0.19.0 names AITER flash attention because ROCM_ATTN became the default, keeping the guide's reason visible", () => {
    const before = reasons(plan("0.18.1")).find((r) => r.what === "--attention-backend ROCM_AITER_FA");
    expect(before?.source).not.toMatch(/vllm#36702/);
    const p = plan("0.19.0");
    const reason = reasons(p).find((r) => r.what === "--attention-backend ROCM_AITER_FA");
    expect(reason?.source).toMatch(/Attention backend selection with AITER.*vllm#36702/);
    expect(reasons(p).map((r) => r.what)).toContain("attention auto → aiter-mha");
    expect(p.deployments[0].attention.expectedLogLine).toBe(
      "Using ROCM_AITER_FA backend (selected via --attention-backend).",
    );
    expect(plan("0.18.0").deployments[0].attention.expectedLogLine).toBe(
      "Using AttentionBackendEnum.ROCM_AITER_FA backend.",
    );
  });
  it("prefill-decode attention: the variable while the release reads it (to 0.14.1), the flag alone from 0.15.0 (vllm#32812)", () => {
    const d = { attention: "triton-prefill-decode" };
    expect(envOf(plan("0.14.1", d)).VLLM_V1_USE_PREFILL_DECODE_ATTENTION).toBe("1");
    expect(flag(plan("0.14.1", d), "--attention-backend")).toBe("ROCM_ATTN");
    expect(envOf(plan("0.15.0", d)).VLLM_V1_USE_PREFILL_DECODE_ATTENTION).toBeUndefined();
    expect(flag(plan("0.15.0", d), "--attention-backend")).toBe("ROCM_ATTN");
    expect(envOf(plan("0.12.0", d)).VLLM_V1_USE_PREFILL_DECODE_ATTENTION).toBe("1");
  });
  it("without AITER names Triton, which is no longer vLLM's own choice from 0.19.0", () => {
    expect(flag(plan("0.19.0", { aiter: false }), "--attention-backend")).toBe("TRITON_ATTN");
    expect(flag(plan("0.23.0", { aiter: false, model: "deepseek-ai/DeepSeek-R1" }), "--attention-backend")).toBe(
      "TRITON_MLA",
    );
  });
});

describe("async scheduling", () => {
  it("is a flag to turn on up to 0.13.0, on by default from 0.14.0 (vllm#27614)", () => {
    expect(argvOf(plan("0.13.0", { profile: "throughput" }))).toContain("--async-scheduling");
    const p = plan("0.14.0", { profile: "throughput" });
    expect(argvOf(p)).not.toContain("--async-scheduling");
    expect(reasons(p).find((r) => r.rule === "asyncScheduling")?.source).toMatch(/vllm#27614/);
  });
  it("off (latency profile) needs --no-async-scheduling from 0.14.0, nothing before", () => {
    expect(argvOf(plan("0.13.0", { profile: "latency" }))).not.toContain("--no-async-scheduling");
    expect(argvOf(plan("0.14.0", { profile: "latency" }))).toContain("--no-async-scheduling");
    expect(argvOf(plan("0.14.0", { asyncScheduling: false }))).toContain("--no-async-scheduling");
  });
  it("with pipeline parallelism: refused on 0.14.1, allowed from 0.15.0 (vllm#32359)", () => {
    const d = { parallelism: { tensor: 4, pipeline: 2 }, asyncScheduling: true };
    expect(problems("0.14.1", d)).toEqual([
      "rocm-vllm:deployments[0].asyncScheduling: vLLM 0.14.1 rejects async scheduling with pipeline parallelism Fix: set asyncScheduling: false",
    ]);
    expect(problems("0.15.0", d)).toEqual([]);
    const balanced = plan("0.14.1", { parallelism: { tensor: 4, pipeline: 2 } });
    expect(reasons(balanced).map((r) => r.what)).toContain(
      "async scheduling: vLLM turns its default off here (vLLM 0.14.1 rejects async scheduling with pipeline parallelism)",
    );
  });
  it("on Ray: refused with the v1 executor (to 0.20.x, where RayExecutorV2 is opt-in), allowed from 0.21.0 (vllm#41421)", () => {
    // Official images have no Ray from 0.18.0: Ray needs an image with it and an explicit executor.
    const d = {
      model: "meta-llama/Llama-3.1-405B-Instruct",
      parallelism: { tensor: 8, pipeline: 2, executor: "ray" },
      asyncScheduling: true,
    };
    const withRay = { ...TWO_NODES, imageHasRay: true };
    const [refusal] = problems("0.20.2", d, withRay);
    expect(refusal).toMatch(/default Ray executor does not run async scheduling.*VLLM_USE_RAY_V2_EXECUTOR_BACKEND=1/);
    expect(problems("0.19.1", d, withRay)[0]).toMatch(/only with the mp executor, not Ray/);
    expect(problems("0.21.0", d, withRay)).toEqual([]);
    // The same deployment on the native executor (auto on these images) runs async scheduling.
    const native = { ...d, parallelism: { tensor: 8, pipeline: 2 } };
    expect(problems("0.20.2", native, TWO_NODES)).toEqual([]);
  });
  it("with speculative decoding: EAGLE/MTP accepted from 0.11.1 (vllm#24799), draft models from 0.15.0, n-gram never", () => {
    const spec = (method: string) => ({
      asyncScheduling: true,
      speculative: { method, ...(method === "ngram" ? {} : { model: "org/draft" }) },
    });
    expect(problems("0.11.0", spec("eagle"))).toHaveLength(1);
    expect(problems("0.11.1", spec("eagle"))).toEqual([]);
    expect(problems("0.14.1", spec("draft_model"))).toHaveLength(1);
    expect(problems("0.15.0", spec("draft_model"))).toEqual([]);
    expect(problems("0.23.0", spec("ngram"))[0]).toMatch(/speculative decoding only for eagle, .*, not ngram/);
  });
});

describe("memory", () => {
  it("sizes the KV cache with the release's default utilisation: 0.9, 0.92 from 0.20.0 (vllm#38284)", () => {
    const before = plan("0.19.1").deployments[0].memory;
    const after = plan("0.20.0").deployments[0].memory;
    expect([before.gpuMemoryUtilization, after.gpuMemoryUtilization]).toEqual([0.9, 0.92]);
    expect(after.kvCacheTokens).toBeGreaterThan(before.kvCacheTokens ?? 0);
    expect(plan("0.20.0", { gpuMemoryUtilization: 0.85 }).deployments[0].memory.gpuMemoryUtilization).toBe(0.85);
  });
});

describe("block sizes", () => {
  it("are the enforced choices up to 0.17.1 and any size from 0.18.0 (vllm#35122)", () => {
    expect(problems("0.17.1", { blockSize: 48 })[0]).toMatch(/accepts block sizes 1, 8, 16, 32, 64, 128, 256/);
    expect(flag(plan("0.18.0", { blockSize: 48 }), "--block-size")).toBe("48");
  });
});

describe("data parallelism", () => {
  const external = { parallelism: { tensor: 1, data: 8, dataLoadBalancing: "external" }, maxModelLen: 32768 };
  it("external load balancing of a dense model is refused from 0.21.0 (vllm#40839), with independent instances as the fix", () => {
    expect(problems("0.20.2", external)).toEqual([]);
    const [refusal] = problems("0.21.0", external);
    expect(refusal).toMatch(/only for mixture-of-experts models \(vllm#40839/);
    expect(refusal).toMatch(/replicas: 8 with parallelism.data 1/);
  });
  it("stays allowed for MoE models, and is warned about for models outside the catalog", () => {
    const moe = { model: "Qwen/Qwen3-235B-A22B", parallelism: { tensor: 4, data: 2, dataLoadBalancing: "external" } };
    expect(problems("0.21.0", moe)).toEqual([]);
    const unknown = planOk(on("0.21.0"), [rawDeployment({ model: "org/unknown-model", ...external })]);
    expect(unknown.warnings.map((w) => w.code)).toContain("external-dp-moe-unchecked");
  });
  it("internal load balancing: from 0.15.0 the plan says one API server per rank serves the endpoint (vllm#32525)", () => {
    const d = { model: "deepseek-ai/DeepSeek-R1", parallelism: { tensor: 1, data: 8, expert: true } };
    const note = (p: Plan) => reasons(p).find((r) => r.rule === "dataLoadBalancing" && /API server/.test(r.what));
    expect(note(plan("0.14.1", d))).toBeUndefined();
    expect(note(plan("0.15.0", d))?.what).toMatch(/8 API server processes/);
    expect(argvOf(plan("0.15.0", d))).not.toContain("--api-server-count");
  });
});

describe("quantization", () => {
  it("ptpc_fp8: plain up to 0.13.0, needs --allow-deprecated-quantization from 0.14.0 (vllm#31688), refused from 0.19.0 (vllm#32700)", () => {
    const d = { quantization: "ptpc_fp8" };
    expect(argvOf(plan("0.13.0", d))).not.toContain("--allow-deprecated-quantization");
    const deprecated = plan("0.14.0", d);
    expect(argvOf(deprecated)).toContain("--allow-deprecated-quantization");
    expect(deprecated.warnings.find((w) => w.code === "quantization-deprecated")?.message).toMatch(
      /deprecated in vLLM 0.14.0 \(vllm#31688\) and removed in vLLM 0.19.0 \(vllm#32700\)/,
    );
    expect(problems("0.19.0", d)).toEqual([
      "rocm-vllm:deployments[0].quantization: vLLM 0.19.0 does not accept ptpc_fp8 on ROCm (removed in vLLM 0.19.0, vllm#32700) Fix: use quantization: fp8 (on-the-fly FP8 with per-tensor scales)",
    ]);
    expect(argvOf(plan("0.19.0", { quantization: "fp8" }))).not.toContain("--allow-deprecated-quantization");
  });
});

describe("flags that came and went", () => {
  it("an extraArgs flag a release removed is refused with the release and pull request that removed it", () => {
    expect(problems("0.17.1", { extraArgs: ["--swap-space", "8"] })).toEqual([]);
    expect(problems("0.18.0", { extraArgs: ["--swap-space", "8"] })).toEqual([
      "rocm-vllm:deployments[0].extraArgs[0]: vllm serve 0.18.0 has no flag --swap-space: vLLM 0.18.0 removed it (vllm#36216), and vllm serve exits on it Fix: remove it",
    ]);
    expect(problems("0.17.0", { extraArgs: ["--disable-log-requests"] })[0]).toMatch(
      /vLLM 0.17.0 removed it \(vllm#35723\).*requests are logged only with --enable-log-requests/,
    );
    expect(problems("0.13.0", { extraArgs: ["--task", "generate"] })[0]).toMatch(
      /vLLM 0.13.0 removed it \(vllm v0.13.0 vllm\/engine\/arg_utils.py.*use --runner or --convert instead/,
    );
  });
  it("an extraArgs flag of a later release is refused naming the release that added it", () => {
    expect(problems("0.11.1", { extraArgs: ["--performance-mode", "throughput"] })[0]).toMatch(
      /it arrived in vLLM 0.17.0.*use an image with vLLM 0.17.0 or newer/,
    );
    expect(problems("0.11.1", { extraArgs: ["--tensor-paralel-size", "8"] })[0]).toMatch(
      /did you mean --tensor-parallel-size/,
    );
  });
  it("flags the planner sets from config keys are refused in extraArgs, new ones included", () => {
    for (const [arg, key] of [
      ["--attention-backend=TRITON_ATTN", "attention"],
      ["--shutdown-timeout=5", "timeouts.shutdownSeconds"],
      ["--distributed-timeout-seconds=900", "timeouts.distributedSeconds"],
      ["--allow-deprecated-quantization", "quantization"],
      ["--no-async-scheduling", "asyncScheduling"],
    ]) {
      expect(problems("0.23.0", { extraArgs: [arg] })[0]).toMatch(new RegExp(`from the config key ${key}`));
    }
  });
});

describe("timeouts of vLLM 0.18.0", () => {
  it("shutdownSeconds → --shutdown-timeout (vllm#36666), refused on releases without the flag", () => {
    expect(flag(plan("0.18.0", { timeouts: { shutdownSeconds: 20 } }), "--shutdown-timeout")).toBe("20");
    expect(problems("0.17.1", { timeouts: { shutdownSeconds: 20 } })).toEqual([
      "rocm-vllm:deployments[0].timeouts.shutdownSeconds: vllm serve 0.17.1 has no --shutdown-timeout (vllm#36666 (--shutdown-timeout, vLLM 0.18.0)) Fix: remove timeouts.shutdownSeconds, or use an image with vLLM 0.18.0 or newer",
    ]);
  });
  it("gives containers a stop grace longer than vLLM's drain, so Docker never cuts it short", () => {
    const long = planOk(on("0.23.0"), [rawDeployment({ timeouts: { shutdownSeconds: 60 } })]);
    expect(long.nodes[0]?.containers[0]?.stopGraceSeconds).toBe(90);
    expect(long.warnings).toEqual([]);
  });
  it("drains by default where the release can: --shutdown-timeout from rollout.drainSeconds; none before 0.18.0", () => {
    const drained = plan("0.23.0", { rollout: { drainSeconds: 45 } });
    expect(flag(drained, "--shutdown-timeout")).toBe("45");
    expect(drained.nodes[0]?.containers[0]?.stopGraceSeconds).toBe(75);
    expect(drained.deployments[0]?.rollout.gracefulShutdown).toBe(true);
    const old = plan("0.17.1", {});
    expect(flag(old, "--shutdown-timeout")).toBeUndefined();
    expect(old.nodes[0]?.containers[0]?.stopGraceSeconds).toBe(30);
    expect(old.deployments[0]?.rollout.gracefulShutdown).toBe(false);
  });
  it("distributedSeconds → --distributed-timeout-seconds", () => {
    expect(flag(plan("0.18.0", { timeouts: { distributedSeconds: 1800 } }), "--distributed-timeout-seconds")).toBe(
      "1800",
    );
    expect(problems("0.17.1", { timeouts: { distributedSeconds: 1800 } })).toHaveLength(1);
  });
});

describe("GPU visibility", () => {
  const ray = { model: "meta-llama/Llama-3.1-405B-Instruct", parallelism: { tensor: 8, pipeline: 2 } };
  it("Ray containers get the RAY_EXPERIMENTAL_NOSET_* opt-outs up to 0.15.1; from 0.16.0 vLLM sets them (vllm#33308)", () => {
    expect(envOf(plan("0.15.1", ray, TWO_NODES)).RAY_EXPERIMENTAL_NOSET_HIP_VISIBLE_DEVICES).toBe("1");
    const p = plan("0.16.0", ray, TWO_NODES);
    expect(Object.keys(envOf(p)).filter((k) => k.startsWith("RAY_EXPERIMENTAL_NOSET"))).toEqual([]);
    expect(reasons(p).find((r) => r.rule === "rayVisibilityOptOut")?.source).toMatch(/vllm#33308/);
  });
  it("HIP_VISIBLE_DEVICES in extraEnv: refused with how the release fails (a ValueError from 0.17.0)", () => {
    const d = { extraEnv: { HIP_VISIBLE_DEVICES: "0" } };
    expect(problems("0.16.0", d)[0]).toMatch(/in vLLM 0.16.0 an assertion fails/);
    expect(problems("0.17.0", d)[0]).toMatch(
      /Inconsistent GPU visibility env vars.*vllm v0.17.0 vllm\/platforms\/rocm.py/,
    );
  });
});

describe("which release an image runs", () => {
  const image = (img: string, extra: RawCluster = {}) =>
    planRaw(rawCluster({ image: img, ...extra }), [rawDeployment()]);
  it("reads 2026 tags, AMD's dated tags and official tags", () => {
    for (const [img, v] of [
      ["rocm/vllm:rocm7.13.0_gfx120X-all_ubuntu24.04_py3.13_pytorch_2.10.0_vllm_0.19.1", "0.19.1"],
      ["vllm/vllm-openai-rocm:v0.23.0", "0.23.0"],
      ["rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024", "0.11.1"],
    ]) {
      const r = image(img);
      expect(r.problems).toEqual([]);
      expect(r.plan.cluster.vllmVersion).toBe(v);
    }
  });
  it("needs vllmVersion for digests and version-less tags, and then uses it", () => {
    const digest = `vllm/vllm-openai-rocm@sha256:${"c".repeat(64)}`;
    expect(image(digest).problems.map((p) => p.path)).toEqual(["rocm-vllm:cluster.vllmVersion"]);
    expect(image(digest, { vllmVersion: "0.23.0" }).plan.cluster.vllmVersion).toBe("0.23.0");
    expect(image("rocm/vllm:latest", { vllmVersion: "0.19.1" }).problems).toEqual([]);
  });
  it("refuses a tag and a vllmVersion that disagree, in one line with path and fix", () => {
    const r = image("vllm/vllm-openai-rocm:v0.23.0", { vllmVersion: "0.22.1" });
    expect(r.problems).toEqual([
      {
        path: "rocm-vllm:cluster.vllmVersion",
        value: '"0.22.1"',
        message: "contradicts the image tag, which carries vLLM 0.23.0",
        fix: "remove vllmVersion or set it to 0.23.0",
      },
    ]);
  });
  it("refuses releases older than the table, naming the oldest it knows", () => {
    const r = image("rocm/vllm:rocm6.4.1_vllm_0.9.2_20250715");
    expect(r.problems.map((p) => [p.path, p.message, p.fix])).toEqual([
      [
        "rocm-vllm:cluster.image",
        "vLLM 0.9.2 is older than the oldest release rocm-vllm knows (0.10.2), so its flags cannot be checked",
        "use an image with vLLM 0.10.2 or newer (rocm-vllm knows vLLM 0.10.2 to 0.25.1, see README § vLLM releases)",
      ],
    ]);
  });
  it("plans newer releases with the newest known release's data and says so in the plan and its text", () => {
    const r = image("vllm/vllm-openai-rocm:v0.27.1");
    expect(r.problems).toEqual([]);
    expect(r.plan.warnings[0]).toMatchObject({ code: "vllm-newer-than-table", path: "rocm-vllm:cluster.image" });
    expect(r.plan.warnings[0].message).toMatch(/planned with vLLM 0.25.1's flags, variables and defaults/);
    expect(renderPlan(r.plan, "stack.yaml")).toContain("vLLM 0.27.1 (checked against 0.25.1)");
    const between = image("rocm/vllm:latest", { vllmVersion: "0.24.0" });
    expect(between.plan.warnings[0]).toMatchObject({
      code: "vllm-not-in-table",
      path: "rocm-vllm:cluster.vllmVersion",
    });
  });
});
