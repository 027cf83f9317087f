/**
 * Shell for day-2 operations, run on a node: host preflight checks, the smoke-test completion, and the nginx
 * configuration of a load balancer. Same text in the Pulumi program, the exported scripts and the end-to-end test.
 */
import { apiCurl, apiKeySecretEnv, requireSecretsLines } from "../rules/apiKey";
import { shellQuote, shellQuoteAlways } from "./shellQuote";

export interface PreflightInput {
  node: string;
  ip: string;
  gpus: number;
  interface?: string;
  /** The node runs ranks that talk over RDMA: check `/dev/infiniband` and the verbs libraries to mount. */
  rdma: boolean;
  /** Host RDMA verbs libraries bind-mounted into its containers; a missing one would be created empty by Docker. */
  rdmaLibraries?: string[];
  modelCache: string;
  imageGiB: number;
  weightsGiB: number;
  /** Oldest Docker Engine accepted, `major.minor`. */
  minDocker: [number, number];
  /** Compile caches of the node's GPU containers: free space and a local file system under `path`. */
  compileCache?: { path: string; minFreeGiB: number };
  /** Ports a planned container binds that no other process may hold (free, or held by that container). */
  ports?: { port: number; container: string; purpose: string }[];
}

/** File system types that are shared or network storage: compile caches must not live there. */
export const SHARED_FILE_SYSTEMS = [
  "nfs",
  "nfs4",
  "cifs",
  "smb2",
  "smbfs",
  "ceph",
  "glusterfs",
  "lustre",
  "gpfs",
  "beegfs",
  "fuse",
];

/** Checks in words, in the order `preflightScript` runs them. */
export function preflightChecks(i: PreflightInput): string[] {
  return [
    "/dev/kfd exists (ROCm compute interface)",
    `${i.gpus} GPU render nodes in /dev/dri (matches gpus: ${i.gpus})`,
    "amdgpu kernel driver loaded",
    `Docker answers and is ${i.minDocker.join(".")} or newer`,
    `${i.imageGiB} GiB free under Docker's data root for the image`,
    `${i.weightsGiB} GiB free under ${i.modelCache} for weights`,
    ...(i.compileCache
      ? [
          `${i.compileCache.minFreeGiB} GiB free under ${i.compileCache.path} for compile caches, on a local file system`,
        ]
      : []),
    i.interface ? `interface ${i.interface} exists and carries ${i.ip}` : `an interface carries ${i.ip}`,
    ...(i.rdma ? ["/dev/infiniband exists (RDMA)"] : []),
    ...(i.rdmaLibraries ?? []).map((p) => `${p} exists (host RDMA verbs library, mounted read-only)`),
    ...(i.ports ?? []).map((p) => `port ${p.port} free or held by ${p.container} (${p.purpose})`),
    "curl is installed (readiness gate)",
  ];
}

/**
 * Listening TCP ports are read from /proc/net/tcp{,6} (no ss/netstat needed); with host networking the containers'
 * sockets are the host's. A port in use passes only while its planned container runs (a redeploy).
 */
function portChecks(ports: NonNullable<PreflightInput["ports"]>): string[] {
  if (ports.length === 0) return [];
  return [
    'listening() { awk -v p="$(printf \':%04X\' "$1")" \'$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }\' /proc/net/tcp /proc/net/tcp6 2>/dev/null; }',
    ...ports.flatMap((p) => {
      const name = shellQuote(p.container);
      return [
        `if ! listening ${p.port}; then ok "port ${p.port} free"`,
        `elif [ "$(docker inspect -f '{{.State.Running}}' ${name} 2>/dev/null)" = true ]; then ok ${shellQuote(`port ${p.port} held by ${p.container}`)}`,
        `else bad ${shellQuote(`port ${p.port} is in use by a process outside the plan; ${p.container} needs it (${p.purpose})`)}; fi`,
      ];
    }),
  ];
}

