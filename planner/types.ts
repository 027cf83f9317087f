/**
 * The deployment plan: the single, complete and deterministic description of what runs where.
 *
 * Everything downstream renders this object and adds no knowledge of its own: the Pulumi components turn it into
 * resources, `rocm-vllm plan` prints it, `rocm-vllm export` writes it as shell. A value that is not in the plan is not
 * decided by the tool.
 */

/** A problem found in a stack config. One per line in every face of the tool. */
export interface Problem {
  /** Config path in the user's terms, e.g. `rocm-vllm:deployments[0].parallelism.tensor`. */
  path: string;
  /** The offending value, rendered for humans (`undefined` when the key is missing). */
  value: string;
  /** What is wrong. */
  message: string;
  /** What to do about it. */
  fix: string;
}

/** A recommendation that was not followed, or a fact the operator should know. Never blocks a deployment. */
export interface Warning {
  /** Stable machine-readable code, e.g. `max-num-seqs-unreachable`. */
  code: string;
  message: string;
  path: string;
}

/** Why a value is in the plan: the rule that put it there, with its guide section. */
export interface Reason {
  /** What was decided, e.g. `NCCL_MIN_NCHANNELS=112`. */
  what: string;
  /** Rule name (the function or table entry in `planner/rules`). */
  rule: string;
  /** What justifies it, as citations a user can open (built by `planner/sources.ts`: guide section URL, `docs/facts.md#…`). */
  source: string;
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

export interface VolumeMount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
  /**
   * The directory mounted is `<hostPath>/<image ID>` (the first 12 hex digits of the image the container runs, known
   * once it is pulled on the node), so artifacts built by one image are never read by another.
   */
  perImage?: boolean;
}

/** Docker's health check of a container: what `docker ps` shows as `(healthy)` / `(unhealthy)`. */
export interface HealthcheckSpec {
  /** `["CMD-SHELL", "<sh>"]`. */
  test: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  retries: number;
  /** Failures in this time after a start do not count (the model is loading). */
  startPeriodSeconds: number;
}

/** What a container does in the deployment. */
export type ContainerRole =
  /** A `vllm serve` process with its own API server (single node, packed replica, DP rank 0 node, native node 0). */
  | "serve"
  /** A headless `vllm serve` engine holding data-parallel ranks of a multi-node DP deployment. */
  | "dp-engine"
  /** A headless `vllm serve` holding one node's ranks of an engine spanning nodes (native multi-node, `--headless`). */
  | "headless-rank"
  /** Ray head of a multi-node deployment; it also launches `vllm serve` once the cluster is complete. */
  | "ray-head"
  /** Ray worker of a multi-node deployment; it retries joining until the head answers. */
  | "ray-worker"
  /** One-shot job: downloads the weights into the model cache before serving. */
  | "weights"
  /** One-shot job: `vllm bench serve` against a ready deployment. */
  | "benchmark"
  /** Long-running nginx spreading requests over a deployment's instances. */
  | "load-balancer";

/** One long-running GPU container, in the vocabulary of `docker run`. */
export interface ContainerSpec {
  /** Fixed container name, unique per node: replacements delete before they create. */
  name: string;
  role: ContainerRole;
  /** Deployment this container belongs to. */
  deployment: string;
  /** Replica index inside the deployment (with external DP load balancing: the rank's instance, replica × data + rank). */
  replica: number;
  image: string;
  /** Full environment, secrets excluded (see `secretEnv`). Sorted by key. */
  env: Record<string, string>;
  /** Names of variables whose values are secrets supplied at deploy time (never in the plan), e.g. `HF_TOKEN`. */
  secretEnv: string[];
  /** Entry point override; always set so images with `ENTRYPOINT ["vllm","serve"]` behave like `rocm/vllm`. */
  entrypoint: string[];
  /** Arguments after the entry point. */
  command: string[];
  /** Host device paths mapped into the container (same path inside). */
  devices: string[];
  groupAdd: string[];
  ipcMode: "host" | "private";
  networkMode: "host";
  /** Size of `/dev/shm` in MB when the container has its own IPC namespace; absent with `ipcMode: host`. */
  shmSizeMb?: number;
  /** How shared memory for RCCL/PyTorch is provided, in words. */
  sharedMemory: string;
  securityOpt: string[];
  capAdd: string[];
  ulimits: Ulimit[];
  volumes: VolumeMount[];
  restart: "unless-stopped" | "no";
  /** An init process runs as PID 1 (`docker run --init`): it forwards signals and reaps zombies. */
  init: boolean;
  /** Seconds `docker stop` gives the container before it is killed (`--stop-timeout`, and Pulumi's destroy grace). */
  stopGraceSeconds: number;
  /** The member's state as Docker's health (`serving` is healthy); absent for one-shot jobs and balancers. */
  healthcheck?: HealthcheckSpec;
  /** Host ports this container listens on (host networking), for clash checks and readiness. */
  ports: number[];
  /** Labels identifying the container as managed by rocm-vllm. Sorted by key. */
  labels: Record<string, string>;
}

