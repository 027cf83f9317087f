/**
 * Day-2 operations decided from the config: weight pre-download, host preflight, smoke test, benchmark and load
 * balancer. Each is a named rule; the shell they run lives in `planner/scripts/dayTwoScripts.ts`.
 */
import { createHash } from "node:crypto";
import { isGatedModel, type ModelEntry } from "../catalog/models";
import type { ClusterConfig, DeploymentConfig } from "../config/schema";
import { type NginxInput, nginxConfig } from "../scripts/dayTwoScripts";
import { shellJoin } from "../scripts/shellQuote";
import { fact, guide } from "../sources";
import type { ContainerSpec, NodePlan } from "../types";
import { API_KEY_ENV, BENCHMARK_API_KEY_ENV } from "./apiKey";
import { HF_CACHE_IN_CONTAINER } from "./containerRuntime";
import type { Decisions } from "./decisions";
import type { Shape } from "./parallelism";

const GIB = 1024 ** 3;
/** Disk a ROCm vLLM image takes once pulled and extracted (≈ 20 GB compressed); an estimate for preflight. */
export const IMAGE_DISK_GIB = 50;
/** Oldest Docker Engine the provider's SSH transport (`docker system dial-stdio`) and these flags need. */
export const MIN_DOCKER: [number, number] = [20, 10];

