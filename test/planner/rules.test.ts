/**
 * One block per guide rule (numbered as in issue 2). Each test fails when its rule is removed or changed.
 */
import { describe, expect, it } from "vitest";
import { asDaemonStores } from "../../planner/rules/containerRuntime";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { DeploymentPlan, Plan } from "../../planner/types";
import { planOk, planRaw, problemsOf, RAY_IMAGE, rawCluster, rawDeployment } from "../support/stackConfigs";

const dep = (plan: Plan, i = 0): DeploymentPlan => plan.deployments[i];
const argv = (plan: Plan, i = 0) => dep(plan, i).instances[0].argv;
const env = (plan: Plan, i = 0) => dep(plan, i).instances[0].env;
const flagValue = (args: string[], flag: string) => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};
const containers = (plan: Plan) => plan.nodes.flatMap((n) => n.containers);
const twoNodes = (extra: Record<string, unknown> = {}) =>
  rawCluster({
    nodes: [
      { name: "node-a", host: "10.0.0.11" },
      { name: "node-b", host: "10.0.0.12" },
    ],
    ...extra,
  });
/** Two nodes on a release whose images run Ray across nodes (executor auto → ray). */
const twoRayNodes = (extra: Record<string, unknown> = {}) => twoNodes({ image: RAY_IMAGE, ...extra });
const paths = (ps: { path: string }[]) => ps.map((p) => p.path);

