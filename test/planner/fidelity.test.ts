/**
 * Guide fidelity, second pass (issue 12): one block per item. Each test fails without its rule or table entry.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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
  it("refuses an alias and its value written as one item, as argparse would", () => {
    const r = planRaw(rawCluster(), [rawDeployment({ extraArgs: ["-tp 4"] })]);
    expect(problemLines(r)).toEqual([
      expect.stringMatching(
        /-tp \(= --tensor-parallel-size\) and its value are one item.* \| write them as two items \("-tp"/,
      ),
    ]);
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
  it("refuses it on a Ray deployment (set there), and ray where rocm-vllm chose no Ray", () => {
    const twoNodes = (image: string) =>
      rawCluster({
        image,
        nodes: [
          { name: "node-a", host: "10.0.0.11" },
          { name: "node-b", host: "10.0.0.12" },
        ],
      });
    const big = (extraArgs: string[]) =>
      rawDeployment({
        model: "meta-llama/Llama-3.1-405B-Instruct",
        parallelism: { tensor: 8, pipeline: 2 },
        maxModelLen: 8192,
        extraArgs,
      });
    // 0.17.1's image ships Ray: the plan runs Ray across the nodes and owns the flag.
    const ray = planRaw(twoNodes("vllm/vllm-openai-rocm:v0.17.1"), [big(["--distributed-executor-backend=mp"])]);
    expect(problemLines(ray)).toEqual([expect.stringMatching(/is set by rocm-vllm for this deployment/)]);
    // 0.11.1 runs natively across nodes (Ray across nodes is broken there): ray would undo that.
    const native = planRaw(rawCluster({ nodes: twoNodes("x:y").nodes }), [
      big(["--distributed-executor-backend", "ray"]),
    ]);
    expect(problemLines(native)).toEqual([expect.stringMatching(/runs Ray only for engines that span nodes/)]);
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
      expect.stringMatching(
        /asyncScheduling: vLLM 0\.11\.1 runs async scheduling with speculative decoding only for eagle,.* not ngram/,
      ),
    ]);
    expect(
      problemLines(planRaw(cluster0110(), [rawDeployment(spec("eagle3", "yuhuili/EAGLE3-LLaMA3.3-Instruct-70B"))])),
    ).toEqual([expect.stringMatching(/vLLM 0\.11\.0 rejects async scheduling with speculative decoding/)]);
  });
});

describe("item 2: quantization against what the checkpoint is stored as", () => {
  it.each(["awq", "gptq", "mxfp4", "compressed-tensors"])(
    "refuses %s on the BF16 Llama-3.3-70B: vLLM cannot produce it at load time",
    (quantization) => {
      const r = planRaw(rawCluster({ gpu: "mi355x" }), [rawDeployment({ quantization, parallelism: { tensor: 1 } })]);
      expect(problemLines(r)).toEqual([
        expect.stringMatching(
          /quantization: meta-llama\/Llama-3\.3-70B-Instruct is stored as BF16, and vLLM quantizes at load time only to fp8 or ptpc_fp8/,
        ),
      ]);
    },
  );
  it("refuses gptq on a compressed-tensors W4A16 checkpoint with vLLM's mismatch error", () => {
    const r = planRaw(rawCluster(), [
      rawDeployment({ model: "RedHatAI/Meta-Llama-3.1-70B-Instruct-quantized.w4a16", quantization: "gptq" }),
    ]);
    expect(problemLines(r)).toEqual([
      expect.stringMatching(
        /Quantization method specified in the model config \(compressed-tensors\) does not match .*\(gptq\).* \| set quantization: none or compressed-tensors/,
      ),
    ]);
  });
  it("accepts the checkpoint's own method: fp8 on FP8 DeepSeek-R1 (flag) and on an AMD Quark FP8 model (inferred)", () => {
    const r1 = planOk(rawCluster(), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", quantization: "fp8", maxModelLen: 8192 }),
    ]);
    expect(flagValue(argv(r1), "--quantization")).toBe("fp8");
    const quark = planOk(rawCluster(), [
      rawDeployment({ model: "amd/Llama-3.3-70B-Instruct-FP8-KV", quantization: "fp8" }),
    ]);
    expect(argv(quark)).not.toContain("--quantization");
  });
  it("refuses ptpc_fp8 on an FP8 checkpoint (a different method than the checkpoint's)", () => {
    const r = planRaw(rawCluster(), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", quantization: "ptpc_fp8", maxModelLen: 8192 }),
    ]);
    expect(problemLines(r)).toEqual([expect.stringMatching(/\(fp8\) does not match .*\(ptpc_fp8\)/)]);
  });
  it("sizes memory from what is loaded: on-the-fly fp8 halves BF16 weights, a stored format keeps its size", () => {
    const bf16 = planOk(rawCluster(), [rawDeployment()]).deployments[0].memory.weightsPerGpuGiB ?? 0;
    const fp8 = planOk(rawCluster(), [rawDeployment({ quantization: "fp8" })]).deployments[0].memory.weightsPerGpuGiB;
    expect(fp8).toBeCloseTo(bf16 / 2, 0);
    const awq = planOk(rawCluster(), [
      rawDeployment({ model: "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", parallelism: { tensor: 1 } }),
    ]);
    expect(awq.deployments[0].memory.weightsPerGpuGiB).toBeCloseTo((70.6e9 * 0.53) / 1024 ** 3, 0);
    // An AWQ checkpoint needs the Triton AWQ kernels on ROCm whatever `quantization` says.
    expect(awq.deployments[0].env.VLLM_USE_TRITON_AWQ).toBe("1");
  });
  it("uses modelInfo.format for uncatalogued checkpoints", () => {
    const info = { paramsB: 70, layers: 80, heads: 64, kvHeads: 8, headDim: 128 };
    const bf16 = planRaw(rawCluster(), [
      rawDeployment({ model: "acme/model-awq", quantization: "awq", modelInfo: info }),
    ]);
    expect(bf16.problems.map((p) => p.fix)).toEqual([expect.stringMatching(/modelInfo\.format is wrong/)]);
    const awq = planOk(rawCluster(), [
      rawDeployment({ model: "acme/model-awq", quantization: "awq", modelInfo: { ...info, format: "awq" } }),
    ]);
    expect(flagValue(argv(awq), "--quantization")).toBe("awq");
    expect(awq.deployments[0].memory.weightsPerGpuGiB).toBeCloseTo((70e9 * 0.53) / 8 / 1024 ** 3, 1);
  });
});

describe("item 3: architecture from the catalog or modelInfo, never from the name", () => {
  it("serves the R1 distills as the GQA models they are: AITER MHA, no --block-size 1, aiter-mha accepted", () => {
    for (const model of ["deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"]) {
      const plan = planOk(cluster010(), [rawDeployment({ model, maxModelLen: 32768 })]);
      expect(plan.deployments[0].attention.backend).toBe("aiter-mha");
      expect(argv(plan)).not.toContain("--block-size");
      expect(
        planRaw(cluster010(), [rawDeployment({ model, attention: "aiter-mha", maxModelLen: 32768 })]).problems,
      ).toEqual([]);
    }
  });
  it("checks heads per rank for an uncatalogued MLA model described by modelInfo (Kimi-K2-like, 64 heads, TP 8)", () => {
    const kimi = {
      paramsB: 1000,
      layers: 61,
      heads: 64,
      kvHeads: 64,
      headDim: 128,
      format: "fp8",
      moe: true,
      expertFraction: 0.97,
      mla: { kvLoraRank: 512, ropeHeadDim: 64 },
    };
    const r = planRaw(rawCluster({ gpu: "mi355x" }), [
      rawDeployment({ model: "moonshotai/Kimi-K2-Instruct", modelInfo: kimi, maxModelLen: 8192 }),
    ]);
    expect(problemLines(r)).toEqual([
      expect.stringMatching(
        /parallelism\.tensor: AITER MLA supports 16 or 128 heads per rank; 64 heads \/ TP 8 = 8 .*attention: triton-mla/,
      ),
    ]);
  });
  it("runs a model of unknown architecture on the safe backend, with a warning", () => {
    const plan = planOk(cluster010(), [
      rawDeployment({ model: "moonshotai/Kimi-K2-Instruct", profile: "throughput", parallelism: { tensor: 8 } }),
    ]);
    const d = plan.deployments[0];
    expect(d.attention.backend).toBe("triton-unified");
    expect(d.env).toMatchObject({
      VLLM_ROCM_USE_AITER: "1",
      VLLM_ROCM_USE_AITER_MHA: "0",
      VLLM_ROCM_USE_AITER_MLA: "0",
    });
    expect(argv(plan)).not.toContain("--block-size");
    expect(JSON.parse(flagValue(argv(plan), "--compilation-config") ?? "{}")).toEqual({ cudagraph_mode: "PIECEWISE" });
    expect(codes(plan)).toContain("architecture-unknown");
  });
});

describe("item 4: Triton MLA with an FP8 KV cache before vLLM 0.18", () => {
  it("refuses DeepSeek-R1 without AITER and with fp8 KV on 0.10.2 and 0.11.1, with the fix", () => {
    for (const c of [cluster010(), rawCluster()]) {
      const r = planRaw(c, [
        rawDeployment({ model: "deepseek-ai/DeepSeek-R1", aiter: false, kvCacheDtype: "fp8", maxModelLen: 8192 }),
      ]);
      expect(problemLines(r)).toEqual([
        expect.stringMatching(
          /kvCacheDtype: vLLM 0\.1[01]\.[12] raises "TritonMLA V1 with FP8 KV cache not yet supported"/,
        ),
      ]);
    }
  });
  it("keeps fp8 KV with AITER MLA", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", kvCacheDtype: "fp8", maxModelLen: 8192 }),
    ]);
    expect(plan.deployments[0].attention.backend).toBe("aiter-mla");
  });
});

describe("item 8: Triton MLA with AITER kept on", () => {
  it("plans DeepSeek-R1-MXFP4 at TP 4 on MI355X with attention: triton-mla: AITER on, AITER MLA off", () => {
    const plan = planOk(rawCluster({ gpu: "mi355x" }), [
      rawDeployment({
        model: "amd/DeepSeek-R1-0528-MXFP4-Preview",
        attention: "triton-mla",
        parallelism: { tensor: 4 },
        maxModelLen: 8192,
      }),
    ]);
    const d = plan.deployments[0];
    expect(d.attention).toEqual({ backend: "triton-mla", expectedLogLine: "Using Triton MLA backend." });
    expect(d.env).toMatchObject({ VLLM_ROCM_USE_AITER: "1", VLLM_ROCM_USE_AITER_MLA: "0" });
  });
  it("refuses it for a GQA model and with block size 1", () => {
    expect(problemLines(planRaw(rawCluster(), [rawDeployment({ attention: "triton-mla" })]))).toEqual([
      expect.stringMatching(/attention: triton-mla serves only models with multi-head latent attention/),
    ]);
    const r = planRaw(rawCluster(), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", attention: "triton-mla", blockSize: 1, maxModelLen: 8192 }),
    ]);
    expect(problemLines(r)).toEqual([expect.stringMatching(/blockSize: Triton MLA does not run with block size 1/)]);
  });
});

describe("item 15: calibrated KV scales left unused", () => {
  it("warns when an amd/*-FP8-KV checkpoint is served with kvCacheDtype auto, not with fp8", () => {
    const auto = planOk(rawCluster(), [rawDeployment({ model: "amd/Llama-3.3-70B-Instruct-FP8-KV" })]);
    expect(auto.warnings.map((w) => [w.code, w.path])).toEqual([
      ["kv-scales-unused", "rocm-vllm:deployments[0].kvCacheDtype"],
    ]);
    const fp8 = planOk(rawCluster(), [
      rawDeployment({ model: "amd/Llama-3.3-70B-Instruct-FP8-KV", kvCacheDtype: "fp8" }),
    ]);
    expect(fp8.warnings).toEqual([]);
  });
});

describe("item 11: KV cache information instead of kv-demand noise", () => {
  it("plans the production config Llama-3.3-70B TP 8, maxModelLen 32768, throughput, with no warning at all", () => {
    const plan = planOk(rawCluster(), [rawDeployment({ maxModelLen: 32768, profile: "throughput" })]);
    expect(plan.warnings).toEqual([]);
    const m = plan.deployments[0].memory;
    expect(m.maxLengthSequences).toBe(Math.floor((m.kvCacheTokens ?? 0) / 32768));
    expect(m.notes.join("\n")).toMatch(/sequences of 32768 tokens at once, ~\d+ of 2048/);
  });
  it("warns only when an explicit maxNumSeqs is out of reach at typical lengths, and never suggests fp8 KV twice", () => {
    const tight = { model: "meta-llama/Llama-3.1-405B-Instruct", maxModelLen: 8192, maxNumSeqs: 2048 };
    const auto = planOk(rawCluster(), [rawDeployment(tight)]);
    expect(auto.warnings.map((w) => w.code)).toEqual(["max-num-seqs-unreachable"]);
    expect(auto.warnings[0].message).toMatch(/kvCacheDtype: fp8/);
    const fp8 = planOk(rawCluster(), [rawDeployment({ ...tight, kvCacheDtype: "fp8", maxNumSeqs: 4096 })]);
    expect(fp8.warnings.map((w) => w.code)).toEqual(["max-num-seqs-unreachable"]);
    expect(fp8.warnings[0].message).not.toMatch(/fp8/);
    const scout = { model: "meta-llama/Llama-4-Scout-17B-16E-Instruct", parallelism: { tensor: 4 } };
    expect(planRaw(rawCluster(), [rawDeployment(scout)]).problems.map((p) => p.fix)).toEqual([
      expect.stringMatching(/kvCacheDtype: fp8/),
    ]);
    const tooLong = planRaw(rawCluster(), [rawDeployment({ ...scout, kvCacheDtype: "fp8" })]);
    expect(tooLong.problems.map((p) => [p.path, p.fix])).toEqual([
      ["rocm-vllm:deployments[0].maxModelLen", expect.not.stringMatching(/fp8/)],
    ]);
  });
});

describe("item 12: Llama 4 chunked attention per release", () => {
  const scout = { model: "meta-llama/Llama-4-Scout-17B-16E-Instruct", maxModelLen: 131072 };
  it("on 0.10–0.11 the full-attention figure is what vLLM allocates (hybrid manager off by default)", () => {
    const notes = planOk(rawCluster(), [rawDeployment(scout)]).deployments[0].memory.notes.join("\n");
    expect(notes).toMatch(/vLLM 0\.11\.1 turns the hybrid KV-cache manager off .*is what vLLM allocates/);
    expect(notes).not.toMatch(/lower bound/);
  });
  it("with VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1 it is a lower bound", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ ...scout, extraEnv: { VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE: "1" } }),
    ]);
    expect(plan.deployments[0].memory.notes.join("\n")).toMatch(/chunked-attention layers .* lower bound/);
  });
});

describe("item 1: the download job fetches what vLLM loads", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  it("skips original/ and metal/, keeps top-level weights, config and tokenizer (run against the stand-in hub client)", () => {
    const twoNodes = rawCluster({
      nodes: [
        { name: "node-a", host: "10.0.0.11" },
        { name: "node-b", host: "10.0.0.12" },
      ],
    });
    const plan = planOk(
      twoNodes,
      [
        rawDeployment({
          model: "meta-llama/Llama-3.1-405B-Instruct",
          parallelism: { tensor: 8, pipeline: 2 },
          maxModelLen: 8192,
        }),
      ],
      true,
    );
    const job = plan.nodes[0].jobs.find((j) => j.container.role === "weights");
    expect(job).toBeDefined();
    const home = mkdtempSync(join(tmpdir(), "rv-weights-"));
    dirs.push(home);
    const [cmd, ...args] = job?.container.command ?? [];
    const r = spawnSync(cmd, args, {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        HF_HOME: home,
        HF_TOKEN: "hf_test",
        PYTHONPATH: join(__dirname, "..", "e2e", "standins", "python"),
      },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\*\.safetensors and config\/tokenizer files; subfolders skipped/);
    const snapshot = join(home, "hub", "models--meta-llama--Llama-3.1-405B-Instruct", "snapshots", "main");
    expect(readdirSync(snapshot).sort()).toEqual([
      ".standin-token-sha256",
      "config.json",
      "generation_config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
  });
});

describe("item 7: data-parallel RPC ports per deployment", () => {
  it("plans two external-LB data-parallel deployments on one node with distinct RPC ports", () => {
    const dp = (name: string, port: number) =>
      rawDeployment({
        name,
        model: "Qwen/Qwen3-235B-A22B",
        parallelism: { tensor: 2, data: 2, expert: true, dataLoadBalancing: "external" },
        maxModelLen: 8192,
        port,
      });
    const r = planRaw(rawCluster({ gpu: "mi355x" }), [dp("a", 8000), dp("b", 8100)]);
    expect(r.problems).toEqual([]);
    const ports = r.plan.nodes[0].containers.map((c) => c.ports);
    expect(ports).toEqual([[8000, 13345], [8001], [8100, 13445], [8101]]);
  });
  it("refuses a port whose RPC port would leave the TCP range", () => {
    const r = planRaw(rawCluster({ gpu: "mi355x" }), [
      rawDeployment({
        model: "Qwen/Qwen3-235B-A22B",
        parallelism: { tensor: 2, data: 2, expert: true, dataLoadBalancing: "external" },
        maxModelLen: 8192,
        port: 62000,
      }),
    ]);
    expect(problemLines(r)).toEqual([expect.stringMatching(/port: the data-parallel RPC ports .* beyond 65535/)]);
  });
});

describe("item 9: instances sharing a GPU", () => {
  const oneGpu = rawCluster({ nodes: [{ name: "node-a", host: "10.0.0.11", gpus: 1 }] });
  const small = (name: string, model: string, port: number, gpuMemoryUtilization: number) =>
    rawDeployment({ name, model, parallelism: { tensor: 1 }, maxModelLen: 4096, gpuMemoryUtilization, port });
  it("plans the guide's two instances at 0.45 on GPU 0, each sized for its share", () => {
    const plan = planOk(oneGpu, [
      small("llama", "meta-llama/Llama-3.1-8B-Instruct", 8000, 0.45),
      small("guard", "meta-llama/Llama-Guard-3-8B", 8001, 0.45),
    ]);
    expect(plan.deployments.map((d) => d.instances[0].placement)).toEqual([
      [{ node: "node-a", gpus: [0] }],
      [{ node: "node-a", gpus: [0] }],
    ]);
    expect(plan.deployments[1].memory.kvBudgetPerGpuGiB).toBeCloseTo(0.45 * 192 - 16 * 0.935 - 6, 0);
    expect(plan.deployments[1].reasons.map((x) => x.what)).toContain(
      "replica 0 shares GPUs 0 of node-a with llama (gpuMemoryUtilization sums to 0.9 ≤ 0.969)",
    );
  });
  it("refuses sharing when the utilisations exceed what one GPU holds", () => {
    const r = planRaw(oneGpu, [
      small("llama", "meta-llama/Llama-3.1-8B-Instruct", 8000, 0.5),
      small("guard", "meta-llama/Llama-Guard-3-8B", 8001, 0.5),
    ]);
    expect(r.problems.map((p) => [p.path, p.fix])).toEqual([
      ["rocm-vllm:deployments[1].parallelism", expect.stringMatching(/lower gpuMemoryUtilization .* ≤ 0\.969/)],
    ]);
  });
});

describe("item 13: partitioned GPUs", () => {
  const cpxNode = (gpus: number) => [{ name: "node-a", host: "10.0.0.11", gpus }];
  it("sizes a CPX logical MI300X GPU at 24 GiB: a 405B on 64 logical GPUs does not fit as TP 8", () => {
    const r = planRaw(rawCluster({ nodes: cpxNode(64), partition: "cpx" }), [
      rawDeployment({ model: "meta-llama/Llama-3.1-405B-Instruct", maxModelLen: 8192 }),
    ]);
    expect(r.plan.cluster).toMatchObject({ hbmGiB: 24, partition: "cpx" });
    expect(problemLines(r)).toEqual([expect.stringMatching(/does not fit: .* \(0\.9 × 24 GiB MI300X\)/)]);
  });
  it("refuses counts that match no mode, naming the mode that fits", () => {
    const r = planRaw(rawCluster({ nodes: cpxNode(64) }), [rawDeployment()]);
    expect(problemLines(r)).toEqual([
      expect.stringMatching(
        /cluster\.nodes\[0\]\.gpus: an MI300X node has at most 8 GPUs.* \| .*partition: cpx \(8 MI300X × 8/,
      ),
    ]);
    expect(
      planRaw(rawCluster({ nodes: cpxNode(6), partition: "cpx" }), [rawDeployment()]).problems.map((p) => p.path),
    ).toEqual(["rocm-vllm:cluster.nodes[0].gpus"]);
  });
  it("no longer packs a two-node Llama-405B onto one 16-GPU node", () => {
    const r = planRaw(rawCluster({ nodes: cpxNode(16) }), [
      rawDeployment({ model: "meta-llama/Llama-3.1-405B-Instruct", parallelism: { tensor: 8, pipeline: 2 } }),
    ]);
    expect(r.problems.map((p) => p.path)).toContain("rocm-vllm:cluster.nodes[0].gpus");
  });
});

describe("item 14: RDMA", () => {
  const twoNodes = (network: Record<string, unknown>) =>
    rawCluster({
      network: { interface: "ens50f0np0", ...network },
      nodes: [
        { name: "node-a", host: "10.0.0.11" },
        { name: "node-b", host: "10.0.0.12" },
        { name: "node-c", host: "10.0.0.13" },
      ],
    });
  const ray = rawDeployment({
    name: "big",
    model: "meta-llama/Llama-3.1-405B-Instruct",
    parallelism: { tensor: 8, pipeline: 2 },
    maxModelLen: 8192,
    nodes: ["node-a", "node-b"],
  });
  const single = rawDeployment({ name: "one", nodes: ["node-c"] });
  it("warns when rdma is on without ibHca for deployments that cross nodes", () => {
    const plan = planOk(twoNodes({ rdma: true }), [ray]);
    expect(plan.warnings.map((w) => [w.code, w.path])).toEqual([
      ["rdma-without-ib-hca", "rocm-vllm:cluster.network.ibHca"],
    ]);
    expect(planOk(twoNodes({ rdma: true, ibHca: "rdma0,rdma1" }), [ray]).warnings).toEqual([]);
    expect(planOk(twoNodes({ rdma: true }), [single]).warnings).toEqual([]);
  });
  it("gives /dev/infiniband, IPC_LOCK, RDMA env and RDMA preflight only to what crosses nodes", () => {
    const plan = planOk(twoNodes({ rdma: true, ibHca: "rdma0" }), [ray, single]);
    const byNode = Object.fromEntries(plan.nodes.map((n) => [n.name, n]));
    expect(byNode["node-a"].containers[0].devices).toContain("/dev/infiniband");
    expect(byNode["node-a"].containers[0].env.NCCL_IB_HCA).toBe("rdma0");
    const c = byNode["node-c"].containers[0];
    expect(c.devices).toEqual(["/dev/kfd", "/dev/dri"]);
    expect(c.capAdd).toEqual(["CAP_SYS_PTRACE"]);
    expect(c.env.NCCL_IB_HCA).toBeUndefined();
    expect(byNode["node-c"].preflight?.checks.join("\n")).not.toMatch(/infiniband/);
    expect(byNode["node-a"].preflight?.checks.join("\n")).toMatch(/\/dev\/infiniband exists/);
  });
  it("bind-mounts the host's verbs provider for Pollara NICs (or the given paths), checks them in preflight, says so", () => {
    const plan = planOk(twoNodes({ rdma: true, ibHca: "ionic_0", nic: "pollara" }), [ray]);
    const head = plan.nodes[0];
    const mounts = head.containers[0].volumes.filter((v) => v.readOnly).map((v) => v.hostPath);
    expect(mounts).toContain("/usr/lib/x86_64-linux-gnu/libionic.so.1");
    expect(mounts).toContain("/etc/libibverbs.d");
    expect(head.preflight?.script).toContain("/usr/lib/x86_64-linux-gnu/libionic.so.1");
    expect(plan.deployments[0].reasons.map((r) => r.what).join("\n")).toMatch(/host RDMA verbs libraries bind-mounted/);
    const custom = planOk(twoNodes({ rdma: true, ibHca: "x", verbsLibraries: ["/opt/rdma/lib/libfoo.so"] }), [ray]);
    expect(custom.nodes[0].containers[0].volumes.filter((v) => v.readOnly)).toEqual([
      { hostPath: "/opt/rdma/lib/libfoo.so", containerPath: "/opt/rdma/lib/libfoo.so", readOnly: true },
    ]);
  });
});