export interface NodePlan {
  name: string;
  /** SSH host name or address used to reach the node. */
  host: string;
  /** Address other nodes use to reach this one (`VLLM_HOST_IP`, Ray, RCCL bootstrap). */
  ip: string;
  /** How every connection reaches the node (Docker provider, steps, exported scripts): see `planner/scripts/sshOptions.ts`. */
  ssh: { user: string; port: number; identityFile?: string; knownHostsFile?: string; proxyJump?: string };
  gpus: number;
  /** Long-running GPU containers. */
  containers: ContainerSpec[];
  /** Long-running containers without GPUs (load balancers). */
  services: ContainerSpec[];
  /** One-shot containers run to completion (`docker run --rm`): weight downloads, benchmarks. */
  jobs: JobPlan[];
  /** Host checks run before anything is pulled; absent with `preflight: false`. */
  preflight?: PreflightPlan;
}

/** A one-shot container and when it must run again. */
export interface JobPlan {
  container: ContainerSpec;
  /** Stable hash of what the job depends on: it re-runs only when this changes. */
  trigger: string;
  /** What must be ready before the job runs. */
  after: "image" | "readiness";
}

export interface PreflightPlan {
  /** The checks, in words, in the order the script runs them. */
  checks: string[];
  /** POSIX shell run on the node: one line per check, `FAIL:` lines on stderr, exit 1 when any check fails. */
  script: string;
}

/** One running `vllm serve` process that clients (or the DP front-end) talk to. */
export interface InstancePlan {
  /** Node that runs the `vllm serve` command (the API server for Ray / DP deployments). */
  node: string;
  host: string;
  port: number;
  /** GPU indices used on `node`. */
  gpus: number[];
  /** Every node and GPU this instance occupies (more than one entry for Ray, native multi-node and multi-node DP). */
  placement: { node: string; gpus: number[] }[];
  /** Full argv: `["vllm","serve",<model>, ...flags]`. */
  argv: string[];
  /** Full environment the vLLM process sees (secrets excluded). Sorted by key. */
  env: Record<string, string>;
  /** Container that runs it. */
  container: string;
  /** Replica index (with external DP load balancing: replica × data + rank, one instance per rank). */
  replica: number;
  /** URL clients use, or `undefined` for headless engines. */
  endpoint?: string;
}

export type AttentionBackend =
  | "aiter-mha"
  | "aiter-mla"
  | "aiter-unified"
  | "triton-unified"
  | "triton-prefill-decode"
  | "triton-mla";

export interface MemoryBudget {
  /** `true` when the model is in the catalog or `modelInfo` was given; otherwise nothing below is computed. */
  checked: boolean;
  hbmGiB: number;
  gpuMemoryUtilization: number;
  /** Bytes of weights per GPU (GiB), after quantization, TP/PP split and expert sharding. */
  weightsPerGpuGiB?: number;
  /** Allowance for activations, CUDA graphs and the runtime (GiB). */
  overheadPerGpuGiB?: number;
  /** Memory left for the KV cache on each GPU (GiB). */
  kvBudgetPerGpuGiB?: number;
  /** KV-cache bytes per token held by each GPU. */
  kvBytesPerTokenPerGpu?: number;
  /** Tokens the KV cache of one engine (one TP×PP group) can hold. */
  kvCacheTokens?: number;
  /** Sequences of `maxModelLen` tokens the KV cache of one engine holds at once. */
  maxLengthSequences?: number;
  /** How the numbers were derived, in words. */
  notes: string[];
}

export type DeploymentKind = "single-node" | "ray" | "native-multi-node" | "data-parallel";

export interface RayClusterPlan {
  headNode: string;
  headAddress: string;
  gcsPort: number;
  workerNodes: string[];
  expectedNodes: number;
  expectedGpus: number;
  joinTimeoutSeconds: number;
}

export interface ReadinessCheck {
  node: string;
  host: string;
  port: number;
  container: string;
  servedModelName: string;
  timeoutSeconds: number;
  /** Secrets the check takes from its environment (`VLLM_API_KEY` when `rocm-vllm:apiKey` guards the API). */
  secretEnv: string[];
  /** POSIX shell run on the node: waits for `/health` and `/v1/models`; on timeout quotes the container's log. */
  script: string;
}

export interface SmokeTest {
  node: string;
  port: number;
  /** Secrets the test takes from its environment (`VLLM_API_KEY` when `rocm-vllm:apiKey` guards the API). */
  secretEnv: string[];
  /** POSIX shell run on the node: one completion request; exit 1 with the response when it fails. */
  script: string;
}

export interface BenchmarkPlan {
  node: string;
  settings: { input: number; output: number; prompts: number; concurrency: number };
  /** Name of the job container in the node's `jobs`. */
  job: string;
}