describe("rule 1: GPU container runtime", () => {
  it("maps /dev/kfd and /dev/dri with video group, host IPC/network, seccomp, SYS_PTRACE, memlock and stack ulimits", () => {
    const plan = planOk(rawCluster(), [rawDeployment()]);
    const [c] = containers(plan);
    expect(c.devices).toEqual(["/dev/kfd", "/dev/dri"]);
    expect(c.groupAdd).toEqual(["video"]);
    expect(c.ipcMode).toBe("host");
    expect(c.networkMode).toBe("host");
    // As `docker inspect` reports them (asDaemonStores): otherwise the Docker provider replaces the container on
    // every `pulumi up`.
    expect(c.securityOpt).toEqual(["seccomp=unconfined", "label=disable"]);
    expect(c.capAdd).toEqual(["CAP_SYS_PTRACE"]);
    expect(c.ulimits).toEqual([
      { name: "memlock", soft: -1, hard: -1 },
      { name: "stack", soft: 67108864, hard: 67108864 },
    ]);
    expect(c.shmSizeMb).toBeUndefined();
    expect(c.sharedMemory).toMatch(/host's \/dev\/shm/);
  });
  it("mounts the model cache at the HF cache path on every container", () => {
    const plan = planOk(twoNodes(), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
    for (const c of containers(plan)) {
      expect(c.volumes).toEqual([
        { hostPath: "/data/huggingface", containerPath: "/root/.cache/huggingface", readOnly: false },
        {
          hostPath: `/var/cache/rocm-vllm/${c.name}`,
          containerPath: "/root/.cache/rocm-vllm",
          readOnly: false,
          perImage: true,
        },
      ]);
      expect(c.env.HF_HOME).toBe("/root/.cache/huggingface");
    }
  });
});

describe("rule 1b: container fields as the Docker daemon stores them", () => {
  it("prefixes, upper-cases, sorts and deduplicates capabilities as the Docker client does", () => {
    const r = asDaemonStores({
      capAdd: ["sys_ptrace", "IPC_LOCK", "CAP_IPC_LOCK"],
      securityOpt: [],
      ipcMode: "private",
    });
    expect(r.capAdd).toEqual(["CAP_IPC_LOCK", "CAP_SYS_PTRACE"]);
    expect(r.securityOpt).toEqual([]);
  });
  it("adds label=disable with host IPC unless a label option is given, as the daemon does", () => {
    expect(asDaemonStores({ capAdd: [], securityOpt: ["seccomp=unconfined"], ipcMode: "host" }).securityOpt).toEqual([
      "seccomp=unconfined",
      "label=disable",
    ]);
    expect(asDaemonStores({ capAdd: [], securityOpt: ["label=type:x"], ipcMode: "host" }).securityOpt).toEqual([
      "label=type:x",
    ]);
  });
  it("leaves every container, service and job of a plan unchanged (the plan already is what docker inspect reports)", () => {
    for (const rdma of [false, true]) {
      const plan = planOk(rawCluster({ network: { rdma } }), [rawDeployment({ loadBalancer: {}, benchmark: {} })]);
      for (const n of plan.nodes) {
        for (const c of [...n.containers, ...n.services, ...n.jobs.map((j) => j.container)]) {
          expect(asDaemonStores(c), c.name).toEqual(c);
        }
      }
    }
  });
});

describe("rule 2: base environment", () => {
  it("sets HIP_FORCE_DEV_KERNARG, TORCH_BLAS_PREFER_HIPBLASLT and VLLM_HOST_IP per node", () => {
    const plan = planOk(twoNodes(), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
    const [a, b] = plan.nodes;
    expect(a.containers[0].env).toMatchObject({
      HIP_FORCE_DEV_KERNARG: "1",
      TORCH_BLAS_PREFER_HIPBLASLT: "1",
      VLLM_HOST_IP: "10.0.0.11",
    });
    expect(b.containers[0].env.VLLM_HOST_IP).toBe("10.0.0.12");
  });
  it("sets NCCL/GLOO socket interface only when an interface is configured", () => {
    const withIf = planOk(rawCluster({ network: { interface: "ens50f0np0" } }), [rawDeployment()]);
    expect(env(withIf)).toMatchObject({ NCCL_SOCKET_IFNAME: "ens50f0np0", GLOO_SOCKET_IFNAME: "ens50f0np0" });
    const without = planOk(rawCluster(), [rawDeployment()]);
    expect(env(without).NCCL_SOCKET_IFNAME).toBeUndefined();
    expect(env(without).GLOO_SOCKET_IFNAME).toBeUndefined();
  });
  it("gives every node of a deployment the same env except VLLM_HOST_IP", () => {
    const plan = planOk(twoNodes({ network: { interface: "eth0", rdma: true } }), [
      rawDeployment({
        parallelism: { tensor: 8, pipeline: 2 },
        model: "meta-llama/Llama-3.1-405B-Instruct",
        quickReduce: "INT4",
      }),
    ]);
    const [head, worker] = containers(plan);
    const strip = (e: Record<string, string>) =>
      Object.fromEntries(Object.entries(e).filter(([k]) => k !== "VLLM_HOST_IP"));
    expect(strip(worker.env)).toEqual(strip(head.env));
    expect(worker.env.VLLM_ROCM_QUICK_REDUCE_QUANTIZATION).toBe("INT4");
  });
  it("warns when a deployment spans nodes without a configured interface", () => {
    const plan = planOk(twoNodes(), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
    expect(plan.warnings.map((w) => w.code)).toContain("network-interface-unset");
  });
});

describe("rule 3: NCCL_MIN_NCHANNELS", () => {
  it("is 112 for multi-GPU deployments and absent for single-GPU ones", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ name: "big", parallelism: { tensor: 4 } }),
      rawDeployment({
        name: "small",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        parallelism: { tensor: 1 },
        port: 9000,
      }),
    ]);
    expect(env(plan, 0).NCCL_MIN_NCHANNELS).toBe("112");
    expect(env(plan, 1).NCCL_MIN_NCHANNELS).toBeUndefined();
  });
});

