/**
 * The stack config contract: `rocm-vllm:cluster` and `rocm-vllm:deployments` in `stacks/Pulumi.<stack>.yaml`.
 *
 * The schema checks shapes and single values; rules that relate values to each other or to the catalogs live in
 * `planner/rules` and report through the same `Problem` type. Objects are strict, so a typo is an error, not a
 * silently ignored key.
 */
import { isIPv4, isIPv6 } from "node:net";
import { posix } from "node:path";
import { z } from "zod";
import { guide } from "../sources";

/** DNS label: used in container names, so it must also be safe in shell and Docker. */
export const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS label: lower-case letters, digits and '-'");

const hostname =
  /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * True for a literal IPv4 address: the only node address rocm-vllm writes into Ray (`--address`,
 * `--node-ip-address`), vLLM (`--data-parallel-address`, `VLLM_HOST_IP`), RCCL, nginx upstreams and endpoint URLs.
 */
export function isIpAddress(value: string): boolean {
  return isIPv4(value);
}

/**
 * Why an IPv6 node address is refused as the data-plane address: every place that address is written is planned for
 * IPv4 (`host:port` without brackets in Ray's `--address`, nginx `server`, `http://` endpoints), and Ray itself only
 * gained IPv6 support through the work tracked in ray-project/ray#54660. `nodes[].host` is only used for SSH (and the
 * Docker provider's `ssh://[…]`) and may be IPv6 when `ip` gives the IPv4 address.
 */
export const IPV6_DATA_PLANE =
  "is an IPv6 address; rocm-vllm writes node addresses into Ray, vLLM, RCCL and nginx settings as IPv4 only (Ray IPv6: ray-project/ray#54660)";

/** SSH address: IPv4, IPv6 (SSH only: then `ip` is required) or a DNS name. `:::` and other non-addresses are refused. */
const host = z.string().refine((h) => isIPv4(h) || isIPv6(h) || hostname.test(h), {
  message: "must be an IPv4 address, an IPv6 address or a DNS host name",
  params: { fix: "write the node's SSH address, e.g. 10.0.0.11 or gpu-1.example.internal" },
});
const ipAddress = z
  .string()
  .refine((h) => !isIPv6(h), {
    message: IPV6_DATA_PLANE,
    abort: true,
    params: { fix: "write the node's IPv4 address here (host may stay IPv6: it is used for SSH only)" },
  })
  .refine(isIPv4, { message: "must be an IPv4 address", params: { fix: "write an address such as 10.0.0.11" } });

/**
 * Longest free-text values. Each is far above any real value and far below Linux's limit for one argument
 * (MAX_ARG_STRLEN, 131072 bytes: linux `include/uapi/linux/binfmts.h`), which the whole Ray head script — one
 * `bash -c` argument holding the `vllm serve` argv — must stay under.
 */
export const MAX_LENGTH = {
  /** Hugging Face limits a repository name to 96 characters, an organisation to 42; paths are longer. */
  model: 512,
  servedModelName: 256,
  /** Docker: repository name ≤ 255, tag ≤ 128, digest 71. */
  image: 512,
  /** Linux PATH_MAX is 4096 bytes including the terminating NUL. */
  path: 4095,
  extraArgItem: 16384,
  extraArgsTotal: 65536,
  extraArgsItems: 256,
  extraEnvValue: 16384,
  extraEnvTotal: 65536,
  extraEnvEntries: 256,
} as const;

/**
 * A value `vllm serve` (or another program) gets after a flag: one starting with `-` would be read as a flag of its own
 * (`servedModelName: --trust-remote-code`), so it is refused wherever a value is expected.
 */
const notAFlag = (s: z.ZodString) =>
  s.refine((v) => !v.startsWith("-"), {
    message: "must not start with '-': the program it is passed to would read it as a flag",
    abort: true,
    params: { fix: "write the value itself; flags go in extraArgs" },
  });