export interface LoadBalancerPlan {
  port: number;
  nodes: string[];
  /** Docker name of the balancer container (the same on every balancer node). */
  container: string;
  /** URLs clients use instead of the instances' own. */
  endpoints: string[];
  /** Full nginx.conf, as written into each balancer container. */
  config: string;
  /** Upstream servers (`ip:port`), one per instance. */
  upstreams: string[];
  /** Passive health: failed attempts that take an instance out, and for how long. */
  maxFails: number;
  failTimeoutSeconds: number;
  /** Header whose value pins a session to one instance (consistent hash); absent: least connections only. */
  affinityHeader?: string;
}

/** One step of a rolling update: replicas replaced together. */
export interface RolloutWave {
  /** Replica (group) indices replaced in this wave. */
  replicas: number[];
  /** The wave's containers (every member of its groups), by node. */
  containers: { node: string; name: string }[];
  /**
   * POSIX shell run on every balancer node before the wave's containers are replaced: takes the wave's instances out
   * of the balancer (nginx reload, in-flight requests keep going) and waits until they have no request left or
   * `drainSeconds` passed. Absent without a balancer.
   */
  drain?: string;
  /** Run on every balancer node once the wave passed its readiness gates and smoke tests: puts it back. */
  undrain?: string;
}

/** How a change that restarts serving reaches the replicas (`rollout` in the config, resolved). */
export interface RolloutPlan {
  strategy: "rolling" | "all-at-once";
  /** Why this strategy, in words (the config or the default's reasoning). */
  why: string;
  /** Replicas (whole groups) out of service at once during a rolling update. */
  maxUnavailable: number;
  drainSeconds: number;
  /** `vllm serve --shutdown-timeout` is in the argv (the release has it): SIGTERM lets in-flight requests finish. */
  gracefulShutdown: boolean;
  /** The order of replacement. All replicas in one wave when all at once. */
  waves: RolloutWave[];
}

/** What every member of the deployment does when its engine or group breaks (`healing`, resolved). */
export interface HealingPlan {
  maxRestarts: number;
  backoffSeconds: number;
  maxBackoffSeconds: number;
  stableSeconds: number;
  probeSeconds: number;
  probeFailures: number;
  /** Where the member's state is kept inside its container (`key=value` lines), read by the health check. */
  statusFile: string;
}

export interface WeightsPlan {
  /** Weights are downloaded by one-shot jobs and serving runs with `HF_HUB_OFFLINE=1`. */
  predownload: boolean;
  revision?: string;
  /** Names of the download jobs, one per node. */
  jobs: string[];
}

export interface DeploymentPlan {
  name: string;
  model: string;
  servedModelName: string;
  kind: DeploymentKind;
  attention: { backend: AttentionBackend; expectedLogLine: string };
  /** Deployment-wide environment shared by every container of the deployment, before per-node values. */
  env: Record<string, string>;
  instances: InstancePlan[];
  /** One Ray cluster per replica for `kind: ray`. */
  rayClusters: RayClusterPlan[];
  readiness: ReadinessCheck[];
  smokeTests: SmokeTest[];
  weights: WeightsPlan;
  benchmark?: BenchmarkPlan;
  loadBalancer?: LoadBalancerPlan;
  rollout: RolloutPlan;
  healing: HealingPlan;
  /** URLs clients use: the load balancer's when there is one, else every instance's. */
  endpoints: string[];
  memory: MemoryBudget;
  reasons: Reason[];
}

export interface ClusterSummary {
  gpu: string;
  gpuArch: string;
  /** HBM of one (logical) GPU in GiB. */
  hbmGiB: number;
  /** Compute partition mode, when the GPUs are partitioned (`dpx`, `qpx`, `cpx`). */
  partition?: string;
  image: string;
  /** vLLM release the image runs (`vllmVersion`, else read from the image tag). */
  vllmVersion: string;
  /**
   * The release-table entry the plan was checked against, when the table does not know `vllmVersion` (a newer
   * release, or one between two known releases): every flag and variable in the plan exists in this release.
   */
  vllmCheckedAgainst?: string;
  modelCache: string;
  /** Compile caches on each node's local disk (`cluster.compileCache`); absent when turned off. */
  compileCache?: { path: string; minFreeGiB: number };
  /** Registry login for image pulls; its password is the secret `rocm-vllm:registryPassword`, never in the plan. */
  registry?: { address: string; username: string };
}

export interface Plan {
  /** Format version of this object. */
  planVersion: 1;
  /** The stack's name (`Pulumi.<stack>.yaml`, `pulumi.getStack()`); label `rocm-vllm.stack` of every container. */
  stack: string;
  cluster: ClusterSummary;
  nodes: NodePlan[];
  deployments: DeploymentPlan[];
  warnings: Warning[];
}
