/**
 * Generators of stack configs for property tests and the scale benchmark.
 *
 * Valid configs are built from deployment shapes the guide recommends (TP8 on one node, packed small-model replicas,
 * TP8 × PP2 over two nodes (Ray or native, as the image's release runs it), DP8 + EP, multi-node DP16 + EP), each placed on nodes the generator reserves for it,
 * so every generated config must plan without problems: a problem is a finding, not noise. Invalid configs are
 * mutations of valid ones (bad enum, negative or zero numbers, unknown keys, duplicate names).
 *
 * Raw configs are plain objects as a user writes them under `config:`; `toStackYaml` renders one as a stack file.
 */
import fc from "fast-check";
import { stringify } from "yaml";
import type { RawCluster, RawDeployment } from "./stackConfigs";

/** A stack config as written by a user, before validation. */
export interface RawStack {
  cluster: RawCluster;
  deployments: RawDeployment[];
  /** Whether the stack sets the secret `rocm-vllm:hfToken`. */
  hasHfToken: boolean;
}

/** Deployment shapes, each with the whole nodes (or GPUs of one node) it occupies. */
export const SHAPES = ["tp8", "packed", "tp8-pp2-2node", "dp8-ep", "dp16-ep"] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Whole nodes a shape reserves (packed shapes share one node). */
export const SHAPE_NODES: Record<ShapeName, number> = {
  tp8: 1,
  packed: 1,
  "tp8-pp2-2node": 2,
  "dp8-ep": 1,
  "dp16-ep": 2,
};

export const IMAGES = [
  "rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006",
  "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251010",
  "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
] as const;

/** Knobs that vary freely without making a deployment invalid. */
export interface DeploymentKnobs {
  profile: "balanced" | "latency" | "streaming" | "throughput";
  aiter: boolean;
  kvCacheDtype: "auto" | "fp8";
  quickReduce: "NONE" | "FP" | "INT8" | "INT6" | "INT4";
  gpuMemoryUtilization?: number;
  maxNumSeqs?: number;
  extraEnv: Record<string, string>;
  extraArgs: string[];
  servedModelName?: string;
  timeouts?: { readySeconds: number; rayJoinSeconds: number };
}

export const DEFAULT_KNOBS: DeploymentKnobs = {
  profile: "balanced",
  aiter: true,
  kvCacheDtype: "auto",
  quickReduce: "NONE",
  extraEnv: {},
  extraArgs: [],
};