/** Docker image reference: repository with a tag or a digest. Restricted to characters that need no quoting. */
const image = z
  .string()
  .max(MAX_LENGTH.image, { abort: true })
  .regex(
    /^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/,
    // abort: a reference that is not one is not also reported as unpinned.
    { message: "must be a Docker image reference like rocm/vllm:<tag> or repo@sha256:<digest>", abort: true },
  )
  .refine((i) => /:[\w][\w.-]*$/.test(i) || i.includes("@sha256:"), "must be pinned to a tag or digest");

const absolutePath = z
  .string()
  .max(MAX_LENGTH.path, { abort: true })
  .regex(/^\/[\w.\-/]*$/, "must be an absolute path of letters, digits, '.', '_', '-', '/'")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'");

/** A key file on the machine that runs ssh: absolute, or `~/…`, which ssh itself expands for `-i`. */
const keyFilePath = z
  .string()
  .regex(
    /^(\/|~\/)[\w.\-/]*$/,
    "must be an absolute path or start with ~/ (letters, digits, '.', '_', '-', '/'); ssh expands ~ on the machine that runs it",
  )
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'");

/**
 * Host directories the model cache must not be: it is mounted read-write into every container, so these would hand
 * every container the host's system files, devices or other users' data. Whole trees: the Filesystem Hierarchy
 * Standard 3.0's system directories (https://refspecs.linuxfoundation.org/FHS_3.0/fhs/ch03.html), the kernel's virtual
 * file systems and Docker's own state; exactly: the root and the top-level directories that hold other things.
 */
const SYSTEM_TREES = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/proc",
  "/run",
  "/sbin",
  "/sys",
  "/usr",
  "/var/run",
  "/var/lib/docker",
];
const SYSTEM_DIRS = ["/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var", "/var/lib", "/var/cache"];

/** True for a system directory (or a path inside a system tree) that must not become a container's cache mount. */
export function isSystemPath(path: string): boolean {
  const p = posix.normalize(path).replace(/(.)\/+$/, "$1");
  return SYSTEM_DIRS.includes(p) || SYSTEM_TREES.some((t) => p === t || p.startsWith(`${t}/`));
}

/** Hugging Face id (`org/name`) or an absolute path inside the model cache. */
const modelRef = z
  .string()
  .max(MAX_LENGTH.model, { abort: true })
  .refine(
    (m) => /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(m) || (/^\/[\w.\-/]+$/.test(m) && !m.split("/").includes("..")),
    "must be a Hugging Face id like org/name or an absolute path",
  );

const versionString = z.string().regex(/^\d+\.\d+\.\d+$/, "must be a version like 0.11.1");

export const gpuModels = ["mi300x", "mi325x", "mi350x", "mi355x"] as const;
export const profiles = ["balanced", "latency", "streaming", "throughput"] as const;
export const attentionChoices = [
  "auto",
  "aiter-mha",
  "aiter-mla",
  "aiter-unified",
  "triton-unified",
  "triton-prefill-decode",
  "triton-mla",
] as const;
export const quantizations = [
  "none",
  "fp8",
  "ptpc_fp8",
  "awq",
  "gptq",
  "quark",
  "compressed-tensors",
  "mxfp4",
] as const;
export const dtypes = ["auto", "float16", "bfloat16"] as const;
export const kvCacheDtypes = ["auto", "fp8", "fp8_e4m3", "fp8_e5m2"] as const;
export const cudagraphModes = ["NONE", "PIECEWISE", "FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE"] as const;
export const quickReduceModes = ["NONE", "FP", "INT8", "INT6", "INT4"] as const;
/** How an engine spanning nodes runs: chosen from the release (`auto`), on a Ray cluster, or vLLM's own multi-node mode. */
export const executors = ["auto", "ray", "native"] as const;
export const speculativeMethods = [
  "eagle",
  "eagle3",
  "ngram",
  "medusa",
  "mlp_speculator",
  "draft_model",
  "deepseek_mtp",
  "mtp",
] as const;