describe("rule 4: RDMA and RCCL names", () => {
  const rayOver = (network: Record<string, unknown>) =>
    planOk(twoNodes({ network: { ibHca: "rdma0", ...network } }), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
  it("adds /dev/infiniband, IPC_LOCK and NCCL_NET_GDR_LEVEL (not the guide's RCCL_ spelling) across nodes", () => {
    const plan = rayOver({ rdma: true });
    const [c] = containers(plan);
    expect(c.devices).toContain("/dev/infiniband");
    expect(c.capAdd).toEqual(["CAP_IPC_LOCK", "CAP_SYS_PTRACE"]);
    expect(c.env.NCCL_NET_GDR_LEVEL).toBe("2");
    expect(Object.keys(c.env).filter((k) => k.startsWith("RCCL_"))).toEqual([]);
  });
  it("honours gdrLevel and leaves RDMA out when rdma is false", () => {
    expect(env(rayOver({ rdma: true, gdrLevel: 3 })).NCCL_NET_GDR_LEVEL).toBe("3");
    const plain = planOk(rawCluster(), [rawDeployment()]);
    expect(containers(plain)[0].devices).not.toContain("/dev/infiniband");
    expect(env(plain).NCCL_NET_GDR_LEVEL).toBeUndefined();
  });
  it("debug.rccl sets NCCL_DEBUG=INFO and NCCL_DEBUG_SUBSYS=INIT,GRAPH", () => {
    const plan = planOk(rawCluster({ debug: { rccl: true } }), [rawDeployment()]);
    expect(env(plan)).toMatchObject({ NCCL_DEBUG: "INFO", NCCL_DEBUG_SUBSYS: "INIT,GRAPH" });
    expect(env(planOk(rawCluster(), [rawDeployment()])).NCCL_DEBUG).toBeUndefined();
  });
});

describe("rule 5: GPU visibility", () => {
  it("never sets HIP_VISIBLE_DEVICES or ROCR_VISIBLE_DEVICES, and refuses them in extraEnv", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { tensor: 1 }, replicas: 8 }),
    ]);
    for (const c of containers(plan)) {
      expect(c.env.HIP_VISIBLE_DEVICES).toBeUndefined();
      expect(c.env.ROCR_VISIBLE_DEVICES).toBeUndefined();
    }
    const problems = problemsOf(rawCluster(), [
      rawDeployment({ extraEnv: { HIP_VISIBLE_DEVICES: "0", ROCR_VISIBLE_DEVICES: "1" } }),
    ]);
    expect(paths(problems)).toEqual([
      "rocm-vllm:deployments[0].extraEnv.HIP_VISIBLE_DEVICES",
      "rocm-vllm:deployments[0].extraEnv.ROCR_VISIBLE_DEVICES",
    ]);
  });
  it("selects GPUs of partial-node instances with CUDA_VISIBLE_DEVICES and leaves whole-node ones alone", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { tensor: 2 }, replicas: 4 }),
    ]);
    expect(dep(plan).instances.map((i) => i.env.CUDA_VISIBLE_DEVICES)).toEqual(["0,1", "2,3", "4,5", "6,7"]);
    expect(env(planOk(rawCluster(), [rawDeployment()])).CUDA_VISIBLE_DEVICES).toBeUndefined();
  });
  it("opts Ray out of setting HIP/ROCR visibility on Ray deployments only", () => {
    const ray = planOk(twoRayNodes(), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
    for (const c of containers(ray)) {
      expect(c.env).toMatchObject({
        RAY_EXPERIMENTAL_NOSET_HIP_VISIBLE_DEVICES: "1",
        RAY_EXPERIMENTAL_NOSET_ROCR_VISIBLE_DEVICES: "1",
      });
    }
    expect(env(planOk(rawCluster(), [rawDeployment()])).RAY_EXPERIMENTAL_NOSET_HIP_VISIBLE_DEVICES).toBeUndefined();
    const native = planOk(twoNodes(), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
    for (const c of containers(native)) expect(c.env.RAY_EXPERIMENTAL_NOSET_HIP_VISIBLE_DEVICES).toBeUndefined();
  });
});