/** The preflight script: every check prints one `ok:` or `FAIL:` line; exit 1 when any failed. */
export function preflightScript(i: PreflightInput): string {
  const ip = shellQuote(` ${i.ip}/`);
  const iface = i.interface ? shellQuoteAlways(i.interface) : undefined;
  return [
    `# rocm-vllm preflight of ${i.node}: run before any image pull; one line per check.`,
    "set -u",
    "fail=0",
    `node=${shellQuoteAlways(i.node)}`,
    `cache=${shellQuoteAlways(i.modelCache)}`,
    'ok() { echo "rocm-vllm preflight $node: ok: $*"; }',
    'bad() { echo "rocm-vllm preflight $node: FAIL: $*" >&2; fail=1; }',
    "free_gib() { df -Pk \"$1\" 2>/dev/null | awk 'NR==2 {print int($4/1048576)}'; }",
    'existing_parent() { d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; echo "$d"; }',
    'if [ -c /dev/kfd ]; then ok "/dev/kfd present"; else bad "/dev/kfd missing: install the ROCm kernel driver (amdgpu-dkms)"; fi',
    'count=0; for f in /dev/dri/renderD*; do [ -e "$f" ] && count=$((count + 1)); done',
    `if [ "$count" -eq ${i.gpus} ]; then ok "${i.gpus} GPU render nodes"; else bad "found $count GPU render nodes in /dev/dri but the config says gpus: ${i.gpus}"; fi`,
    'if [ -d /sys/module/amdgpu ]; then ok "amdgpu driver loaded"; else bad "amdgpu kernel module not loaded (modprobe amdgpu)"; fi',
    "version=$(docker version --format '{{.Server.Version}}' 2>/dev/null || true)",
    'if [ -z "$version" ]; then bad "docker does not answer for user $(id -un)"; else',
    "  major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}",
    `  if [ "$major" -gt ${i.minDocker[0]} ] 2>/dev/null || { [ "$major" -eq ${i.minDocker[0]} ] && [ "$minor" -ge ${i.minDocker[1]} ]; } 2>/dev/null; then ok "docker $version"; else bad "docker $version is older than ${i.minDocker.join(".")}"; fi`,
    "fi",
    "root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null | tail -n 1)",
    '[ -n "$root" ] || root=/var/lib/docker',
    'free=$(free_gib "$(existing_parent "$root")")',
    `if [ "\${free:-0}" -ge ${i.imageGiB} ]; then ok "$free GiB free under $root"; else bad "only \${free:-0} GiB free under $root; the image needs ~${i.imageGiB} GiB"; fi`,
    'free=$(free_gib "$(existing_parent "$cache")")',
    `if [ "\${free:-0}" -ge ${i.weightsGiB} ]; then ok "$free GiB free for the model cache"; else bad "only \${free:-0} GiB free under $cache; the weights need ~${i.weightsGiB} GiB"; fi`,
    ...(i.compileCache
      ? [
          `compile=${shellQuoteAlways(i.compileCache.path)}`,
          'parent=$(existing_parent "$compile")',
          'free=$(free_gib "$parent")',
          `if [ "\${free:-0}" -ge ${i.compileCache.minFreeGiB} ]; then ok "$free GiB free for compile caches"; else bad "only \${free:-0} GiB free under $compile; compile caches need ${i.compileCache.minFreeGiB} GiB (cluster.compileCache.minFreeGiB)"; fi`,
          `fstype=$(stat -f -c %T "$parent" 2>/dev/null || echo unknown)`,
          `case "$fstype" in ${SHARED_FILE_SYSTEMS.map((t) => `${t}|${t}.*`).join("|")}) bad "$compile is on $fstype, shared storage: compile caches must be on the node's local disk (cluster.compileCache.path)" ;; *) ok "$compile is on a local file system ($fstype)" ;; esac`,
        ]
      : []),
    ...(iface
      ? [
          `iface=${iface}`,
          'if [ -d "/sys/class/net/$iface" ]; then ok "interface $iface present"; else bad "interface $iface does not exist (network.interface)"; fi',
          `if ip -o addr show dev "$iface" 2>/dev/null | grep -qF ${ip}; then ok "interface carries ${i.ip}"; else bad "interface $iface does not carry ${i.ip}"; fi`,
        ]
      : [
          `if ip -o addr 2>/dev/null | grep -qF ${ip}; then ok "an interface carries ${i.ip}"; else bad "no interface carries ${i.ip} (nodes[].ip)"; fi`,
        ]),
    ...(i.rdma
      ? [
          'if [ -d /dev/infiniband ]; then ok "/dev/infiniband present"; else bad "/dev/infiniband missing but network.rdma is true"; fi',
        ]
      : []),
    ...(i.rdmaLibraries ?? []).map(
      (p) =>
        `if [ -e ${shellQuoteAlways(p)} ]; then ok "${p} present"; else bad "${p} missing: set network.verbsLibraries to this host's RDMA verbs libraries"; fi`,
    ),
    ...portChecks(i.ports ?? []),
    'if command -v curl >/dev/null 2>&1; then ok "curl present"; else bad "curl missing: the readiness gate needs it"; fi',
    'exit "$fail"',
    "",
  ].join("\n");
}

export interface SmokeTestInput {
  deployment: string;
  port: number;
  servedModelName: string;
  /** `rocm-vllm:apiKey` guards the API: the request carries `Authorization: Bearer $VLLM_API_KEY`. */
  apiKey: boolean;
}

/** One completion request against the instance; exit 1 with the response when it does not return choices. */
export function smokeTestScript(i: SmokeTestInput): string {
  const body = JSON.stringify({ model: i.servedModelName, prompt: "Say hello.", max_tokens: 8, temperature: 0 });
  return [
    `# rocm-vllm smoke test of ${i.deployment}: one completion on port ${i.port}.`,
    "set -u",
    ...requireSecretsLines(apiKeySecretEnv(i.apiKey), `the smoke test of ${i.deployment}`),
    `out=$(${apiCurl(i.apiKey)} -sS -m 300 -H 'Content-Type: application/json' -d ${shellQuote(body)} http://127.0.0.1:${i.port}/v1/completions 2>&1)`,
    'case "$out" in',
    `  *'"choices"'*) echo ${shellQuote(`rocm-vllm: smoke test of ${i.deployment} on port ${i.port} passed`)} ;;`,
    `  *) echo ${shellQuote(`rocm-vllm: smoke test of ${i.deployment} on port ${i.port} failed:`)} "$out" >&2; exit 1 ;;`,
    "esac",
    "",
  ].join("\n");
}