const positiveInt = z.number().int().positive();

export const nodeSchema = z.strictObject({
  name: dnsLabel,
  host,
  /** Data-plane address when `host` is a DNS name or differs from the fabric address. */
  ip: ipAddress.optional(),
  gpus: z.number().int().min(1).max(64).default(8),
});

export const clusterSchema = z.strictObject({
  /** Case-insensitive: `plan` prints the model as AMD writes it (MI300X). */
  gpu: z.preprocess((v) => (typeof v === "string" ? v.toLowerCase() : v), z.enum(gpuModels)),
  image,
  vllmVersion: versionString.optional(),
  ssh: z
    .strictObject({
      user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name")
        .default("root"),
      port: z.number().int().min(1).max(65535).default(22),
      /** Private key file on the machine running `pulumi`/`rocm-vllm` (a path, not key material). */
      identityFile: keyFilePath.optional(),
      /** `known_hosts` file every connection checks host keys against (strictly); ssh's default when unset. */
      knownHostsFile: absolutePath.optional(),
      /** Bastion every connection goes through: `[user@]host[:port]`, checked with the same host-key policy. */
      proxyJump: z
        .string()
        .regex(
          /^([a-z_][a-z0-9_-]{0,31}@)?([a-zA-Z0-9][a-zA-Z0-9.-]*|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?$/,
          "must be [user@]host[:port], e.g. ops@bastion.example.com:22",
        )
        .optional(),
    })
    .default({ user: "root", port: 22 }),
  /**
   * Login for pulling images from a registry (anonymous pulls are rate-limited per IP); the password or token is the
   * secret `rocm-vllm:registryPassword`.
   */
  registry: z
    .strictObject({
      address: z
        .string()
        .regex(
          /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/,
          "must be a registry host such as docker.io or ghcr.io",
        ),
      username: z.string().regex(/^[\w.@+-]{1,128}$/, "must be a registry user name"),
    })
    .optional(),
  network: z
    .strictObject({
      interface: notAFlag(z.string())
        .regex(/^[a-zA-Z0-9_.:-]{1,15}$/, "must be a network interface name such as ens50f0np0")
        .optional(),
      rdma: z.boolean().default(false),
      gdrLevel: z.number().int().min(0).max(5).optional(),
      /** RDMA devices for RCCL (`NCCL_IB_HCA`), e.g. `rdma0,rdma1`. */
      ibHca: z
        .string()
        .regex(/^[\^=]?[a-zA-Z0-9_:,]+$/, "must be a list like mlx5_0,mlx5_1")
        .optional(),
      /** Vendor of the RDMA NICs: decides which host verbs provider libraries are bind-mounted (`pollara`, `broadcom`). */
      nic: z.enum(["mellanox", "pollara", "broadcom"]).optional(),
      /** Host paths of the RDMA verbs libraries to bind-mount read-only at the same path (overrides `nic`'s list). */
      verbsLibraries: z.array(absolutePath).optional(),
    })
    .default({ rdma: false }),
  /** Compute partition mode of the GPUs (`amd-smi set --compute-partition`): logical GPUs per physical GPU. */
  partition: z.enum(["spx", "dpx", "qpx", "cpx"]).default("spx"),
  nodes: z.array(nodeSchema).min(1, "needs at least one node"),
  modelCache: absolutePath
    .refine((p) => !isSystemPath(p), {
      message: "is a system directory, and the model cache is mounted read-write into every container",
      params: { fix: "use a directory of its own, such as /data/huggingface" },
    })
    .default("/data/huggingface"),
  debug: z.strictObject({ rccl: z.boolean().default(false) }).default({ rccl: false }),
  /** Check every node (devices, driver, Docker, disk, network) before pulling the image. */
  preflight: z.boolean().default(true),
  /**
   * What vLLM, torch.compile and Triton compile, kept on each node's local disk so a restart skips it: one directory
   * per container and image, so a new image never reads another image's artifacts.
   */
  compileCache: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Local directory on every node (never shared or network storage: concurrent writers corrupt it). */
      path: absolutePath.default("/var/cache/rocm-vllm"),
      /** Free space preflight requires under `path`. */
      minFreeGiB: z.number().int().min(0).max(100000).default(20),
    })
    .default({ enabled: true, path: "/var/cache/rocm-vllm", minFreeGiB: 20 }),
  /** Whether the image has Ray, for custom images; default: what the version table says of the release's images. */
  imageHasRay: z.boolean().optional(),
});