describe("rules 6–8: AITER and attention", () => {
  it("6: turns AITER on by default and off with aiter: false (Triton unified)", () => {
    expect(env(planOk(rawCluster(), [rawDeployment()])).VLLM_ROCM_USE_AITER).toBe("1");
    const off = planOk(rawCluster(), [rawDeployment({ aiter: false })]);
    expect(env(off).VLLM_ROCM_USE_AITER).toBe("0");
    expect(dep(off).attention.backend).toBe("triton-unified");
  });
  it("7: auto picks AITER MLA for DeepSeek, AITER unified for gpt-oss, AITER MHA otherwise", () => {
    const plan = planOk(
      rawCluster({
        gpu: "mi355x",
        nodes: [
          { name: "n0", host: "10.0.0.1", gpus: 8 },
          { name: "n1", host: "10.0.0.2" },
          { name: "n2", host: "10.0.0.3" },
        ],
      }),
      [
        rawDeployment({ name: "ds", model: "deepseek-ai/DeepSeek-R1", nodes: ["n0"] }),
        rawDeployment({ name: "oss", model: "openai/gpt-oss-120b", parallelism: { tensor: 1 }, nodes: ["n1"] }),
        rawDeployment({ name: "llama", nodes: ["n2"] }),
      ],
    );
    expect(plan.deployments.map((d) => d.attention.backend)).toEqual(["aiter-mla", "aiter-unified", "aiter-mha"]);
    expect(env(plan, 1)).toMatchObject({ VLLM_ROCM_USE_AITER_MHA: "0", VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION: "1" });
  });
  it("7: uses the release's name for the unified-attention variable", () => {
    const plan = planOk(rawCluster({ image: "rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006" }), [
      rawDeployment({ attention: "aiter-unified" }),
    ]);
    expect(env(plan).VLLM_USE_AITER_UNIFIED_ATTENTION).toBe("1");
    expect(env(plan).VLLM_ROCM_USE_AITER_UNIFIED_ATTENTION).toBeUndefined();
  });
  it("7: adds --block-size 1 for AITER MLA on releases that require it, not on 0.11.1", () => {
    const old = planOk(rawCluster({ image: "rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006" }), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1" }),
    ]);
    expect(flagValue(argv(old), "--block-size")).toBe("1");
    const current = planOk(rawCluster(), [rawDeployment({ model: "deepseek-ai/DeepSeek-R1" })]);
    expect(argv(current)).not.toContain("--block-size");
  });
  it("7: maps triton-prefill-decode with AITER to MHA off + prefill/decode on", () => {
    const plan = planOk(rawCluster(), [rawDeployment({ attention: "triton-prefill-decode" })]);
    expect(env(plan)).toMatchObject({
      VLLM_ROCM_USE_AITER: "1",
      VLLM_ROCM_USE_AITER_MHA: "0",
      VLLM_V1_USE_PREFILL_DECODE_ATTENTION: "1",
    });
  });
  it("7: refuses an MHA backend for an MLA model and AITER backends without AITER", () => {
    expect(
      paths(problemsOf(rawCluster(), [rawDeployment({ model: "deepseek-ai/DeepSeek-R1", attention: "aiter-mha" })])),
    ).toEqual(["rocm-vllm:deployments[0].attention"]);
    expect(paths(problemsOf(rawCluster(), [rawDeployment({ aiter: false, attention: "aiter-mha" })]))).toEqual([
      "rocm-vllm:deployments[0].attention",
    ]);
  });
  it("8: refuses tensor sizes that leave AITER MLA without 16 or 128 heads per rank", () => {
    const problems = problemsOf(rawCluster({ gpu: "mi355x" }), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", parallelism: { tensor: 4 } }),
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0].path).toBe("rocm-vllm:deployments[0].parallelism.tensor");
    expect(problems[0].message).toMatch(/128 heads \/ TP 4 = 32/);
    expect(problems[0].fix).toMatch(/tensor 8 or 1/);
  });
});