/** Node `i` of a generated cluster: `gpu-<i>` at `10.<i/65536>.<i/256>.<i%256>` (unique up to 16M nodes). */
export function rawNode(i: number, gpus = 8): Record<string, unknown> {
  return { name: `gpu-${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, gpus };
}

/** A small packed group on one node: `(tensor, replicas)` pairs that fit in its eight GPUs. */
export type PackedGroup = { model: string; tensor: number; replicas: number }[];

export const DEFAULT_PACKED: PackedGroup = [{ model: "meta-llama/Llama-3.1-8B-Instruct", tensor: 1, replicas: 8 }];

/**
 * The deployments of one shape on `nodes` (names), named `<shape>-<index>` and listening from `port`.
 * Knobs apply to every deployment of the shape.
 */
export function shapeDeployments(
  shape: ShapeName,
  index: number,
  nodes: string[],
  port: number,
  knobs: DeploymentKnobs = DEFAULT_KNOBS,
  packed: PackedGroup = DEFAULT_PACKED,
): RawDeployment[] {
  const common = (name: string): RawDeployment => {
    const d: RawDeployment = {
      name,
      nodes,
      port,
      profile: knobs.profile,
      aiter: knobs.aiter,
      kvCacheDtype: knobs.kvCacheDtype,
      quickReduce: knobs.quickReduce,
      extraEnv: knobs.extraEnv,
      extraArgs: knobs.extraArgs,
    };
    if (knobs.gpuMemoryUtilization !== undefined) d.gpuMemoryUtilization = knobs.gpuMemoryUtilization;
    if (knobs.maxNumSeqs !== undefined) d.maxNumSeqs = knobs.maxNumSeqs;
    if (knobs.servedModelName !== undefined) d.servedModelName = `${knobs.servedModelName}-${index}`;
    if (knobs.timeouts !== undefined) d.timeouts = knobs.timeouts;
    return d;
  };
  switch (shape) {
    case "tp8":
      return [{ ...common(`tp8-${index}`), model: "meta-llama/Llama-3.3-70B-Instruct", parallelism: { tensor: 8 } }];
    case "packed":
      // Each member of the group gets its own port range: replicas use port, port+1, … (spaced by 10).
      return packed.map((p, k) => ({
        ...common(`packed-${index}-${k}`),
        model: p.model,
        port: port + 10 * k,
        parallelism: { tensor: p.tensor },
        replicas: p.replicas,
      }));
    case "tp8-pp2-2node":
      return [
        {
          // Within the KV budget at 8192 tokens (vLLM's default of 1024 sequences is not), unless knobs say otherwise.
          maxNumSeqs: 128,
          ...common(`span-${index}`),
          model: "meta-llama/Llama-3.1-405B-Instruct",
          parallelism: { tensor: 8, pipeline: 2 },
          maxModelLen: 8192,
        },
      ];
    case "dp8-ep":
      return [
        {
          // Within the KV budget at 8192 tokens (vLLM's default of 1024 sequences is not), unless knobs say otherwise.
          maxNumSeqs: 128,
          ...common(`dpep-${index}`),
          // Without AITER, MLA runs on Triton MLA, which rejects an FP8 KV cache before vLLM 0.18 (vllm#34597).
          kvCacheDtype: knobs.aiter ? knobs.kvCacheDtype : "auto",
          model: "deepseek-ai/DeepSeek-R1",
          parallelism: { tensor: 1, data: 8, expert: true },
          maxModelLen: 8192,
        },
      ];
    case "dp16-ep":
      return [
        {
          // Within the KV budget at 8192 tokens (vLLM's default of 1024 sequences is not), unless knobs say otherwise.
          maxNumSeqs: 128,
          ...common(`dp16-${index}`),
          // Without AITER, MLA runs on Triton MLA, which rejects an FP8 KV cache before vLLM 0.18 (vllm#34597).
          kvCacheDtype: knobs.aiter ? knobs.kvCacheDtype : "auto",
          model: "deepseek-ai/DeepSeek-R1",
          parallelism: { tensor: 1, data: 16, expert: true },
          maxModelLen: 8192,
        },
      ];
  }
}

/**
 * A deterministic cluster of `nodeCount` 8-GPU MI300X nodes filled with a repeating mix of shapes (TP8 single-node,
 * packed TP1 replicas, TP8 × PP2 on Ray over two nodes, DP8 + EP): the benchmark's workload. Leftover nodes get TP8
 * deployments. On vLLM 0.11.0, whose images run Ray across nodes (0.11.1 would run the two-node shape natively).
 */
export function mixedCluster(nodeCount: number): RawStack {
  const cycle: ShapeName[] = ["tp8", "packed", "tp8-pp2-2node", "dp8-ep"];
  const deployments: RawDeployment[] = [];
  let next = 0;
  let index = 0;
  while (next < nodeCount) {
    let shape = cycle[index % cycle.length];
    if (next + SHAPE_NODES[shape] > nodeCount) shape = "tp8";
    const nodes = Array.from({ length: SHAPE_NODES[shape] }, (_, k) => `gpu-${next + k}`);
    deployments.push(...shapeDeployments(shape, index, nodes, 8000));
    next += SHAPE_NODES[shape];
    index++;
  }
  return {
    cluster: {
      gpu: "mi300x",
      image: IMAGES[1],
      network: { interface: "ens50f0np0", rdma: true },
      nodes: Array.from({ length: nodeCount }, (_, i) => rawNode(i)),
    },
    deployments,
    hasHfToken: true,
  };
}

const knobsArb: fc.Arbitrary<DeploymentKnobs> = fc.record(
  {
    profile: fc.constantFrom("balanced", "latency", "streaming", "throughput"),
    aiter: fc.boolean(),
    kvCacheDtype: fc.constantFrom("auto", "fp8"),
    quickReduce: fc.constantFrom("NONE", "FP", "INT8", "INT6", "INT4"),
    gpuMemoryUtilization: fc.constantFrom(0.8, 0.85, 0.9, 0.95),
    maxNumSeqs: fc.constantFrom(32, 64, 256),
    extraEnv: fc.constantFrom<Record<string, string>>(
      {},
      { VLLM_LOGGING_LEVEL: "DEBUG" },
      { NCCL_MIN_NCHANNELS: "64", VLLM_LOGGING_LEVEL: "INFO" },
    ),
    extraArgs: fc.constantFrom<string[]>([], ["--enable-prefix-caching"], ["--disable-log-requests", "--seed", "7"]),
    servedModelName: fc.constantFrom("chat", "org/served.model_v2"),
    timeouts: fc.record({
      readySeconds: fc.integer({ min: 30, max: 7200 }),
      rayJoinSeconds: fc.integer({ min: 10, max: 3600 }),
    }),
  },
  { requiredKeys: ["profile", "aiter", "kvCacheDtype", "quickReduce", "extraEnv", "extraArgs"] },
);

/** Small-model groups that share one 8-GPU node: at most 8 GPUs in total. */
const packedArb: fc.Arbitrary<PackedGroup> = fc.constantFrom<PackedGroup>(
  DEFAULT_PACKED,
  [{ model: "meta-llama/Llama-3.1-8B-Instruct", tensor: 2, replicas: 4 }],
  [
    { model: "meta-llama/Llama-3.1-8B-Instruct", tensor: 1, replicas: 3 },
    { model: "meta-llama/Llama-3.3-70B-Instruct", tensor: 4, replicas: 1 },
    { model: "Qwen/Qwen2-7B-Instruct", tensor: 1, replicas: 1 },
  ],
  [
    { model: "openai/gpt-oss-20b", tensor: 1, replicas: 2 },
    { model: "meta-llama/Llama-3.1-8B-Instruct", tensor: 2, replicas: 3 },
  ],
);

const clusterExtrasArb = fc.record(
  {
    gpu: fc.constantFrom("mi300x", "mi325x", "mi350x", "mi355x"),
    image: fc.constantFrom(...IMAGES),
    ssh: fc.record(
      {
        user: fc.constantFrom("root", "ops", "svc_vllm"),
        port: fc.constantFrom(22, 2222),
        identityFile: fc.constantFrom("/home/ops/.ssh/id_ed25519", "/root/.ssh/id_rsa"),
      },
      { requiredKeys: ["user", "port"] },
    ),
    network: fc.record(
      {
        interface: fc.constantFrom("ens50f0np0", "eth0", "bond0.100"),
        rdma: fc.boolean(),
        gdrLevel: fc.integer({ min: 0, max: 5 }),
        ibHca: fc.constantFrom("rdma0,rdma1", "mlx5_0"),
      },
      { requiredKeys: ["rdma"] },
    ),
    modelCache: fc.constantFrom("/data/huggingface", "/mnt/models/hf-cache"),
    debug: fc.record({ rccl: fc.boolean() }),
  },
  { requiredKeys: ["gpu", "image"] },
);

/**
 * Valid stack configs: 1–4 shape groups on 1–8 nodes, with random knobs, ports, hosts (IPs or DNS names with an
 * `ip`), GPUs, images and cluster settings. Every one of them must plan without problems.
 */
export const validStackArb: fc.Arbitrary<RawStack> = fc
  .record({
    groups: fc.array(
      fc.record({
        shape: fc.constantFrom(...SHAPES),
        knobs: knobsArb,
        packed: packedArb,
        portBase: fc.constantFrom(8000, 9000, 30000),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    extras: clusterExtrasArb,
    dnsHosts: fc.boolean(),
    idleNodes: fc.integer({ min: 0, max: 1 }),
    omitNodes: fc.boolean(),
    hasHfToken: fc.boolean(),
  })
  .map(({ groups, extras, dnsHosts, idleNodes, omitNodes, hasHfToken }): RawStack => {
    const deployments: RawDeployment[] = [];
    let next = 0;
    groups.forEach((g, index) => {
      const nodes = Array.from({ length: SHAPE_NODES[g.shape] }, (_, k) => `gpu-${next + k}`);
      // Ports differ per group so groups never share a port even if a generator change co-locates them.
      deployments.push(...shapeDeployments(g.shape, index, nodes, g.portBase + 100 * index, g.knobs, g.packed));
      next += SHAPE_NODES[g.shape];
    });
    const nodeCount = next + idleNodes;
    // One deployment owning the whole cluster may leave `nodes` out (it then uses every node in order).
    if (omitNodes && deployments.length === 1 && idleNodes === 0) delete deployments[0].nodes;
    const nodes = Array.from({ length: nodeCount }, (_, i) => {
      const n = rawNode(i);
      return dnsHosts ? { ...n, host: `gpu-${i}.cluster.example.internal`, ip: n.host } : n;
    });
    return { cluster: { ...extras, nodes }, deployments, hasHfToken };
  });

/** A copy of a raw value, safe to mutate. */
const clone = <T>(v: T): T => structuredClone(v);

type Json = Record<string, unknown>;

/** How a valid config is broken, and the config path the refusal must name (prefix). */
export interface Mutation {
  kind: "bad-enum" | "non-positive" | "unknown-key" | "duplicate-name";
  /** Config path prefix the problems must include, e.g. `rocm-vllm:deployments[0].profile`. */
  expectPath: string;
  stack: RawStack;
}

const ENUM_FIELDS: { at: "cluster" | "deployment" | "parallelism"; key: string; bad: string[] }[] = [
  { at: "cluster", key: "gpu", bad: ["MI250X", "mi250x", "h100", ""] },
  { at: "deployment", key: "profile", bad: ["fast", "Latency", "throughput "] },
  { at: "deployment", key: "quickReduce", bad: ["int8", "fp", "Int4", "INT2"] },
  { at: "deployment", key: "cudagraphMode", bad: ["full", "piecewise", "FULL_DECODE"] },
  { at: "deployment", key: "quantization", bad: ["int4", "FP8", "bitsandbytes", "nvfp4"] },
  { at: "deployment", key: "attention", bad: ["flash", "AITER-MHA", "xformers"] },
  { at: "deployment", key: "kvCacheDtype", bad: ["FP8", "int8", "fp16"] },
  { at: "deployment", key: "dtype", bad: ["bf16", "float32", "half"] },
];

const NUMERIC_FIELDS: { at: "cluster-node" | "deployment" | "parallelism" | "ssh"; key: string }[] = [
  { at: "cluster-node", key: "gpus" },
  { at: "deployment", key: "replicas" },
  { at: "deployment", key: "port" },
  { at: "deployment", key: "maxModelLen" },
  { at: "deployment", key: "maxNumSeqs" },
  { at: "deployment", key: "gpuMemoryUtilization" },
  { at: "parallelism", key: "tensor" },
  { at: "parallelism", key: "pipeline" },
  { at: "parallelism", key: "data" },
  { at: "ssh", key: "port" },
];

const UNKNOWN_KEYS = ["tensorParallel", "gpu_count", "replica", "prot", "extra", "__proto__x", "Name"];

function deploymentAt(stack: RawStack, i: number): Json {
  return stack.deployments[i % stack.deployments.length] as Json;
}

/**
 * Invalid configs: one mutation of a valid config, with the config path its refusal must name. Each mutation breaks
 * a rule that holds for every generated valid config, so the mutated config must be refused.
 */
export const invalidStackArb: fc.Arbitrary<Mutation> = fc
  .tuple(
    validStackArb,
    fc.constantFrom<Mutation["kind"]>("bad-enum", "non-positive", "unknown-key", "duplicate-name"),
    fc.nat(),
    fc.nat(),
    fc.integer({ min: -100000, max: 0 }),
  )
  .map(([valid, kind, pick, which, negative]): Mutation => {
    const stack = clone(valid);
    const di = pick % stack.deployments.length;
    const dpath = `rocm-vllm:deployments[${di}]`;
    const d = deploymentAt(stack, di);
    switch (kind) {
      case "bad-enum": {
        const field = ENUM_FIELDS[which % ENUM_FIELDS.length];
        const bad = field.bad[pick % field.bad.length];
        if (field.at === "cluster") {
          stack.cluster[field.key] = bad;
          return { kind, stack, expectPath: `rocm-vllm:cluster.${field.key}` };
        }
        d[field.key] = bad;
        return { kind, stack, expectPath: `${dpath}.${field.key}` };
      }
      case "non-positive": {
        const field = NUMERIC_FIELDS[which % NUMERIC_FIELDS.length];
        // Zero is refused everywhere; the fractional utilisation also takes negatives.
        const value = field.key === "gpuMemoryUtilization" ? negative / 1000 : negative;
        if (field.at === "cluster-node") {
          const nodes = stack.cluster.nodes as Json[];
          const ni = pick % nodes.length;
          nodes[ni].gpus = value;
          return { kind, stack, expectPath: `rocm-vllm:cluster.nodes[${ni}].gpus` };
        }
        if (field.at === "ssh") {
          stack.cluster.ssh = { ...((stack.cluster.ssh as Json | undefined) ?? {}), port: value };
          return { kind, stack, expectPath: "rocm-vllm:cluster.ssh.port" };
        }
        if (field.at === "parallelism") {
          d.parallelism = { ...(d.parallelism as Json), [field.key]: value };
          return { kind, stack, expectPath: `${dpath}.parallelism.${field.key}` };
        }
        d[field.key] = value;
        return { kind, stack, expectPath: `${dpath}.${field.key}` };
      }
      case "unknown-key": {
        const key = UNKNOWN_KEYS[which % UNKNOWN_KEYS.length];
        const where = pick % 4;
        if (where === 0) {
          stack.cluster[key] = 1;
          return { kind, stack, expectPath: `rocm-vllm:cluster.${key}` };
        }
        if (where === 1) {
          const nodes = stack.cluster.nodes as Json[];
          nodes[0][key] = "x";
          return { kind, stack, expectPath: `rocm-vllm:cluster.nodes[0].${key}` };
        }
        if (where === 2) {
          d.parallelism = { ...(d.parallelism as Json), [key]: 2 };
          return { kind, stack, expectPath: `${dpath}.parallelism.${key}` };
        }
        d[key] = true;
        return { kind, stack, expectPath: `${dpath}.${key}` };
      }
      case "duplicate-name": {
        const nodes = stack.cluster.nodes as Json[];
        if (pick % 2 === 0 && nodes.length > 1) {
          nodes[nodes.length - 1].name = nodes[0].name;
          return { kind, stack, expectPath: `rocm-vllm:cluster.nodes[${nodes.length - 1}].name` };
        }
        // A second deployment with the first one's name (and its own nodes), or a copy of the only one.
        const first = stack.deployments[0];
        if (stack.deployments.length > 1) {
          const last = stack.deployments.length - 1;
          stack.deployments[last].name = first.name;
          return { kind, stack, expectPath: `rocm-vllm:deployments[${last}].name` };
        }
        stack.deployments.push(clone(first));
        return { kind, stack, expectPath: "rocm-vllm:deployments[1].name" };
      }
    }
    throw new Error(`unknown mutation ${String(kind)}`);
  });

/** A raw stack rendered as a `stacks/Pulumi.<stack>.yaml` file (secrets as encrypted placeholders). */
export function toStackYaml(stack: RawStack): string {
  const config: Record<string, unknown> = {
    "rocm-vllm:cluster": stack.cluster,
    "rocm-vllm:deployments": stack.deployments,
  };
  if (stack.hasHfToken) config["rocm-vllm:hfToken"] = { secure: "v1:AAAAAAAAAAAAAAAA:ZmFrZS1jaXBoZXJ0ZXh0" };
  return stringify({ config }, { lineWidth: 0 });
}