/** Stored formats of a checkpoint (`modelInfo.format`); the catalog's `STORED_FORMATS` gives each one's meaning. */
export const storedFormats = [
  "bf16",
  "fp16",
  "fp8",
  "quark-fp8",
  "quark-mxfp4",
  "mxfp4",
  "awq",
  "gptq",
  "compressed-tensors-w4a16",
  "compressed-tensors-w8a8",
] as const;
export const modelFamilies = ["llama", "mixtral", "deepseek", "qwen", "gpt-oss", "llama4", "other"] as const;

/** Model shape for models outside the catalog, so memory can still be checked. */
export const modelInfoSchema = z.strictObject({
  paramsB: z.number().positive(),
  layers: positiveInt,
  heads: positiveInt,
  kvHeads: positiveInt,
  headDim: positiveInt,
  /** How the checkpoint is stored: decides which `quantization` values vLLM accepts and what is loaded. */
  format: z.enum(storedFormats).default("bf16"),
  /** Bytes per parameter as loaded (default: from `format`). */
  bytesPerParam: z.number().positive().max(4).optional(),
  maxContext: positiveInt.default(131072),
  moe: z.boolean().default(false),
  /** Share of parameters in routed experts (0..1), for expert-parallel memory accounting. */
  expertFraction: z.number().min(0).max(1).default(0),
  /** Multi-head latent attention (DeepSeek V2/V3, Kimi K2): the latent's shape. Absent = GQA/MHA. */
  mla: z.strictObject({ kvLoraRank: positiveInt, ropeHeadDim: positiveInt }).optional(),
  /** Model family where a rule depends on it (gpt-oss: AITER unified attention; llama4: chunked attention). */
  family: z.enum(modelFamilies).default("other"),
  /** The checkpoint ships calibrated FP8 KV-cache scales (`kv_cache_scheme: static`). */
  kvCacheScales: z.boolean().default(false),
});

const totalLength = (values: readonly string[]) => values.reduce((n, v) => n + v.length, 0);

const envName = z
  .string()
  .max(128, { abort: true })
  .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an upper-case environment variable name");