describe("rules 9–13: parallelism", () => {
  it("9: tensor must divide the attention heads", () => {
    const problems = problemsOf(rawCluster(), [rawDeployment({ parallelism: { tensor: 3 } })]);
    expect(problems[0].path).toBe("rocm-vllm:deployments[0].parallelism.tensor");
    expect(problems[0].message).toMatch(/64 attention heads/);
  });
  it("9: tensor ≤ GPUs per node, and no GPU given to two deployments", () => {
    expect(paths(problemsOf(rawCluster(), [rawDeployment({ parallelism: { tensor: 16 } })]))).toContain(
      "rocm-vllm:deployments[0].parallelism.tensor",
    );
    const clash = problemsOf(rawCluster(), [
      rawDeployment({ name: "one" }),
      rawDeployment({ name: "two", port: 9000 }),
    ]);
    expect(clash).toHaveLength(1);
    expect(clash[0].message).toMatch(/used by one/);
  });
  it("9: tensor above 8 needs partitioned GPUs, which stay inside the node's XGMI island", () => {
    const dpx = { name: "dpx", host: "10.0.0.9", gpus: 16 };
    const tp16 = rawDeployment({
      model: "meta-llama/Llama-3.1-405B-Instruct",
      parallelism: { tensor: 16 },
      maxModelLen: 8192,
    });
    expect(paths(problemsOf(rawCluster({ nodes: [dpx] }), [tp16]))).toEqual(["rocm-vllm:cluster.nodes[0].gpus"]);
    const plan = planOk(rawCluster({ nodes: [dpx], partition: "dpx" }), [tp16]);
    expect(plan.warnings).toEqual([]);
    expect(plan.cluster.hbmGiB).toBe(96);
  });
  it("10: runs TP×PP across nodes on Ray with the head on the first node", () => {
    const plan = planOk(twoRayNodes(), [
      rawDeployment({ parallelism: { tensor: 8, pipeline: 2 }, model: "meta-llama/Llama-3.1-405B-Instruct" }),
    ]);
    const d = dep(plan);
    expect(d.kind).toBe("ray");
    expect(flagValue(d.instances[0].argv, "--distributed-executor-backend")).toBe("ray");
    expect(plan.nodes[0].containers.map((c) => c.role)).toEqual(["ray-head"]);
    expect(plan.nodes[1].containers.map((c) => c.role)).toEqual(["ray-worker"]);
    expect(d.rayClusters[0]).toMatchObject({
      headNode: "node-a",
      headAddress: "10.0.0.11",
      workerNodes: ["node-b"],
      expectedGpus: 16,
    });
  });
  it("11: data parallel uses the release's form of the all2all backend and Gloo DP sync", () => {
    const v111 = argv(
      planOk(rawCluster(), [
        rawDeployment({ model: "deepseek-ai/DeepSeek-R1", parallelism: { tensor: 1, data: 8, expert: true } }),
      ]),
    );
    expect(flagValue(v111, "--data-parallel-size")).toBe("8");
    expect(flagValue(v111, "--all2all-backend")).toBe("allgather_reducescatter");
    expect(v111).toContain("--disable-nccl-for-dp-synchronization");
    const v110 = planOk(rawCluster({ image: "rocm/vllm:custom", vllmVersion: "0.11.0" }), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", parallelism: { tensor: 1, data: 8, expert: true } }),
    ]);
    expect(argv(v110)).not.toContain("--all2all-backend");
    expect(env(v110)).toMatchObject({
      VLLM_ALL2ALL_BACKEND: "allgather_reducescatter",
      VLLM_DISABLE_NCCL_FOR_DP_SYNCHRONIZATION: "1",
    });
  });
  it("11: multi-node data parallel adds local size, address, RPC port, start rank and --headless on secondary nodes", () => {
    const plan = planOk(twoNodes(), [
      rawDeployment({ model: "deepseek-ai/DeepSeek-R1", parallelism: { tensor: 1, data: 16, expert: true } }),
    ]);
    const [primarySpec, secondarySpec] = containers(plan);
    const primary = { role: primarySpec.role, command: memberCommand(primarySpec.command) };
    const secondary = { role: secondarySpec.role, command: memberCommand(secondarySpec.command) };
    expect(primary.role).toBe("serve");
    expect(flagValue(primary.command, "--data-parallel-size-local")).toBe("8");
    expect(flagValue(primary.command, "--data-parallel-address")).toBe("10.0.0.11");
    expect(primary.command).not.toContain("--headless");
    expect(secondary.role).toBe("dp-engine");
    expect(flagValue(secondary.command, "--data-parallel-start-rank")).toBe("8");
    expect(secondary.command).toContain("--headless");
    expect(flagValue(secondary.command, "--data-parallel-rpc-port")).toBe(
      flagValue(primary.command, "--data-parallel-rpc-port"),
    );
  });
  it("11: external load balancing runs one vllm serve per rank with its own GPUs, port and --data-parallel-rank", () => {
    const plan = planOk(
      rawCluster(),
      [
        rawDeployment({
          model: "meta-llama/Llama-3.1-8B-Instruct",
          parallelism: { tensor: 2, data: 4, dataLoadBalancing: "external" },
          loadBalancer: { port: 9000 },
        }),
      ],
      true,
    );
    const d = dep(plan);
    expect(
      d.instances.map((i) => [i.port, i.env.CUDA_VISIBLE_DEVICES, flagValue(i.argv, "--data-parallel-rank")]),
    ).toEqual([
      [8000, "0,1", "0"],
      [8001, "2,3", "1"],
      [8002, "4,5", "2"],
      [8003, "6,7", "3"],
    ]);
    for (const i of d.instances) {
      expect(flagValue(i.argv, "--data-parallel-size")).toBe("4");
      expect(i.argv).not.toContain("--data-parallel-size-local");
    }
    expect(d.loadBalancer?.upstreams).toHaveLength(4);
    expect(new Set(containers(plan).map((c) => c.labels["rocm-vllm.generation"])).size).toBe(1);
    expect(plan.warnings).toEqual([]);
  });
  it("11: external load balancing needs data > 1 and warns without a balancer", () => {
    const one = problemsOf(rawCluster(), [
      rawDeployment({ parallelism: { tensor: 8, dataLoadBalancing: "external" } }),
    ]);
    expect(paths(one)).toEqual(["rocm-vllm:deployments[0].parallelism.dataLoadBalancing"]);
    const bare = planOk(
      rawCluster(),
      [
        rawDeployment({
          model: "meta-llama/Llama-3.1-8B-Instruct",
          parallelism: { tensor: 1, data: 8, dataLoadBalancing: "external" },
        }),
      ],
      true,
    );
    expect(bare.warnings.map((w) => w.code)).toEqual(["external-dp-without-balancer"]);
  });
  it("12: expert parallelism only for MoE models, and experts are split across DP ranks in the memory budget", () => {
    expect(paths(problemsOf(rawCluster(), [rawDeployment({ parallelism: { tensor: 8, expert: true } })]))).toEqual([
      "rocm-vllm:deployments[0].parallelism.expert",
    ]);
    const plan = planOk(rawCluster(), [
      rawDeployment({
        model: "deepseek-ai/DeepSeek-R1",
        parallelism: { tensor: 1, data: 8, expert: true },
        maxModelLen: 8192,
      }),
    ]);
    expect(argv(plan)).toContain("--enable-expert-parallel");
    // Replicating 671B FP8 weights per rank would need ~625 GiB; split experts need < 100 GiB.
    expect(dep(plan).memory.weightsPerGpuGiB).toBeLessThan(100);
    expect(dep(plan).memory.weightsPerGpuGiB).toBeGreaterThan(80);
  });
  it("13: replicas get their own GPUs and ports", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { tensor: 1 }, replicas: 8, port: 8100 }),
    ]);
    const insts = dep(plan).instances;
    expect(insts.map((i) => i.port)).toEqual([8100, 8101, 8102, 8103, 8104, 8105, 8106, 8107]);
    expect(insts.map((i) => i.gpus)).toEqual([[0], [1], [2], [3], [4], [5], [6], [7]]);
    expect(new Set(containers(plan).map((c) => c.name)).size).toBe(8);
  });
});