/** Stable short hash used as a re-run trigger. */
export function triggerHash(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

/** The model is fetched from the Hub (not an absolute path inside the cache). */
export const downloadsFromHub = (model: string) => !model.startsWith("/");

/**
 * Pre-download: on by default for deployments spanning nodes, so N nodes never race to download hundreds of GB at
 * serve time; serving then runs offline (`HF_HUB_OFFLINE=1`) and never needs the token. A pinned revision is passed
 * to both the download and `vllm serve --revision`, so every node caches and serves the same files.
 */
export function weightsPolicy(out: Decisions, d: DeploymentConfig, shape: Shape): boolean {
  const fromHub = downloadsFromHub(d.model);
  if (!fromHub && d.weights.predownload) {
    out.warn(
      "predownload-local-model",
      `${d.model} is a path in the model cache: there is nothing to download`,
      ".weights.predownload",
    );
  }
  const predownload = fromHub && (d.weights.predownload ?? shape.spansNodes);
  if (predownload) {
    out.setEnv("HF_HUB_OFFLINE", "1", "weightsPolicy", fact("same-weights-on-every-node"));
  }
  if (d.weights.revision)
    out.addArg("--revision", d.weights.revision, "weightsPolicy", "pinned revision: every node serves the same files");
  return predownload;
}

/**
 * A gated model (or draft model) downloaded without a token fails with 401/403 at deploy time, after the pulls. Warn
 * at plan time, and say how both faces set the token.
 */
export function gatedModelToken(out: Decisions, d: DeploymentConfig, hasHfToken: boolean): void {
  if (hasHfToken) return;
  const gated = [
    { model: d.model, path: ".model" },
    ...(d.speculative?.model ? [{ model: d.speculative.model, path: ".speculative.model" }] : []),
  ].filter((m) => downloadsFromHub(m.model) && isGatedModel(m.model));
  for (const m of gated) {
    out.warn(
      "gated-model-without-token",
      `${m.model} is gated on Hugging Face and no token is set: its download fails (401) unless the weights are already in the model cache. Set the token of an account that accepted the model's licence: pulumi config set --secret hfToken <token> (Pulumi), or rocm-vllm export --hf-token and HF_TOKEN=<token> deploy.sh (exported scripts)`,
      m.path,
    );
  }
}

/** Bytes of the checkpoint on disk (its native format, whatever the serving quantization). */
export function checkpointGiB(model: ModelEntry | undefined): number {
  if (!model) return 0;
  const params = model.arch.paramsB * 1e9;
  const experts = params * model.arch.expertFraction;
  const ck = model.checkpoint;
  return Math.ceil(
    ((params - experts) * ck.bytesPerParam + experts * (ck.expertBytesPerParam ?? ck.bytesPerParam)) / GIB,
  );
}

/** Runtime of containers that do no GPU work (downloads, benchmark clients, balancers): host network, nothing else. */
const NO_GPU_RUNTIME = {
  entrypoint: ["/usr/bin/env"],
  init: true,
  stopGraceSeconds: 30,
  devices: [],
  groupAdd: [],
  ipcMode: "private" as const,
  networkMode: "host" as const,
  sharedMemory: "not needed: no GPU work",
  securityOpt: [],
  capAdd: [],
  ulimits: [],
};

const jobBase = (
  cluster: ClusterConfig,
  d: DeploymentConfig,
  role: ContainerSpec["role"],
  name: string,
  replica: number,
) => ({
  name,
  role,
  deployment: d.name,
  replica,
  image: cluster.image,
  ...structuredClone(NO_GPU_RUNTIME),
  volumes: [{ hostPath: cluster.modelCache, containerPath: HF_CACHE_IN_CONTAINER, readOnly: false }],
  restart: "no" as const,
  ports: [],
});

/**
 * What the download job fetches from a repository: what vLLM loads and nothing else. vLLM downloads the first weight
 * format present at the top level of the repository (`*.safetensors`, else `*.bin`, else `*.pt`) and loads only top-level
 * files (vllm v0.11.1 vllm/model_executor/model_loader/weight_utils.py download_weights_from_hf, default_loader.py),
 * skipping `original/**` (LoadConfig.ignore_patterns); config and tokenizer files sit beside the weights. So the job
 * skips every subfolder: Llama 3.x's `original/` consolidated checkpoint, gpt-oss's `original/` and `metal/`.
 * The preflight sizes the same files: the catalogued checkpoint at its stored format.
 */
export const DOWNLOAD_FILES = {
  weightFormats: ["*.safetensors", "*.bin", "*.pt"],
  metadata: ["*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja", "*.py"],
  skip: ["*/*"],
} as const;

const DOWNLOAD_PY = [
  "import fnmatch, sys",
  "from huggingface_hub import HfApi, snapshot_download",
  `WEIGHTS, META, SKIP = ${JSON.stringify(DOWNLOAD_FILES.weightFormats)}, ${JSON.stringify(DOWNLOAD_FILES.metadata)}, ${JSON.stringify(DOWNLOAD_FILES.skip)}`,
  "revision, repos = sys.argv[1] or None, sys.argv[2:]",
  "for i, repo in enumerate(repos):",
  "    rev = revision if i == 0 else None",
  '    top = [f for f in HfApi().list_repo_files(repo, revision=rev) if "/" not in f]',
  "    weights = [p for p in WEIGHTS if fnmatch.filter(top, p)][:1]",
  "    path = snapshot_download(repo_id=repo, revision=rev, allow_patterns=weights + META, ignore_patterns=SKIP)",
  "    print(f\"rocm-vllm: weights of {repo} cached in {path} ({(weights or ['no weight files'])[0]} and config/tokenizer files; subfolders skipped)\", flush=True)",
].join("\n");

/** The one-shot download job of a node: the model (and a speculative draft) into the model cache, with the HF token. */
export function weightsJob(
  cluster: ClusterConfig,
  d: DeploymentConfig,
  hasHfToken: boolean,
  labels: Record<string, string>,
): ContainerSpec {
  const repos = [d.model, d.speculative?.model].filter((m): m is string => m !== undefined && downloadsFromHub(m));
  return {
    ...jobBase(cluster, d, "weights", `rocm-vllm-${d.name}-weights`, 0),
    // Progress bars would flood `pulumi up` and the exported script's output with carriage-return lines.
    env: { HF_HOME: HF_CACHE_IN_CONTAINER, HF_HUB_DISABLE_PROGRESS_BARS: "1" },
    secretEnv: hasHfToken ? ["HF_TOKEN"] : [],
    command: ["python3", "-c", DOWNLOAD_PY, d.weights.revision ?? "", ...repos],
    labels: { ...labels, "rocm-vllm.role": "weights" },
  };
}

/**
 * `vllm bench serve` against the deployment (its balancer when there is one), printing the result JSON as its last
 * line: random prompts of the configured input/output lengths, TTFT/TPOT/ITL percentiles 50/90/99.
 */
export function benchmarkJob(
  cluster: ClusterConfig,
  d: DeploymentConfig,
  settings: NonNullable<DeploymentConfig["benchmark"]>,
  target: string,
  servedModelName: string,
  env: Record<string, string>,
  secretEnv: string[],
  labels: Record<string, string>,
): ContainerSpec {
  const dir = "/tmp/rocm-vllm-bench";
  const argv = [
    "vllm",
    "bench",
    "serve",
    "--backend",
    "vllm",
    "--base-url",
    target,
    "--model",
    d.model,
    "--served-model-name",
    servedModelName,
    "--dataset-name",
    "random",
    "--random-input-len",
    String(settings.input),
    "--random-output-len",
    String(settings.output),
    "--num-prompts",
    String(settings.prompts),
    "--max-concurrency",
    String(settings.concurrency),
    "--ignore-eos",
    "--percentile-metrics",
    "ttft,tpot,itl",
    "--metric-percentiles",
    "50,90,99",
    "--save-result",
    "--result-dir",
    dir,
    "--result-filename",
    "result.json",
  ];
  return {
    ...jobBase(cluster, d, "benchmark", `rocm-vllm-${d.name}-benchmark`, 0),
    env,
    secretEnv,
    // `echo`: the result file ends without a newline, and the next line of a parallel deploy's output would stick to it.
    command: [
      "bash",
      "-c",
      `set -euo pipefail\n${benchmarkKeyLine(secretEnv)}${shellJoin(argv)} >&2\ncat ${dir}/result.json\necho\n`,
    ],
    labels: { ...labels, "rocm-vllm.role": "benchmark" },
  };
}

/**
 * With an API key, `vllm bench serve` must send it: it reads `OPENAI_API_KEY` (planner/rules/apiKey.ts), set here
 * from the container's secret `VLLM_API_KEY` inside the job's shell, so the value is in no command line.
 */
function benchmarkKeyLine(secretEnv: readonly string[]): string {
  return secretEnv.includes(API_KEY_ENV) ? `export ${BENCHMARK_API_KEY_ENV}="$${API_KEY_ENV}"\n` : "";
}

/** nginx in front of the instances, on the chosen nodes (default: the deployment's first node). */
export function loadBalancer(
  out: Decisions,
  d: DeploymentConfig,
  lb: NonNullable<DeploymentConfig["loadBalancer"]>,
  upstreams: NginxInput["upstreams"],
  defaultNode: string,
  nodes: ReadonlyMap<string, NodePlan>,
  labels: Record<string, string>,
):
  | { config: string; container: string; services: { node: string; spec: ContainerSpec }[]; endpoints: string[] }
  | undefined {
  const names = lb.nodes ?? [defaultNode];
  const unknown = names.filter((n) => !nodes.has(n));
  if (unknown.length > 0) {
    out.refuse(
      ".loadBalancer.nodes",
      unknown,
      "are not nodes of the cluster",
      `use nodes from rocm-vllm:cluster.nodes`,
    );
    return undefined;
  }
  const config = nginxConfig({
    deployment: d.name,
    port: lb.port,
    upstreams,
    maxFails: lb.maxFails,
    failTimeoutSeconds: lb.failTimeoutSeconds,
    affinityHeader: lb.affinity?.header,
  });
  out.note(
    `nginx on ${names.join(", ")}:${lb.port} over ${upstreams.length} instances: least connections; an instance failing ${lb.maxFails} time(s) is out for ${lb.failTimeoutSeconds} s, requests that never reached it go to another`,
    "loadBalancer",
    guide("Choosing a load balancing strategy", "external LB: Nginx"),
  );
  if (lb.affinity) {
    out.note(
      `session affinity on ${lb.affinity.header}: the same value goes to the same instance (consistent hash; a hot session can load one instance), requests without it by least connections`,
      "loadBalancer",
      "nginx ngx_http_upstream_module (hash … consistent)",
    );
  }
  const container = `rocm-vllm-${d.name}-lb`;
  const services = names.map((node) => ({
    node,
    spec: {
      name: container,
      role: "load-balancer" as const,
      deployment: d.name,
      replica: 0,
      image: lb.image,
      ...structuredClone(NO_GPU_RUNTIME),
      env: {},
      secretEnv: [],
      command: [
        "sh",
        "-c",
        `cat > /etc/nginx/nginx.conf <<'ROCM_VLLM_NGINX'\n${config}ROCM_VLLM_NGINX\nexec nginx -g 'daemon off;'\n`,
      ],
      volumes: [],
      restart: "unless-stopped" as const,
      ports: [lb.port],
      labels: { ...labels, "rocm-vllm.role": "load-balancer" },
    },
  }));
  return { config, container, services, endpoints: names.map((n) => `http://${nodes.get(n)?.ip}:${lb.port}`) };
}