export interface NginxInput {
  deployment: string;
  port: number;
  /** Upstream servers (`ip:port`) with the replica (group) each belongs to: a rolling update drains by replica. */
  upstreams: { address: string; replica: number }[];
  maxFails: number;
  failTimeoutSeconds: number;
  /** Header that pins a session to one instance; absent: least connections only. */
  affinityHeader?: string;
}

/** Comment ending every upstream server line: the drain and undrain scripts find a replica's servers by it. */
export const REPLICA_MARKER = "# rocm-vllm replica";

/** nginx variable of a request header (`X-Session-Id` → `$http_x_session_id`). */
const headerVariable = (header: string) => `$http_${header.toLowerCase().replace(/-/g, "_")}`;

/**
 * nginx.conf for a deployment's balancer:
 * - least connections over every instance, with passive health: an instance that refuses a connection, times out or
 *   answers 502/503 `maxFails` times is left out for `failTimeoutSeconds`, and a request that never reached it goes
 *   to the next instance (`proxy_next_upstream`; a POST that reached an instance is not sent twice);
 * - with `affinityHeader`, requests carrying the header go through a consistent hash of its value (same value, same
 *   instance, for prefix-cache hits on multi-turn traffic); requests without it use least connections;
 * - no buffering so streamed tokens flow, long read timeouts for long generations, a short connect timeout so a dead
 *   host is skipped quickly;
 * - an access log on stdout that names every upstream attempt (`upstream=`, `upstream_status=`, `upstream_connect=`,
 *   `-` for a connection that failed) and the request's `X-Request-Id`.
 */
export function nginxConfig(i: NginxInput): string {
  const upstream = `rocm_vllm_${i.deployment.replace(/-/g, "_")}`;
  const servers = i.upstreams.map(
    (u) =>
      `    server ${u.address} max_fails=${i.maxFails} fail_timeout=${i.failTimeoutSeconds}s; ${REPLICA_MARKER} ${u.replica}`,
  );
  const block = (name: string, balance: string) => [
    `  upstream ${name} {`,
    `    ${balance};`,
    ...servers,
    "    keepalive 64;",
    "  }",
  ];
  const key = i.affinityHeader ? headerVariable(i.affinityHeader) : undefined;
  return [
    `# rocm-vllm load balancer of ${i.deployment}`,
    "worker_processes auto;",
    "events { worker_connections 4096; }",
    "http {",
    "  log_format rocm_vllm '$remote_addr [$time_local] \"$request\" $status rt=$request_time request_id=$http_x_request_id upstream=$upstream_addr upstream_status=$upstream_status upstream_connect=$upstream_connect_time';",
    "  access_log /dev/stdout rocm_vllm;",
    ...(key
      ? [
          `  # Session affinity on ${i.affinityHeader}: consistent hash when the header is set, least connections when not.`,
          `  map ${key} $rocm_vllm_pool {`,
          `    "" ${upstream};`,
          `    default ${upstream}_affinity;`,
          "  }",
          ...block(`${upstream}_affinity`, `hash ${key} consistent`),
        ]
      : []),
    ...block(upstream, "least_conn"),
    "  server {",
    `    listen ${i.port};`,
    '    location = /rocm-vllm-lb-health { return 200 "ok\\n"; }',
    "    location / {",
    `      proxy_pass http://${key ? "$rocm_vllm_pool" : upstream};`,
    "      proxy_http_version 1.1;",
    '      proxy_set_header Connection "";',
    "      proxy_buffering off;",
    "      proxy_connect_timeout 5s;",
    "      proxy_read_timeout 3600s;",
    "      proxy_next_upstream error timeout http_502 http_503;",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");
}

export interface BenchmarkResult {
  outputTokensPerSecond: number;
  ttftMs: { mean: number; p50: number; p90: number; p99: number };
  itlMs: { mean: number; p50: number; p90: number; p99: number };
}

/** Reads the JSON `vllm bench serve --save-result` writes (printed as the job's last stdout line). */
export function parseBenchmarkResult(stdout: string): BenchmarkResult {
  const line = stdout
    .trim()
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .pop();
  if (!line) throw new Error("benchmark printed no JSON result");
  const r = JSON.parse(line) as Record<string, unknown>;
  const num = (k: string) => {
    const v = r[k];
    if (typeof v !== "number") throw new Error(`benchmark result lacks ${k}`);
    return v;
  };
  const pct = (m: string) => ({
    mean: num(`mean_${m}_ms`),
    p50: num(`p50_${m}_ms`),
    p90: num(`p90_${m}_ms`),
    p99: num(`p99_${m}_ms`),
  });
  return { outputTokensPerSecond: num("output_throughput"), ttftMs: pct("ttft"), itlMs: pct("itl") };
}