describe("rules 14–16: engine arguments", () => {
  it("14: profiles set batched tokens, CUDA graphs and async scheduling; explicit fields win", () => {
    const args = (profile: string, extra: Record<string, unknown> = {}) =>
      argv(
        planOk(rawCluster(), [
          rawDeployment({
            model: "meta-llama/Llama-3.1-8B-Instruct",
            parallelism: { tensor: 1 },
            aiter: false,
            profile,
            ...extra,
          }),
        ]),
      );
    expect(Number(flagValue(args("latency"), "--max-num-batched-tokens"))).toBeLessThanOrEqual(16384);
    expect(args("latency")).not.toContain("--async-scheduling");
    expect(flagValue(args("streaming"), "--max-num-batched-tokens")).toBe("32768");
    const tp = args("throughput");
    expect(Number(flagValue(tp, "--max-num-batched-tokens"))).toBeGreaterThanOrEqual(32768);
    expect(flagValue(tp, "--compilation-config")).toBe('{"cudagraph_mode":"FULL"}');
    expect(tp).toContain("--async-scheduling");
    const balanced = args("balanced");
    expect(balanced).not.toContain("--max-num-batched-tokens");
    expect(balanced).not.toContain("--compilation-config");
    expect(flagValue(args("throughput", { maxNumBatchedTokens: 65536 }), "--max-num-batched-tokens")).toBe("65536");
  });
  it("14: drops async scheduling where the release rejects it (Ray/PP) and refuses it when explicit", () => {
    const cluster = twoNodes();
    const d = {
      parallelism: { tensor: 8, pipeline: 2 },
      model: "meta-llama/Llama-3.1-405B-Instruct",
      profile: "throughput",
    };
    expect(argv(planOk(cluster, [rawDeployment(d)]))).not.toContain("--async-scheduling");
    expect(paths(problemsOf(cluster, [rawDeployment({ ...d, asyncScheduling: true })]))).toEqual([
      "rocm-vllm:deployments[0].asyncScheduling",
    ]);
  });
  it("15: Triton MLA gets PIECEWISE and refuses FULL; AITER MHA pairs throughput with FULL_AND_PIECEWISE", () => {
    const mla = planOk(rawCluster(), [rawDeployment({ model: "deepseek-ai/DeepSeek-R1", aiter: false })]);
    expect(dep(mla).attention.backend).toBe("triton-mla");
    expect(flagValue(argv(mla), "--compilation-config")).toBe('{"cudagraph_mode":"PIECEWISE"}');
    expect(
      paths(
        problemsOf(rawCluster(), [
          rawDeployment({ model: "deepseek-ai/DeepSeek-R1", aiter: false, cudagraphMode: "FULL" }),
        ]),
      ),
    ).toEqual(["rocm-vllm:deployments[0].cudagraphMode"]);
    const mha = planOk(rawCluster(), [rawDeployment({ profile: "throughput" })]);
    expect(flagValue(argv(mha), "--compilation-config")).toBe('{"cudagraph_mode":"FULL_AND_PIECEWISE"}');
  });
  it("16: gpuMemoryUtilization must be in (0, 0.95]", () => {
    expect(paths(problemsOf(rawCluster(), [rawDeployment({ gpuMemoryUtilization: 0.97 })]))).toEqual([
      "rocm-vllm:deployments[0].gpuMemoryUtilization",
    ]);
    expect(paths(problemsOf(rawCluster(), [rawDeployment({ gpuMemoryUtilization: 0 })]))).toEqual([
      "rocm-vllm:deployments[0].gpuMemoryUtilization",
    ]);
    expect(
      flagValue(
        argv(planOk(rawCluster(), [rawDeployment({ gpuMemoryUtilization: 0.95 })])),
        "--gpu-memory-utilization",
      ),
    ).toBe("0.95");
  });
  it("16: warns when an explicit maxNumSeqs cannot be reached even with sequences of typical length", () => {
    const plan = planOk(rawCluster(), [rawDeployment({ maxNumSeqs: 4096, maxModelLen: 32768 })]);
    const w = plan.warnings.find((x) => x.code === "max-num-seqs-unreachable");
    expect(w?.path).toBe("rocm-vllm:deployments[0].maxNumSeqs");
    expect(planOk(rawCluster(), [rawDeployment({ maxNumSeqs: 64, maxModelLen: 8192 })], true).warnings).toEqual([]);
  });
});