export const deploymentSchema = z.strictObject({
  name: dnsLabel,
  model: modelRef,
  servedModelName: notAFlag(z.string().max(MAX_LENGTH.servedModelName, { abort: true }))
    .regex(/^[\w./-]+$/, "must be letters, digits, '.', '_', '-', '/'")
    .optional(),
  modelInfo: modelInfoSchema.optional(),
  nodes: z.array(dnsLabel).min(1).optional(),
  replicas: positiveInt.default(1),
  parallelism: z
    .strictObject({
      tensor: positiveInt.default(1),
      pipeline: positiveInt.default(1),
      data: positiveInt.default(1),
      expert: z.boolean().default(false),
      /** `internal`: one API server, vLLM spreads requests over the ranks; `external`: one endpoint per rank. */
      dataLoadBalancing: z.enum(["internal", "external"]).default("internal"),
      executor: z.enum(executors).default("auto"),
    })
    .default({ tensor: 1, pipeline: 1, data: 1, expert: false, dataLoadBalancing: "internal", executor: "auto" }),
  profile: z.enum(profiles).default("balanced"),
  attention: z.enum(attentionChoices).default("auto"),
  aiter: z.boolean().default(true),
  quantization: z.enum(quantizations).default("none"),
  dtype: z.enum(dtypes).default("auto"),
  kvCacheDtype: z.enum(kvCacheDtypes).default("auto"),
  maxModelLen: positiveInt.optional(),
  maxNumSeqs: positiveInt.optional(),
  maxNumBatchedTokens: positiveInt.optional(),
  gpuMemoryUtilization: z
    .number()
    .gt(0, "must be above 0")
    .lte(0.95, `must be at most 0.95 (${guide("Configure the gpu-memory-utilization parameter")})`)
    .optional(),
  /** KV-cache block size; the release's choices are checked by the planner (any size from vLLM 0.18.0). */
  blockSize: positiveInt.optional(),
  cudagraphMode: z.enum(cudagraphModes).optional(),
  asyncScheduling: z.boolean().optional(),
  quickReduce: z.enum(quickReduceModes).default("NONE"),
  speculative: z
    .strictObject({
      method: z.enum(speculativeMethods),
      model: modelRef.optional(),
      numSpeculativeTokens: z.number().int().min(1).max(16).default(2),
    })
    .optional(),
  port: z.number().int().min(1024).max(65535).default(8000),
  extraArgs: z
    .array(
      z
        .string()
        .max(MAX_LENGTH.extraArgItem, { abort: true })
        .regex(/^[^\n\r\0]*$/, "must be a single line"),
    )
    .max(MAX_LENGTH.extraArgsItems)
    .refine((args) => totalLength(args) <= MAX_LENGTH.extraArgsTotal, {
      message: `must total at most ${MAX_LENGTH.extraArgsTotal} characters (vllm serve's arguments share one command line)`,
    })
    .default([]),
  extraEnv: z
    .record(
      envName,
      z
        .string()
        .max(MAX_LENGTH.extraEnvValue, { abort: true })
        .regex(/^[^\n\r\0]*$/, "must be a single line"),
    )
    .refine((env) => Object.keys(env).length <= MAX_LENGTH.extraEnvEntries, {
      message: `must have at most ${MAX_LENGTH.extraEnvEntries} variables`,
    })
    .refine((env) => totalLength(Object.entries(env).flat()) <= MAX_LENGTH.extraEnvTotal, {
      message: `must total at most ${MAX_LENGTH.extraEnvTotal} characters`,
    })
    .default({}),
  weights: z
    .strictObject({
      /** Download the weights on every node in a one-shot container before serving (default: on when spanning nodes). */
      predownload: z.boolean().optional(),
      /** Commit or tag of the Hugging Face repository, so every node caches the same files. */
      revision: notAFlag(z.string())
        .regex(/^[\w.\-/]{1,100}$/, "must be a commit hash, tag or branch name")
        .optional(),
    })
    .default({}),
  /** One completion request per instance after readiness; its success is part of `pulumi up` succeeding. */
  smokeTest: z.boolean().default(true),
  benchmark: z
    .strictObject({
      input: positiveInt.default(1024),
      output: positiveInt.default(1024),
      prompts: positiveInt.default(200),
      concurrency: positiveInt.default(64),
    })
    .optional(),
  loadBalancer: z
    .strictObject({
      port: z.number().int().min(1024).max(65535).default(8080),
      /** Nodes that run the balancer (default: the deployment's first node). */
      nodes: z.array(dnsLabel).min(1).optional(),
      image: image.default("nginx:1.27-alpine"),
      /** Failed attempts (refused connection, 502, 503, timeout) that take an instance out of rotation. */
      maxFails: z.number().int().min(1).max(100).default(1),
      /** How long an instance stays out after `maxFails` failures, before the balancer tries it again. */
      failTimeoutSeconds: z.number().int().min(1).max(3600).default(10),
      /** Session affinity: requests with the same value of this header go to the same instance (consistent hash). */
      affinity: z
        .strictObject({
          header: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, "must be an HTTP header name such as X-Session-Id"),
        })
        .optional(),
    })
    .optional(),
  /**
   * How a change that restarts serving reaches the replicas. `auto`: rolling when a balancer fronts two or more
   * replicas, else all at once.
   */
  rollout: z
    .strictObject({
      strategy: z.enum(["auto", "rolling", "all-at-once"]).default("auto"),
      /** Replicas (whole multi-node groups) replaced at once: a count, or a percentage of the replicas (rounded down, at least 1). */
      maxUnavailable: z
        .union([positiveInt, z.string().regex(/^([1-9]\d?|100)%$/, "must be a count or a percentage like 25%")])
        .default("25%"),
      /** How long a replica taken out of the balancer gets to finish its requests before it is stopped. */
      drainSeconds: z.number().int().min(0).max(86400).default(120),
    })
    .default({ strategy: "auto", maxUnavailable: "25%", drainSeconds: 120 }),
  /** What a member does when its engine or its group breaks: restart with back-off, up to a cap. */
  healing: z
    .strictObject({
      /** Restarts after failures before the member stays failed (a member that served `stableSeconds` starts over). */
      maxRestarts: z.number().int().min(0).max(100).default(5),
      /** Wait before the first restart; it doubles with each failure, up to 300 s. */
      backoffSeconds: z.number().int().min(1).max(300).default(10),
      /** Serving this long resets the failure count. */
      stableSeconds: z.number().int().min(1).max(86400).default(600),
      /** Seconds between liveness probes (a one-token generation); 0 turns the probe off. */
      probeSeconds: z.number().int().min(0).max(3600).default(30),
      /** Consecutive failed probes that count as a dead engine. */
      probeFailures: z.number().int().min(1).max(100).default(3),
    })
    .default({ maxRestarts: 5, backoffSeconds: 10, stableSeconds: 600, probeSeconds: 30, probeFailures: 3 }),
  timeouts: z
    .strictObject({
      /** How long `pulumi up` waits for `/health` and `/v1/models` (model loads take tens of minutes). */
      readySeconds: z.number().int().min(30).default(3600),
      /** How long a Ray head waits for its workers before it fails, naming the missing nodes. */
      rayJoinSeconds: z.number().int().min(10).default(900),
      /** `--shutdown-timeout` (vLLM 0.18.0+): how long vLLM drains in-flight requests on stop (vLLM's default 0: abort). */
      shutdownSeconds: z.number().int().min(0).max(3600).optional(),
      /** `--distributed-timeout-seconds` (vLLM 0.18.0+): how long ranks wait for each other when the process group forms. */
      distributedSeconds: z.number().int().min(1).optional(),
    })
    .default({ readySeconds: 3600, rayJoinSeconds: 900 }),
});

export const deploymentsSchema = z.array(deploymentSchema).min(1, "needs at least one deployment");

export type ClusterConfig = z.infer<typeof clusterSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
export type DeploymentConfig = z.infer<typeof deploymentSchema>;
export type ModelInfoConfig = z.infer<typeof modelInfoSchema>;

/** The validated stack config, as the planner sees it. */
export interface StackConfig {
  /**
   * The stack's name: `<stack>` of `stacks/Pulumi.<stack>.yaml` (CLI) or `pulumi.getStack()` (program). Every managed
   * container carries it (label `rocm-vllm.stack`), so nothing acts on another stack's containers on a shared node.
   */
  stack: string;
  cluster: ClusterConfig;
  deployments: DeploymentConfig[];
  /** Whether `rocm-vllm:hfToken` is set. Its value never enters the planner. */
  hasHfToken: boolean;
  /**
   * Whether `rocm-vllm:apiKey` is set (absent: not set): every deployment's API then requires it
   * (`planner/rules/apiKey.ts`). Its value never enters the planner.
   */
  hasApiKey?: boolean;
}

/** Config namespace: the project name in `Pulumi.yaml`. */
export const CONFIG_NAMESPACE = "rocm-vllm";
