/**
 * Day-2 operations (issue 6) in the plan: preflight, weight pre-download, smoke test, benchmark and load balancer,
 * with the generated shell linted by shellcheck and the nginx configuration validated by `nginx -t`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBenchmarkResult, preflightScript } from "../../planner/scripts/dayTwoScripts";
import { planOk, rawCluster, rawDeployment } from "../support/stackConfigs";

const tmp = () => mkdtempSync(join(tmpdir(), "rv-day2-"));
const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd} || test -x /usr/sbin/${cmd}`]).status === 0;

function shellcheck(script: string, shell = "sh"): string {
  const file = join(tmp(), "script.sh");
  writeFileSync(file, script);
  const r = spawnSync("shellcheck", ["-s", shell, "-S", "style", file], { encoding: "utf8" });
  if (r.error) throw r.error;
  return r.stdout;
}

const twoNodes = rawCluster({
  network: { interface: "ens50f0np0", rdma: true },
  nodes: [
    { name: "node-a", host: "10.0.0.11" },
    { name: "node-b", host: "10.0.0.12" },
  ],
});
const llama405 = rawDeployment({
  model: "meta-llama/Llama-3.1-405B-Instruct",
  parallelism: { tensor: 8, pipeline: 2 },
  maxModelLen: 8192,
});

describe("preflight", () => {
  it("is planned per node by default and lists every check", () => {
    const plan = planOk(twoNodes, [llama405], true);
    const pf = plan.nodes[0].preflight;
    expect(pf?.checks).toEqual([
      "/dev/kfd exists (ROCm compute interface)",
      "8 GPU render nodes in /dev/dri (matches gpus: 8)",
      "amdgpu kernel driver loaded",
      "Docker answers and is 20.10 or newer",
      "50 GiB free under Docker's data root for the image",
      "757 GiB free under /data/huggingface for weights",
      "20 GiB free under /var/cache/rocm-vllm for compile caches, on a local file system",
      "interface ens50f0np0 exists and carries 10.0.0.11",
      "/dev/infiniband exists (RDMA)",
      "port 29501 free or held by rocm-vllm-llama70b (torch.distributed store of llama70b, where its node ranks meet)",
      "curl is installed (readiness gate)",
    ]);
    expect(pf?.script).toContain("grep -qF ' 10.0.0.11/'");
  });
  it("refuses a compile cache on shared storage, and leaves the check out when the cache is off", () => {
    const script = planOk(rawCluster({ compileCache: { path: "/mnt/shared/cache" } }), [rawDeployment()]).nodes[0]
      .preflight?.script;
    const bin = tmp();
    // A stand-in stat that reports an NFS mount.
    writeFileSync(join(bin, "stat"), "#!/bin/sh\necho nfs\n", { mode: 0o755 });
    const r = spawnSync("sh", ["-c", script ?? ""], { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(r.stderr).toContain(
      "FAIL: /mnt/shared/cache is on nfs, shared storage: compile caches must be on the node's local disk (cluster.compileCache.path)",
    );
    const off = planOk(rawCluster({ compileCache: { enabled: false } }), [rawDeployment()]).nodes[0].preflight;
    expect(off?.checks.join("\n")).not.toContain("compile caches");
  });
  it("can be turned off", () => {
    expect(planOk(rawCluster({ preflight: false }), [rawDeployment()]).nodes[0].preflight).toBeUndefined();
  });
  it("passes shellcheck, prints one ok/FAIL line per check and exits 1 when a check fails", () => {
    const plan = planOk(twoNodes, [llama405]);
    const preflight = plan.nodes[0].preflight;
    const script = preflight?.script ?? "";
    expect(shellcheck(script)).toBe("");
    // No host here has the interface ens50f0np0 carrying 10.0.0.11 nor 757 GiB free: those checks must fail.
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /rocm-vllm preflight node-a: FAIL: interface ens50f0np0 does not exist \(network.interface\)/,
    );
    expect(r.stderr).toMatch(/FAIL: only \d+ GiB free under \/data\/huggingface; the weights need ~757 GiB/);
    const lines = `${r.stdout}${r.stderr}`.trim().split("\n");
    // The interface check prints two lines (present, carries the address), the compile cache check two (space,
    // local file system); every other check one.
    expect(lines).toHaveLength((preflight?.checks.length ?? 0) + 2);
    expect(r.stdout).toMatch(/ok: \/var\/cache\/rocm-vllm is on a local file system \(/);
    for (const line of lines) expect(line).toMatch(/^rocm-vllm preflight node-a: (ok|FAIL): /);
  });
});

describe("preflight of a native multi-node group", () => {
  it("checks node 0's master port: free, or held by its own rank 0 container, else FAIL naming what needs it", async () => {
    const plan = planOk(twoNodes, [llama405]);
    expect(plan.deployments[0].kind).toBe("native-multi-node");
    expect(plan.nodes[0].preflight?.checks).toContain(
      "port 29501 free or held by rocm-vllm-llama70b (torch.distributed store of llama70b, where its node ranks meet)",
    );
    expect(plan.nodes[1].preflight?.checks.some((c) => c.startsWith("port "))).toBe(false);
    expect(shellcheck(plan.nodes[0].preflight?.script ?? "")).toBe("");

    // The same check against a real listener on a free port, with a stand-in docker saying whether the container runs.
    const server = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as net.AddressInfo).port;
    const script = preflightScript({
      node: "n",
      ip: "127.0.0.1",
      gpus: 0,
      rdma: false,
      modelCache: "/",
      imageGiB: 0,
      weightsGiB: 0,
      minDocker: [0, 0],
      ports: [{ port, container: "rank0", purpose: "the store" }],
    });
    const bin = mkdtempSync(join(tmpdir(), "rv-fake-docker-"));
    const run = (running: boolean) => {
      writeFileSync(join(bin, "docker"), `#!/bin/sh\necho ${running}\n`, { mode: 0o755 });
      const r = spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin` } });
      return `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes(`port ${port}`));
    };
    try {
      expect(run(false)).toEqual([
        `rocm-vllm preflight n: FAIL: port ${port} is in use by a process outside the plan; rank0 needs it (the store)`,
      ]);
      expect(run(true)).toEqual([`rocm-vllm preflight n: ok: port ${port} held by rank0`]);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(run(false)).toEqual([`rocm-vllm preflight n: ok: port ${port} free`]);
  });
});

describe("weights", () => {
  it("pre-downloads on every node of a spanning deployment, and serving runs offline without the token", () => {
    const plan = planOk(twoNodes, [{ ...llama405, weights: { revision: "abc123" } }], true);
    const d = plan.deployments[0];
    expect(d.weights).toEqual({ predownload: true, revision: "abc123", jobs: ["rocm-vllm-llama70b-weights"] });
    for (const node of plan.nodes) {
      const [job] = node.jobs;
      expect(job.after).toBe("image");
      expect(job.container.secretEnv).toEqual(["HF_TOKEN"]);
      expect(job.container.command.slice(-2)).toEqual(["abc123", "meta-llama/Llama-3.1-405B-Instruct"]);
      expect(node.containers[0].env.HF_HUB_OFFLINE).toBe("1");
      expect(node.containers[0].secretEnv).toEqual([]);
    }
    expect(d.instances[0].argv).toContain("--revision");
  });
  it("is off by default on one node (serving downloads with the token) and can be forced on", () => {
    const single = planOk(rawCluster(), [rawDeployment()], true);
    expect(single.nodes[0].jobs).toEqual([]);
    expect(single.nodes[0].containers[0].secretEnv).toEqual(["HF_TOKEN"]);
    const forced = planOk(rawCluster(), [rawDeployment({ weights: { predownload: true } })], true);
    expect(forced.nodes[0].jobs.map((j) => j.container.role)).toEqual(["weights"]);
  });
});

describe("gated models", () => {
  const warningsOf = (deployment: Record<string, unknown>, hasHfToken: boolean) =>
    planOk(rawCluster(), [rawDeployment(deployment)], hasHfToken).warnings.filter(
      (w) => w.code === "gated-model-without-token",
    );
  it("warns when a gated model has no token, saying how Pulumi and script users set one", () => {
    const [w, ...rest] = warningsOf({}, false);
    expect(rest).toEqual([]);
    expect(w?.path).toBe("rocm-vllm:deployments[0].model");
    expect(w?.message).toMatch(/^meta-llama\/Llama-3\.3-70B-Instruct is gated on Hugging Face and no token is set/);
    expect(w?.message).toContain("pulumi config set --secret hfToken <token> (Pulumi)");
    expect(w?.message).toContain("rocm-vllm export --hf-token and HF_TOKEN=<token> deploy.sh (exported scripts)");
    const mixtral = { model: "mistralai/Mixtral-8x7B-Instruct-v0.1", parallelism: { tensor: 8 } };
    expect(warningsOf(mixtral, false)).toHaveLength(1);
  });
  it("says nothing with a token, for open models, or for a model already in the cache", () => {
    expect(warningsOf({}, true)).toEqual([]);
    expect(warningsOf({ model: "Qwen/Qwen2.5-72B-Instruct" }, false)).toEqual([]);
    expect(warningsOf({ model: "/models/Llama-3.3-70B-Instruct" }, false)).toEqual([]);
  });
  it("warns about a gated draft model too", () => {
    const draft = {
      model: "Qwen/Qwen2.5-72B-Instruct",
      speculative: { method: "eagle3", model: "meta-llama/Llama-3.1-8B-Instruct" },
    };
    expect(warningsOf(draft, false).map((w) => w.path)).toEqual(["rocm-vllm:deployments[0].speculative.model"]);
  });
});

describe("smoke test", () => {
  it("sends one completion per instance and passes shellcheck", () => {
    const plan = planOk(rawCluster(), [
      rawDeployment({ model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { tensor: 1 }, replicas: 2 }),
    ]);
    const tests = plan.deployments[0].smokeTests;
    expect(tests.map((t) => t.port)).toEqual([8000, 8001]);
    expect(tests[0].script).toContain('"model":"meta-llama/Llama-3.1-8B-Instruct"');
    expect(shellcheck(tests[0].script)).toBe("");
    expect(planOk(rawCluster(), [rawDeployment({ smokeTest: false })]).deployments[0].smokeTests).toEqual([]);
  });
});

describe("benchmark", () => {
  it("runs vllm bench serve after readiness on the head node, re-running only when the deployment or settings change", () => {
    const withBench = (settings: Record<string, number>, extra: Record<string, unknown> = {}) =>
      planOk(rawCluster(), [rawDeployment({ benchmark: settings, ...extra })]);
    const plan = withBench({ concurrency: 32 });
    const [job] = plan.nodes[0].jobs;
    expect(job.after).toBe("readiness");
    expect(job.container.role).toBe("benchmark");
    const script = job.container.command[2];
    expect(script).toContain("vllm bench serve --backend vllm --base-url http://10.0.0.11:8000");
    expect(script).toContain("--max-concurrency 32");
    expect(shellcheck(script, "bash")).toBe("");
    expect(withBench({ concurrency: 32 }).nodes[0].jobs[0].trigger).toBe(job.trigger);
    expect(withBench({ concurrency: 64 }).nodes[0].jobs[0].trigger).not.toBe(job.trigger);
    expect(withBench({ concurrency: 32 }, { maxNumSeqs: 64 }).nodes[0].jobs[0].trigger).not.toBe(job.trigger);
  });
  it("parses the result JSON into throughput and latency percentiles", () => {
    const line = JSON.stringify({
      output_throughput: 4321.5,
      mean_ttft_ms: 100,
      p50_ttft_ms: 90,
      p90_ttft_ms: 150,
      p99_ttft_ms: 300,
      mean_itl_ms: 20,
      p50_itl_ms: 18,
      p90_itl_ms: 25,
      p99_itl_ms: 40,
    });
    expect(parseBenchmarkResult(`some log\n${line}\n`)).toEqual({
      outputTokensPerSecond: 4321.5,
      ttftMs: { mean: 100, p50: 90, p90: 150, p99: 300 },
      itlMs: { mean: 20, p50: 18, p90: 25, p99: 40 },
    });
    expect(() => parseBenchmarkResult("no json")).toThrow(/no JSON/);
  });
});

describe("load balancer", () => {
  const packed = rawDeployment({
    model: "meta-llama/Llama-3.1-8B-Instruct",
    parallelism: { tensor: 1 },
    replicas: 4,
    loadBalancer: { port: 8080 },
  });
  it("puts nginx in front of every instance and exports its URL as the endpoint", () => {
    const plan = planOk(rawCluster(), [packed]);
    const d = plan.deployments[0];
    expect(d.loadBalancer?.upstreams).toEqual(["10.0.0.11:8000", "10.0.0.11:8001", "10.0.0.11:8002", "10.0.0.11:8003"]);
    expect(d.endpoints).toEqual(["http://10.0.0.11:8080"]);
    expect(plan.nodes[0].services.map((s) => [s.name, s.role, s.ports])).toEqual([
      ["rocm-vllm-llama70b-lb", "load-balancer", [8080]],
    ]);
    expect(plan.nodes[0].services[0].devices).toEqual([]);
  });
  it("refuses a balancer port that clashes with an instance", () => {
    const r = planOk.bind(null, rawCluster(), [{ ...packed, loadBalancer: { port: 8002 } }]);
    expect(r).toThrow(/port 8002 on node node-a is used by both/);
  });
  it.each([
    ["least connections", packed],
    ["session affinity", { ...packed, loadBalancer: { port: 8080, affinity: { header: "X-Session-Id" } } }],
  ])("writes a configuration nginx -t accepts (%s)", (_name, deployment) => {
    expect(which("nginx")).toBe(true);
    const plan = planOk(rawCluster(), [deployment]);
    const dir = tmp();
    const conf = join(dir, "nginx.conf");
    // In a container the access log is the container's stdout; the test's stdout is a socket, which has no path.
    const config = plan.deployments[0].loadBalancer?.config.replace("/dev/stdout", `${dir}/access.log`);
    writeFileSync(conf, `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\n${config}`);
    const r = spawnSync("nginx", ["-t", "-c", conf, "-p", dir], {
      encoding: "utf8",
      env: { PATH: `${process.env.PATH}:/usr/sbin` },
    });
    expect(r.stderr).toMatch(/syntax is ok/);
    expect(r.status).toBe(0);
  });
  it("passive health: an instance failing maxFails times is out for failTimeoutSeconds; retries only where the request never reached it", () => {
    const lb = planOk(rawCluster(), [{ ...packed, loadBalancer: { port: 8080, maxFails: 2, failTimeoutSeconds: 30 } }])
      .deployments[0].loadBalancer;
    expect(lb?.config).toContain("    server 10.0.0.11:8001 max_fails=2 fail_timeout=30s; # rocm-vllm replica 1");
    expect(lb?.config).toContain("proxy_next_upstream error timeout http_502 http_503;");
    // A POST that reached an instance is never sent to a second one.
    expect(lb?.config).not.toContain("non_idempotent");
    expect(lb?.config).toContain("upstream_connect=$upstream_connect_time");
  });
  it("session affinity: a consistent hash on the header when it is set, least connections when not; off by default", () => {
    const plain = planOk(rawCluster(), [packed]).deployments[0];
    expect(plain.loadBalancer?.config).not.toContain("hash ");
    expect(plain.loadBalancer?.affinityHeader).toBeUndefined();
    const sticky = planOk(rawCluster(), [{ ...packed, loadBalancer: { affinity: { header: "X-Session-Id" } } }])
      .deployments[0];
    expect(sticky.loadBalancer?.affinityHeader).toBe("X-Session-Id");
    expect(sticky.loadBalancer?.config).toContain("map $http_x_session_id $rocm_vllm_pool {");
    expect(sticky.loadBalancer?.config).toContain('    "" rocm_vllm_llama70b;');
    expect(sticky.loadBalancer?.config).toContain("    hash $http_x_session_id consistent;");
    expect(sticky.loadBalancer?.config).toContain("proxy_pass http://$rocm_vllm_pool;");
    expect(sticky.reasons.map((r) => r.what).join("\n")).toContain("a hot session can load one instance");
  });
});