describe("rules 17–20: quantization, KV cache, Quick Reduce, speculative decoding", () => {
  it("17: awq sets VLLM_USE_TRITON_AWQ=1 and refuses bfloat16", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({
        model: "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
        quantization: "awq",
        parallelism: { tensor: 1 },
      }),
    ]);
    expect(env(plan).VLLM_USE_TRITON_AWQ).toBe("1");
    expect(flagValue(argv(plan), "--quantization")).toBe("awq");
    expect(
      paths(
        problemsOf(rawCluster(), [
          rawDeployment({
            quantization: "awq",
            dtype: "bfloat16",
            model: "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
          }),
        ]),
      ),
    ).toEqual(["rocm-vllm:deployments[0].dtype"]);
  });
  it("17: quark gets no --quantization flag; fp8 and ptpc_fp8 are passed for on-the-fly quantization", () => {
    expect(
      argv(
        planOk(rawCluster(), [rawDeployment({ model: "amd/Llama-3.3-70B-Instruct-FP8-KV", quantization: "quark" })]),
      ),
    ).not.toContain("--quantization");
    expect(flagValue(argv(planOk(rawCluster(), [rawDeployment({ quantization: "ptpc_fp8" })])), "--quantization")).toBe(
      "ptpc_fp8",
    );
  });
  it("17: mxfp4 only on MI350X/MI355X", () => {
    const mxfp4 = rawDeployment({
      model: "amd/Llama-3.3-70B-Instruct-MXFP4-Preview",
      quantization: "mxfp4",
      parallelism: { tensor: 1 },
    });
    expect(paths(problemsOf(rawCluster(), [mxfp4]))).toEqual(["rocm-vllm:deployments[0].quantization"]);
    expect(planRaw(rawCluster({ gpu: "mi355x" }), [mxfp4]).problems).toEqual([]);
  });
  it("18: fp8 KV cache adds --calculate-kv-scales unless the checkpoint ships calibrated scales", () => {
    const dyn = argv(planOk(rawCluster(), [rawDeployment({ kvCacheDtype: "fp8" })]));
    expect(flagValue(dyn, "--kv-cache-dtype")).toBe("fp8");
    expect(dyn).toContain("--calculate-kv-scales");
    const calibrated = argv(
      planOk(rawCluster(), [rawDeployment({ model: "amd/Llama-3.3-70B-Instruct-FP8-KV", kvCacheDtype: "fp8" })]),
    );
    expect(calibrated).not.toContain("--calculate-kv-scales");
  });
  it("19: quickReduce sets VLLM_ROCM_QUICK_REDUCE_QUANTIZATION and lower case is refused with the upper-case fix", () => {
    expect(
      env(planOk(rawCluster(), [rawDeployment({ quickReduce: "INT8" })])).VLLM_ROCM_QUICK_REDUCE_QUANTIZATION,
    ).toBe("INT8");
    const [p] = problemsOf(rawCluster(), [rawDeployment({ quickReduce: "int8" })]);
    expect(p.path).toBe("rocm-vllm:deployments[0].quickReduce");
    expect(p.fix).toMatch(/"INT8"/);
  });
  it("20: speculative → --speculative-config JSON, warning above 2 tokens", () => {
    const spec = { method: "eagle3", model: "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B", numSpeculativeTokens: 3 };
    const plan = planOk(rawCluster(), [
      rawDeployment({ model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { tensor: 1 }, speculative: spec }),
    ]);
    expect(JSON.parse(flagValue(argv(plan), "--speculative-config") ?? "{}")).toEqual({
      method: "eagle3",
      model: "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B",
      num_speculative_tokens: 3,
    });
    expect(plan.warnings.map((w) => w.code)).toContain("speculative-tokens");
  });
});

describe("rule 21: memory", () => {
  it("refuses a model that does not fit, with the numbers", () => {
    const [p] = problemsOf(rawCluster(), [
      rawDeployment({ model: "meta-llama/Llama-3.1-405B-Instruct", parallelism: { tensor: 1 } }),
    ]);
    expect(p.path).toBe("rocm-vllm:deployments[0].parallelism");
    expect(p.message).toMatch(/756(\.\d)? GiB of weights/);
    expect(p.message).toMatch(/0\.9 × 192 GiB MI300X/);
  });
  it("reports the KV budget in tokens: GQA splits KV heads over TP, MLA does not", () => {
    const gqa = dep(planOk(rawCluster(), [rawDeployment()])).memory;
    expect(gqa.kvBytesPerTokenPerGpu).toBe(2 * 80 * 1 * 128 * 2);
    const mla = dep(
      planOk(rawCluster(), [rawDeployment({ model: "deepseek-ai/DeepSeek-R1", maxModelLen: 8192 })]),
    ).memory;
    expect(mla.kvBytesPerTokenPerGpu).toBe(61 * (512 + 64) * 2);
    expect(mla.kvCacheTokens).toBeGreaterThan(1_000_000);
  });
  it("warns that memory was not checked for uncatalogued models, and checks it with modelInfo", () => {
    const unknown = planOk(rawCluster(), [rawDeployment({ model: "acme/secret-model", parallelism: { tensor: 1 } })]);
    expect(unknown.warnings.map((w) => w.code)).toEqual(["architecture-unknown", "memory-unchecked"]);
    const info = { paramsB: 400, layers: 40, heads: 32, kvHeads: 8, headDim: 128 };
    const [p] = problemsOf(rawCluster(), [
      rawDeployment({ model: "acme/secret-model", parallelism: { tensor: 1 }, modelInfo: info }),
    ]);
    expect(p.message).toMatch(/does not fit/);
  });
  it("refuses a context that cannot fit once in the KV cache", () => {
    const [p] = problemsOf(rawCluster(), [rawDeployment({ model: "meta-llama/Llama-4-Scout-17B-16E-Instruct" })]);
    expect(p.path).toBe("rocm-vllm:deployments[0].maxModelLen");
    expect(p.fix).toMatch(/set maxModelLen ≤/);
  });
});
