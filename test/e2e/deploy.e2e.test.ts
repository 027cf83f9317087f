/**
 * `rocm-vllm export` end to end: the exported scripts, unchanged, against real Docker Engines on simulated hosts with
 * their own addresses (see globalSetup.ts), running the test images whose `vllm` (and, in the Ray image, `ray`) are
 * stand-ins (test/e2e/standins). Every scenario starts from hosts without containers and has its own time limit.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { remoteStep, SESSION_LOST_EXIT, TIMEOUT_EXIT } from "../../planner/scripts/remoteStep";
import { sshArgv } from "../../planner/scripts/sshOptions";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { ContainerSpec, Plan } from "../../planner/types";
import { commandStep, NODE_COMMAND, readStackFile, runProgram } from "../support/pulumiMocks";
import {
  containerNames,
  docker,
  E2E_IMAGE,
  E2E_NGINX_IMAGE,
  E2E_RAY_IMAGE,
  E2E_RAY_VLLM_VERSION,
  E2E_VLLM_VERSION,
  exportStack,
  HOSTS,
  type HostName,
  inHost,
  inspect,
  KNOWN_HOSTS,
  MODEL_CACHE,
  onClient,
  onNode,
  planOf,
  removeExports,
  resetHosts,
  run,
  runScript,
  runScriptOverSsh,
  STATE,
  simHost,
  stackFile,
  stackVariant,
  WRONG_KNOWN_HOSTS,
  waitFor,
  withKnownHosts,
} from "./support";

const hosts = Object.keys(HOSTS) as HostName[];

/** Stand-in script input as deploy.sh sends it: the action, the secrets, then the node script. */
function nodeScriptInput(dir: string, node: string, action: string, env: Record<string, string>): string {
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}\n`);
  return `set -- ${action}\n${exports.join("")}${readFileSync(join(dir, `${node}.sh`), "utf8")}`;
}

/** Compares a running container with its plan entry, field by field (what `docker run` was given). */
async function expectAsPlanned(
  host: HostName,
  spec: ContainerSpec,
  deployOutput: string,
  secrets: Record<string, string>,
) {
  const c = await inspect(host, spec.name);
  expect(c.State.Running, `${spec.name} running`).toBe(true);
  expect(c.Config.Image).toBe(spec.image);
  expect(c.Config.Entrypoint).toEqual(spec.entrypoint.slice(0, 1));
  expect(c.Config.Cmd).toEqual([...spec.entrypoint.slice(1), ...spec.command]);
  expect(c.Config.Labels).toMatchObject(spec.labels);
  expect(c.Config.Env).toEqual(expect.arrayContaining(Object.entries(spec.env).map(([k, v]) => `${k}=${v}`)));
  for (const key of spec.secretEnv) expect(c.Config.Env).toContain(`${key}=${secrets[key]}`);
  expect((c.HostConfig.Devices ?? []).map((d) => d.PathOnHost)).toEqual(spec.devices);
  expect((c.HostConfig.Devices ?? []).map((d) => d.PathInContainer)).toEqual(spec.devices);
  expect(c.HostConfig.GroupAdd ?? []).toEqual(spec.groupAdd);
  expect(c.HostConfig.IpcMode).toBe(spec.ipcMode);
  expect(c.HostConfig.NetworkMode).toBe(spec.networkMode);
  // The plan holds capabilities and security options as the daemon stores them (asDaemonStores): exactly equal.
  expect(c.HostConfig.CapAdd ?? []).toEqual(spec.capAdd);
  expect(c.HostConfig.SecurityOpt ?? []).toEqual(spec.securityOpt);
  expect(c.HostConfig.RestartPolicy.Name).toBe(spec.restart);
  // A per-image cache directory ends in the first 12 hex digits of the ID of the image the container runs.
  const key = c.Image.replace(/^sha256:/, "").slice(0, 12);
  // (Docker keeps the binds, not necessarily in the order given.)
  expect([...(c.HostConfig.Binds ?? [])].sort()).toEqual(
    spec.volumes
      .map((v) => `${v.hostPath}${v.perImage ? `/${key}` : ""}:${v.containerPath}${v.readOnly ? ":ro" : ""}`)
      .sort(),
  );
  expect(c.HostConfig.Init ?? false).toBe(spec.init);
  for (const u of spec.ulimits) {
    const got = (c.HostConfig.Ulimits ?? []).find((x) => x.Name === u.name);
    if (got?.Soft === u.soft && got.Hard === u.hard) continue;
    // Lowered by test/e2e/shim/docker on a machine that cannot raise hard limits; the request must be the plan's.
    expect(deployOutput).toContain(`requested --ulimit ${u.name}=${u.soft}:${u.hard}`);
  }
}

/** Device nodes a GPU container sees: the plan maps /dev/kfd, /dev/dri and (RDMA) /dev/infiniband unchanged. */
async function devicesInside(host: HostName, container: string): Promise<string[]> {
  const out = await docker(host, "exec", container, "sh", "-c", "ls /dev/kfd /dev/dri /dev/infiniband 2>/dev/null");
  return out.split(/\s+/).filter((w) => w !== "" && !w.endsWith(":"));
}

/** GET `url` from a host as JSON; `headers`: curl -H arguments (an API key's Authorization). */
const curlJson = async (from: HostName, url: string, headers: string[] = []): Promise<unknown> => {
  const r = await inHost(from, ["curl", "-fsS", "-m", "5", ...headers, url]);
  if (r.code !== 0) throw new Error(`curl ${url} from ${from}: ${r.output}`);
  return JSON.parse(r.stdout) as unknown;
};

const modelIds = (body: unknown) => (body as { data: { id: string }[] }).data.map((m) => m.id);

async function expectNoContainers(): Promise<void> {
  for (const h of hosts) expect(await containerNames(h), `containers left on ${h}`).toEqual([]);
}

beforeEach(async () => {
  expect(await resetHosts()).toEqual([]);
});

afterAll(removeExports);

describe("the test stacks", () => {
  it("run the images, vLLM releases and balancer image the test built: Ray only where the image has it", async () => {
    const ray = { image: E2E_RAY_IMAGE, version: E2E_RAY_VLLM_VERSION };
    const native = { image: E2E_IMAGE, version: E2E_VLLM_VERSION };
    const stacks = {
      "e2e-2node": ray,
      "e2e-2node-short": ray,
      "e2e-native": native,
      "e2e-native-short": native,
      "e2e-packed": native,
      "e2e-dp": native,
      "e2e-dp-external": native,
      "e2e-preflight": native,
      "e2e-rolling": native,
      "e2e-heal": ray,
      "e2e-balancer": native,
      "e2e-blue": native,
      "e2e-green": native,
    };
    expect(Object.keys(stacks).sort()).toEqual(
      readdirSync(join(__dirname, "stacks"))
        .map((f) => f.replace(/^Pulumi\.|\.yaml$/g, ""))
        .sort(),
    );
    for (const [stack, expected] of Object.entries(stacks)) {
      const plan = await planOf(stack);
      expect(plan.cluster.image).toBe(expected.image);
      expect(plan.cluster.vllmVersion).toBe(expected.version);
      for (const d of plan.deployments) expect(d.kind === "ray").toBe(expected === ray);
      for (const n of plan.nodes) {
        expect(Object.values(HOSTS)).toContain(n.host);
        for (const s of n.services) expect(s.image).toBe(E2E_NGINX_IMAGE);
      }
    }
  });
});

describe("the stand-ins", () => {
  const standin = (...cmd: string[]) => standinIn(E2E_IMAGE, ...cmd);
  const standinIn = (image: string, ...cmd: string[]) =>
    run(
      "docker",
      [
        "-H",
        `unix://${STATE}/hosts/h1/docker.sock`,
        "run",
        "--rm",
        "--network",
        "host",
        "--device",
        "/dev/kfd",
        "--device",
        "/dev/dri",
        "--entrypoint",
        "/usr/bin/env",
        image,
        ...cmd,
      ],
      { timeoutMs: 60_000 },
    );

  it("the main test image has no Ray at all, like official vLLM images from 0.18.0; the Ray image has it", async () => {
    const noRay = await standin("sh", "-c", "command -v ray; python3 -c 'import ray' 2>&1");
    expect(noRay.code).not.toBe(0);
    expect(noRay.stdout).toContain("No module named 'ray'");
    const withRay = await standinIn(E2E_RAY_IMAGE, "sh", "-c", "command -v ray && python3 -c 'import ray'");
    expect(withRay.code, withRay.output).toBe(0);
  });

  it("vllm serve rejects the native multi-node flags on a release without them, and --headless on its own", async () => {
    const old = await standinIn(E2E_RAY_IMAGE, "vllm", "serve", "org/model", "--nnodes", "2", "--node-rank", "0");
    expect(old.code).toBe(2);
    expect(old.stdout).toContain("unrecognized arguments: --nnodes 2 --node-rank 0");
    const headless = await standin("vllm", "serve", "org/model", "--headless");
    expect(headless.code).toBe(1);
    expect(headless.stdout).toContain("--headless needs --data-parallel-size > 1 or --nnodes > 1");
  });

  it("vllm serve rejects flags its release does not have, like argparse", async () => {
    const typo = await standin("vllm", "serve", "org/model", "--tensor-parallel-sise", "8");
    expect(typo.code).toBe(2);
    expect(typo.stderr + typo.stdout).toContain("unrecognized arguments: --tensor-parallel-sise 8");
    // --optimization-level exists in vLLM 0.12.0 only; the image is 0.11.1.
    const newer = await standin("vllm", "serve", "org/model", "--optimization-level", "3");
    expect(newer.code).toBe(2);
    expect(newer.stdout).toContain("unrecognized arguments: --optimization-level 3");
  });

  it("vllm serve on Ray refuses to serve while the cluster has fewer GPUs than TP x PP", async () => {
    const r = await standinIn(
      E2E_RAY_IMAGE,
      "VLLM_STANDIN_RAY_WAIT_SECONDS=3",
      "bash",
      "-c",
      "ray start --head --port=6399 --num-gpus=8 && vllm serve org/model -tp 8 -pp 2 --distributed-executor-backend ray",
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("waiting for the Ray cluster to provide 16 GPUs (have 8)");
    expect(r.stdout).toContain(
      "The number of required GPUs (16) exceeds the total number of available GPUs in the placement group (8)",
    );
  });
});

describe("rocm-vllm export on simulated hosts", () => {
  it("two-node TP8 x PP2 on Ray, over real ssh (agent, known_hosts), comes up, serves across hosts, and a second deploy keeps its containers running", async () => {
    const plan: Plan = await planOf("e2e-2node");
    const dir = await exportStack("e2e-2node", withKnownHosts("e2e-2node", KNOWN_HOSTS));
    const canary = `/tmp/rocm-vllm-e2e-injected-${process.pid}`;
    const token = `hf_e2e 'single' "double" $(touch ${canary}) \`touch ${canary}\`; touch ${canary} & |<>*?`;
    const secrets = { HF_TOKEN: token };

    const first = await runScriptOverSsh(dir, "deploy.sh", secrets, 150_000);
    expect(first.code, first.output).toBe(0);
    // Host keys checked against known_hosts before anything ran, through sshd on each host.
    expect(first.output).toContain("[gpu-a] rocm-vllm: gpu-a: connected to root@10.77.0.11:22; host key matches");
    expect(first.output).toContain("[gpu-b] rocm-vllm: gpu-b: connected to root@10.77.0.12:22; host key matches");
    expect(first.output).toContain("[gpu-a] rocm-vllm: gpu-a: running rocm-vllm-llama405b-weights");
    expect(first.output).toContain("[gpu-b] rocm-vllm: gpu-b: running rocm-vllm-llama405b-weights");
    expect(first.output).toContain("rocm-vllm: llama405b ready at http://10.77.0.11:8000");
    expect(first.output).toContain("rocm-vllm: smoke test of llama405b on port 8000 passed");
    // Phases in the Pulumi program's order: containers on every node, then the gates.
    expect(first.output.indexOf("gpu-b: 1 container(s) started")).toBeLessThan(first.output.indexOf("ready at"));

    // Served on the head's address, reached from the other host over the simulated network.
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8000/v1/models"))).toEqual(["llama-405b"]);

    // Every container is exactly the plan's, and sees the plan's devices.
    for (const node of plan.nodes) {
      for (const spec of node.containers) {
        await expectAsPlanned(simHost(plan, node.name), spec, first.output, secrets);
        const devices = await devicesInside(simHost(plan, node.name), spec.name);
        expect(devices).toEqual(expect.arrayContaining(["/dev/kfd", "renderD128", "renderD135", "uverbs0"]));
      }
    }

    // The head waited for the worker, then vLLM found 16 GPUs on two distinct node addresses (VLLM_HOST_IP each).
    const headLog = await docker("h1", "logs", "rocm-vllm-llama405b-ray-head");
    expect(headLog).toContain("rocm-vllm: Ray cluster complete: 2 nodes, 16 GPUs");
    expect(headLog).toContain(
      "Ray cluster at 10.77.0.11:6379: 2 nodes ['10.77.0.11', '10.77.0.12'], 16 GPUs (need 16)",
    );
    expect(headLog).toContain("VLLM_HOST_IP=10.77.0.11 is local");
    expect(headLog).toContain(`weights of meta-llama/Llama-3.1-405B-Instruct found in`);
    expect(await docker("h2", "logs", "rocm-vllm-llama405b-ray-worker")).toContain(
      "joined 10.77.0.11:6379 as 10.77.0.12 with 8 GPU",
    );

    // The token reached the weight jobs intact, through stdin only: never written, never run as shell.
    const digest = readFileSync(
      join(MODEL_CACHE, "hub/models--meta-llama--Llama-3.1-405B-Instruct/snapshots/main/.standin-token-sha256"),
      "utf8",
    );
    expect(digest).toBe(createHash("sha256").update(token).digest("hex"));
    // Only what vLLM loads was downloaded: top-level weights and config, not original/ or metal/.
    const snapshot = join(MODEL_CACHE, "hub/models--meta-llama--Llama-3.1-405B-Instruct/snapshots/main");
    expect(readdirSync(snapshot)).toEqual(expect.arrayContaining(["config.json", "model-00001-of-00002.safetensors"]));
    expect(readdirSync(snapshot)).not.toContain("original");
    expect(readdirSync(snapshot)).not.toContain("metal");
    expect(existsSync(canary)).toBe(false);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), "utf8")).not.toContain("hf_e2e");

    // Idempotent: a second deploy keeps the unchanged containers running (same IDs, same start time), skips the
    // finished jobs, and passes its gates against the running cluster.
    const ids = async () => [
      (await inspect("h1", "rocm-vllm-llama405b-ray-head")).Id,
      (await inspect("h2", "rocm-vllm-llama405b-ray-worker")).Id,
    ];
    const before = await ids();
    const second = await runScriptOverSsh(dir, "deploy.sh", secrets, 150_000);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain("rocm-vllm-llama405b-weights already ran for trigger");
    expect(second.output).toContain("gpu-a: rocm-vllm-llama405b-ray-head unchanged, keeps running");
    expect(second.output).toContain("gpu-b: 0 container(s) started, 1 unchanged");
    expect(second.output).not.toContain("removing");
    expect(await ids()).toEqual(before);
    expect(await containerNames("h1")).toEqual(["rocm-vllm-llama405b-ray-head"]);
    expect(await containerNames("h2")).toEqual(["rocm-vllm-llama405b-ray-worker"]);
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8000/v1/models"))).toEqual(["llama-405b"]);
  }, 360_000);

  it("single-node packed stack with an API key, over real ssh, serves on every port, behind its load balancer, and runs its benchmark", async () => {
    // rocm-vllm:apiKey set: every step that calls /v1 (readiness, smoke test, benchmark, supervisor) must send the
    // key, or the stand-in answers 401 as vLLM does and the deploy fails.
    const doc = parseDocument(readFileSync(withKnownHosts("e2e-packed", KNOWN_HOSTS), "utf8"));
    doc.setIn(["config", "rocm-vllm:apiKey"], { secure: "v1:e2e-ciphertext" });
    const file = stackVariant("e2e-packed", doc.toString());
    const plan = await planOf("e2e-packed", file);
    const dir = await exportStack("e2e-packed", file);
    const key = "sk-e2e-packed-key";
    const missing = await runScriptOverSsh(dir, "deploy.sh", {}, 60_000);
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain("VLLM_API_KEY must be set in the environment");
    const r = await runScriptOverSsh(dir, "deploy.sh", { VLLM_API_KEY: key }, 180_000);
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toContain(key);
    const bearer = ["-H", `Authorization: Bearer ${key}`];
    // Without the key /v1 is refused, directly and through the balancer; /health stays open.
    for (const url of ["http://10.77.0.11:8000/v1/models", "http://10.77.0.11:8080/v1/models"]) {
      const refused = await inHost("h2", ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5", url]);
      expect(refused.stdout).toBe("401");
    }
    expect((await inHost("h2", ["curl", "-fsS", "-m", "5", "http://10.77.0.11:8000/health"])).code).toBe(0);

    const node = plan.nodes[0];
    if (!node) throw new Error("packed stack has no node");
    expect(node.containers).toHaveLength(8);
    for (const [i, spec] of node.containers.entries()) {
      expect(spec.secretEnv).toContain("VLLM_API_KEY");
      await expectAsPlanned("h1", spec, r.output, { VLLM_API_KEY: key });
      expect(spec.env.CUDA_VISIBLE_DEVICES).toBe(String(i));
      expect(modelIds(await curlJson("h2", `http://10.77.0.11:${8000 + i}/v1/models`, bearer))).toEqual([
        "meta-llama/Llama-3.1-8B-Instruct",
      ]);
      expect(await docker("h1", "logs", spec.name)).toContain("1 GPUs visible in this container; TP=1");
    }
    for (const spec of node.services) await expectAsPlanned("h1", spec, r.output, { VLLM_API_KEY: key });

    // The balancer answers for the deployment, and the benchmark went through it to more than one replica.
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8080/v1/models", bearer))).toEqual([
      "meta-llama/Llama-3.1-8B-Instruct",
    ]);
    const result = r.output
      .split("\n")
      .filter((l) => l.startsWith("[gpu-a] {"))
      .map((l) => JSON.parse(l.slice("[gpu-a] ".length)) as { completed: number; output_throughput: number })
      .pop();
    expect(result?.completed).toBe(32);
    expect(result?.output_throughput).toBeGreaterThan(0);
    let servedBy = 0;
    for (let port = 8000; port < 8008; port++) {
      const metrics = await inHost("h1", ["curl", "-fsS", `http://127.0.0.1:${port}/metrics`]);
      const count = Number(/request_success_total\{[^}]*\} (\d+)/.exec(metrics.stdout)?.[1] ?? "0");
      if (count > 0) servedBy++;
    }
    expect(servedBy).toBeGreaterThan(1);
    expect(r.output).toContain("http://10.77.0.11:8080");
  }, 300_000);

  it("two-node data parallelism: the headless engine reaches the API server at the data-parallel address", async () => {
    const plan = await planOf("e2e-dp");
    const dir = await exportStack("e2e-dp");
    const r = await runScript(dir, "deploy.sh", {}, 180_000);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("rocm-vllm: dsr1 ready at http://10.77.0.11:8000");
    for (const node of plan.nodes) {
      for (const spec of node.containers) await expectAsPlanned(simHost(plan, node.name), spec, r.output, {});
    }
    const api = await docker("h1", "logs", "rocm-vllm-dsr1");
    expect(api).toContain("data-parallel front-end on 10.77.0.11:13345; local ranks [0, 1, 2, 3, 4, 5, 6, 7]");
    expect(api).toContain(
      "data-parallel ranks [8, 9, 10, 11, 12, 13, 14, 15] connected from 10.77.0.12 (VLLM_HOST_IP=10.77.0.12)",
    );
    expect(api).toContain("all 16 data-parallel ranks connected");
    expect(await docker("h2", "logs", "rocm-vllm-dsr1-dp1")).toContain(
      "headless engine ranks [8, 9, 10, 11, 12, 13, 14, 15] connected to 10.77.0.11:13345",
    );
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8000/v1/models"))).toEqual(["deepseek-r1"]);
  }, 240_000);

  it("external data-parallel load balancing: one server per rank on both hosts, all behind the balancer", async () => {
    const plan = await planOf("e2e-dp-external");
    const dir = await exportStack("e2e-dp-external");
    const r = await runScript(dir, "deploy.sh", {}, 180_000);
    expect(r.code, r.output).toBe(0);
    const instances = plan.deployments[0]?.instances ?? [];
    expect(instances.map((i) => `${i.node}:${i.port}`)).toEqual([
      "gpu-a:8100",
      "gpu-a:8101",
      "gpu-b:8102",
      "gpu-b:8103",
    ]);
    for (const i of instances) {
      const host = simHost(plan, i.node);
      expect(modelIds(await curlJson("h2", `${i.endpoint}/v1/models`))).toEqual(["Qwen/Qwen2-72B-Instruct"]);
      expect(await docker(host, "logs", i.container)).toContain("4 GPUs visible in this container; TP=4");
    }
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8180/v1/models"))).toEqual(["Qwen/Qwen2-72B-Instruct"]);
  }, 240_000);

  it("a Ray worker started before its head joins once the head appears, without restarting", async () => {
    const plan = await planOf("e2e-2node");
    const dir = await exportStack("e2e-2node");
    const secrets = { HF_TOKEN: "hf_e2e_worker_first" };

    const worker = await onNode("gpu-b", HOSTS.h2, nodeScriptInput(dir, "gpu-b", "up", secrets));
    expect(worker.code, worker.output).toBe(0);
    await waitFor(
      "the worker to retry an absent head",
      async () => {
        const log = (
          await run("docker", ["-H", `unix://${STATE}/hosts/h2/docker.sock`, "logs", "rocm-vllm-llama405b-ray-worker"])
        ).output;
        return log.includes("not reachable yet; retrying") ? log : undefined;
      },
      45_000,
    );
    const waiting = await inspect("h2", "rocm-vllm-llama405b-ray-worker");

    const head = await onNode("gpu-a", HOSTS.h1, nodeScriptInput(dir, "gpu-a", "up", secrets));
    expect(head.code, head.output).toBe(0);
    const check = plan.deployments[0]?.readiness[0];
    if (!check) throw new Error("no readiness check");
    const ready = await onNode(check.node, check.host, check.script, 150_000);
    expect(ready.code, ready.output).toBe(0);
    expect(ready.stdout).toContain("rocm-vllm: llama405b ready at http://10.77.0.11:8000");

    const joined = await inspect("h2", "rocm-vllm-llama405b-ray-worker");
    expect(joined.Id).toBe(waiting.Id);
    expect(joined.RestartCount).toBe(0);
    expect(joined.State.StartedAt).toBe(waiting.State.StartedAt);
    expect(await docker("h2", "logs", "rocm-vllm-llama405b-ray-worker")).toContain("joined 10.77.0.11:6379");
    expect(await docker("h1", "logs", "rocm-vllm-llama405b-ray-head")).toContain(
      "Ray cluster complete: 2 nodes, 16 GPUs",
    );
  }, 240_000);

  it("a Ray head whose worker never joins times out, and readiness fails naming the missing node", async () => {
    const plan = await planOf("e2e-2node-short");
    const dir = await exportStack("e2e-2node-short");
    const head = await onNode("gpu-a", HOSTS.h1, nodeScriptInput(dir, "gpu-a", "up", { HF_TOKEN: "hf_e2e_alone" }));
    expect(head.code, head.output).toBe(0);

    const check = plan.deployments[0]?.readiness[0];
    if (!check) throw new Error("no readiness check");
    expect(check.timeoutSeconds).toBe(30);
    const ready = await onNode(check.node, check.host, check.script, 90_000);
    expect(ready.code).toBe(1);
    expect(ready.stderr).toContain(
      "rocm-vllm: llama405b on gpu-a (container rocm-vllm-llama405b-ray-head) not ready after 30s",
    );
    expect(ready.stderr).toContain(
      "Ray cluster incomplete after 10s: 1/2 nodes, 8/16 GPUs; missing: gpu-b (10.77.0.12)",
    );
    expect(ready.ms).toBeLessThan(60_000);
  }, 120_000);

  it("two-node TP8 x PP2 natively, without Ray: node rank 0 serves once the headless rank joined; an unchanged redeploy keeps both", async () => {
    const plan: Plan = await planOf("e2e-native");
    expect(plan.deployments[0]?.kind).toBe("native-multi-node");
    const dir = await exportStack("e2e-native");
    const secrets = { HF_TOKEN: "hf_e2e_native" };
    const first = await runScript(dir, "deploy.sh", secrets, 150_000);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain("rocm-vllm: llama405b ready at http://10.77.0.11:8000");
    expect(first.output).toContain("rocm-vllm: smoke test of llama405b on port 8000 passed");
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8000/v1/models"))).toEqual(["llama-405b"]);
    for (const node of plan.nodes) {
      for (const spec of node.containers) await expectAsPlanned(simHost(plan, node.name), spec, first.output, secrets);
    }
    expect(await containerNames("h1")).toEqual(["rocm-vllm-llama405b"]);
    expect(await containerNames("h2")).toEqual(["rocm-vllm-llama405b-rank1"]);

    // Rank 0 waited for the other node at its own address, then served; the headless rank never serves HTTP.
    const rank0 = await docker("h1", "logs", "rocm-vllm-llama405b");
    expect(rank0).toContain("node rank 1 (ranks 8-15) joined from 10.77.0.12 (VLLM_HOST_IP=10.77.0.12, 8 GPUs)");
    expect(rank0).toContain("all 16 ranks of 2 nodes joined at 10.77.0.11:29501; this node holds ranks 0-7");
    expect(rank0.indexOf("all 16 ranks")).toBeLessThan(rank0.indexOf("Starting vLLM API server"));
    const rank1 = await docker("h2", "logs", "rocm-vllm-llama405b-rank1");
    expect(rank1).toContain(
      "Launching vLLM (v0.11.1) headless multiproc executor, with head node address 10.77.0.11:29501 for torch.distributed process group.",
    );
    expect(rank1).toContain("this node holds ranks 8-15");
    expect(rank1).not.toContain("Starting vLLM API server");
    // No Ray anywhere: not in the image, not in the containers' commands.
    const ray = await run("docker", [
      "-H",
      `unix://${STATE}/hosts/h1/docker.sock`,
      "exec",
      "rocm-vllm-llama405b",
      "sh",
      "-c",
      "command -v ray",
    ]);
    expect(ray.code).not.toBe(0);
    // The members' own commands (the supervisor around them knows Ray members, and has none to watch here).
    for (const n of plan.nodes) {
      for (const c of n.containers) expect(memberCommand(c.command).join(" ")).not.toContain("ray");
    }

    // A second deploy of the unchanged stack keeps both ranks running (same containers) and passes its gates again;
    // a change to either rank changes the group's generation label, so both would be replaced together.
    const before = [
      (await inspect("h1", "rocm-vllm-llama405b")).Id,
      (await inspect("h2", "rocm-vllm-llama405b-rank1")).Id,
    ];
    const second = await runScript(dir, "deploy.sh", secrets, 150_000);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain("gpu-b: 0 container(s) started, 1 unchanged");
    const after = [
      (await inspect("h1", "rocm-vllm-llama405b")).Id,
      (await inspect("h2", "rocm-vllm-llama405b-rank1")).Id,
    ];
    expect(after).toEqual(before);
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8000/v1/models"))).toEqual(["llama-405b"]);
  }, 360_000);

  it("a headless rank started before node rank 0 keeps retrying, and joins once rank 0 appears, without restarting", async () => {
    const plan = await planOf("e2e-native");
    const dir = await exportStack("e2e-native");
    const secrets = { HF_TOKEN: "hf_e2e_headless_first" };

    const headless = await onNode("gpu-b", HOSTS.h2, nodeScriptInput(dir, "gpu-b", "up", secrets));
    expect(headless.code, headless.output).toBe(0);
    await waitFor(
      "the headless rank to retry an absent node rank 0",
      async () => {
        const log = (
          await run("docker", ["-H", `unix://${STATE}/hosts/h2/docker.sock`, "logs", "rocm-vllm-llama405b-rank1"])
        ).output;
        return log.includes("The client socket has failed to connect to [10.77.0.11]:29501") ? log : undefined;
      },
      45_000,
    );
    const waiting = await inspect("h2", "rocm-vllm-llama405b-rank1");

    const rank0 = await onNode("gpu-a", HOSTS.h1, nodeScriptInput(dir, "gpu-a", "up", secrets));
    expect(rank0.code, rank0.output).toBe(0);
    const check = plan.deployments[0]?.readiness[0];
    if (!check) throw new Error("no readiness check");
    const ready = await onNode(check.node, check.host, check.script, 150_000);
    expect(ready.code, ready.output).toBe(0);
    expect(ready.stdout).toContain("rocm-vllm: llama405b ready at http://10.77.0.11:8000");

    const joined = await inspect("h2", "rocm-vllm-llama405b-rank1");
    expect(joined.Id).toBe(waiting.Id);
    expect(joined.RestartCount).toBe(0);
    expect(joined.State.StartedAt).toBe(waiting.State.StartedAt);
    expect(await docker("h2", "logs", "rocm-vllm-llama405b-rank1")).toContain("this node holds ranks 8-15");
  }, 240_000);

  it("node rank 0 alone times out naming the missing node rank, and readiness fails naming its node", async () => {
    const plan = await planOf("e2e-native-short");
    const dir = await exportStack("e2e-native-short");
    const rank0 = await onNode("gpu-a", HOSTS.h1, nodeScriptInput(dir, "gpu-a", "up", { HF_TOKEN: "hf_e2e_alone" }));
    expect(rank0.code, rank0.output).toBe(0);

    const check = plan.deployments[0]?.readiness[0];
    if (!check) throw new Error("no readiness check");
    expect(check.timeoutSeconds).toBe(30);
    const ready = await onNode(check.node, check.host, check.script, 90_000);
    expect(ready.code).toBe(1);
    expect(ready.stderr).toMatch(
      /rocm-vllm: llama405b on gpu-a \(container rocm-vllm-llama405b\) (not ready after 30s|crashed and restarted \d+ times)/,
    );
    expect(ready.stderr).toContain(
      "torch.distributed.DistStoreError: Timed out after 10 seconds waiting for clients. 8/16 clients joined.",
    );
    expect(ready.stderr).toContain(
      "missing node rank 1 (ranks 8-15): no vllm serve --node-rank 1 reached 10.77.0.11:29501",
    );
    expect(ready.stderr).toContain(
      "node rank 0 = gpu-a (10.77.0.11, container rocm-vllm-llama405b); node rank 1 = gpu-b (10.77.0.12, container rocm-vllm-llama405b-rank1)",
    );
    expect(ready.ms).toBeLessThan(60_000);
  }, 120_000);

  it("teardown.sh leaves no container behind, and a second teardown is a no-op", async () => {
    const dir = await exportStack("e2e-2node");
    const deployed = await runScript(dir, "deploy.sh", { HF_TOKEN: "hf_e2e_teardown" }, 150_000);
    expect(deployed.code, deployed.output).toBe(0);
    expect(await containerNames("h1")).toEqual(["rocm-vllm-llama405b-ray-head"]);
    // A container of the stack that is not in the plan any more (e.g. after scaling down) goes too.
    await docker(
      "h2",
      "run",
      "--detach",
      "--name",
      "rocm-vllm-llama405b-old",
      "--label",
      "rocm-vllm.managed=true",
      "--label",
      "rocm-vllm.deployment=llama405b",
      "--label",
      "rocm-vllm.stack=e2e-2node",
      E2E_IMAGE,
      "sleep",
      "600",
    );

    const down = await runScript(dir, "teardown.sh", {}, 120_000);
    expect(down.code, down.output).toBe(0);
    expect(down.output).toContain("[gpu-a] rocm-vllm: gpu-a: no container of stack e2e-2node left");
    expect(down.output).toContain("[gpu-b] rocm-vllm: gpu-b: no container of stack e2e-2node left");
    await expectNoContainers();
    // The job trigger stamps are gone too, so a new deploy downloads again, as after `pulumi destroy`.
    expect(existsSync(join(STATE, "hosts/h1/home/.local/state/rocm-vllm/e2e-2node/gpu-a"))).toBe(false);
    expect(existsSync(join(STATE, "hosts/h2/home/.local/state/rocm-vllm/e2e-2node/gpu-b"))).toBe(false);

    const again = await runScript(dir, "teardown.sh", {}, 60_000);
    expect(again.code, again.output).toBe(0);
    await expectNoContainers();
  }, 300_000);

  it("two stacks with the same deployment name on one host: deploy, teardown and down of one leave the other alone", async () => {
    const blue = await exportStack("e2e-blue");
    const green = await exportStack("e2e-green");
    const ids = async (names: string[]) => Promise.all(names.map(async (n) => (await inspect("h1", n)).Id));
    const blueNames = ["rocm-vllm-chat-0", "rocm-vllm-chat-1"];

    const blueUp = await runScript(blue, "deploy.sh", {}, 120_000);
    expect(blueUp.code, blueUp.output).toBe(0);
    const blueIds = await ids(blueNames);
    const greenUp = await runScript(green, "deploy.sh", {}, 120_000);
    expect(greenUp.code, greenUp.output).toBe(0);
    expect(greenUp.output).not.toContain("removing");
    expect(await containerNames("h1")).toEqual(["rocm-vllm-chat", ...blueNames]);
    expect(await ids(blueNames)).toEqual(blueIds);
    for (const [name, stack] of [
      ["rocm-vllm-chat", "e2e-green"],
      ["rocm-vllm-chat-0", "e2e-blue"],
    ]) {
      expect((await inspect("h1", name)).Config.Labels["rocm-vllm.stack"]).toBe(stack);
    }
    for (const port of [8000, 8001, 9000]) {
      expect(modelIds(await curlJson("h2", `http://10.77.0.11:${port}/v1/models`))).toEqual([
        "meta-llama/Llama-3.1-8B-Instruct",
      ]);
    }
    const greenId = (await ids(["rocm-vllm-chat"]))[0];

    // Blue again: nothing of blue changed, nothing of green is touched.
    const blueAgain = await runScript(blue, "deploy.sh", {}, 120_000);
    expect(blueAgain.code, blueAgain.output).toBe(0);
    expect(blueAgain.output).toContain("gpu-a: 0 container(s) started, 2 unchanged");
    expect(await ids(["rocm-vllm-chat", ...blueNames])).toEqual([greenId, ...blueIds]);

    // Green's teardown leaves blue running; so does green's node script run by hand.
    const greenDown = await runScript(green, "teardown.sh", {}, 60_000);
    expect(greenDown.code, greenDown.output).toBe(0);
    expect(greenDown.output).toContain("no container of stack e2e-green left");
    expect(await containerNames("h1")).toEqual(blueNames);
    expect(await ids(blueNames)).toEqual(blueIds);
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8001/v1/models"))).toEqual([
      "meta-llama/Llama-3.1-8B-Instruct",
    ]);
    const byHand = await onNode("gpu-a", HOSTS.h1, nodeScriptInput(green, "gpu-a", "down", {}));
    expect(byHand.code, byHand.output).toBe(0);
    expect(await ids(blueNames)).toEqual(blueIds);

    // Blue's teardown leaves green's container, even though green holds the deployment name chat too.
    expect((await runScript(green, "deploy.sh", {}, 120_000)).code).toBe(0);
    const blueDown = await runScript(blue, "teardown.sh", {}, 60_000);
    expect(blueDown.code, blueDown.output).toBe(0);
    expect(await containerNames("h1")).toEqual(["rocm-vllm-chat"]);
    expect((await inspect("h1", "rocm-vllm-chat")).State.Running).toBe(true);
    expect((await runScript(green, "teardown.sh", {}, 60_000)).code).toBe(0);
    await expectNoContainers();
  }, 420_000);

  it("a renamed deployment leaves no orphan: deploy removes the old containers before it starts the new ones", async () => {
    const text = readFileSync(stackFile("e2e-blue"), "utf8");
    const green = await exportStack("e2e-green");
    expect((await runScript(green, "deploy.sh", {}, 120_000)).code).toBe(0);
    const before = await exportStack("e2e-blue", stackVariant("e2e-blue", text));
    expect((await runScript(before, "deploy.sh", {}, 120_000)).code).toBe(0);
    expect(await containerNames("h1")).toEqual(["rocm-vllm-chat", "rocm-vllm-chat-0", "rocm-vllm-chat-1"]);

    // Renamed, and down to one replica on the same GPU and port 8000 the old replica 0 held.
    const renamed = text.replace("- name: chat", "- name: assistant").replace("replicas: 2", "replicas: 1");
    const after = await exportStack("e2e-blue", stackVariant("e2e-blue", renamed));
    const r = await runScript(after, "deploy.sh", {}, 120_000);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("gpu-a: removing rocm-vllm-chat-0 rocm-vllm-chat-1");
    expect(r.output.indexOf("removing rocm-vllm-chat-0")).toBeLessThan(
      r.output.indexOf("starting rocm-vllm-assistant"),
    );
    // Green's chat, same deployment name as the old blue one, stays.
    expect(await containerNames("h1")).toEqual(["rocm-vllm-assistant", "rocm-vllm-chat"]);
    expect(modelIds(await curlJson("h2", "http://10.77.0.11:8000/v1/models"))).toEqual([
      "meta-llama/Llama-3.1-8B-Instruct",
    ]);

    const down = await runScript(after, "teardown.sh", {}, 60_000);
    expect(down.code, down.output).toBe(0);
    expect(await containerNames("h1")).toEqual(["rocm-vllm-chat"]);
    expect((await runScript(green, "teardown.sh", {}, 60_000)).code).toBe(0);
    await expectNoContainers();
  }, 360_000);

  it("a node whose host key changed is refused, named with the fix, before anything runs on any node", async () => {
    const dir = await exportStack("e2e-2node", withKnownHosts("e2e-2node", WRONG_KNOWN_HOSTS));
    const r = await runScriptOverSsh(dir, "deploy.sh", { HF_TOKEN: "hf_e2e_wrong_key" }, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("[gpu-a] rocm-vllm: gpu-a: connected to root@10.77.0.11:22");
    expect(r.output).toContain(
      `[gpu-b] rocm-vllm: gpu-b (root@10.77.0.12:22): its SSH host key CHANGED since it was recorded in ${WRONG_KNOWN_HOSTS}; nothing was sent to it.`,
    );
    expect(r.output).toContain("ssh-keygen -R '10.77.0.12'");
    expect(r.output).toContain("rocm-vllm: failed: gpu-b");
    // Nothing ran anywhere: no preflight, no container, no job stamp, and the token reached no node.
    expect(r.output).not.toContain("rocm-vllm preflight");
    await expectNoContainers();
    expect(existsSync(join(STATE, "hosts/h2/home/.local"))).toBe(false);
  }, 90_000);

  it("a step stops on the node at its limit with progress lines and the last lines, and when its ssh session ends", async () => {
    const planned = (await planOf("e2e-2node")).nodes[0];
    if (!planned) throw new Error("no node");
    const node = { ...planned, ssh: { ...planned.ssh, knownHostsFile: KNOWN_HOSTS } };
    const viaSsh = (script: string, timeoutMs: number) =>
      onClient([...sshArgv(node), "sh -s"], { input: script, timeoutMs });
    const job = (name: string, limit: number) =>
      remoteStep({
        node: node.name,
        phase: `test job ${name}`,
        timeoutSeconds: limit,
        body: `echo started ${name}\nexec docker run --rm --name ${name} --entrypoint /usr/bin/env ${E2E_IMAGE} sleep 600\n`,
        cleanup: `docker rm --force ${name} >/dev/null 2>&1 || true`,
      });

    // Limit: 34 s, silent after its first line: one progress line at 30 s, then stopped, its container removed.
    const limited = await viaSsh(job("rocm-vllm-e2e-limited", 34), 90_000);
    expect(limited.code).toBe(TIMEOUT_EXIT);
    expect(limited.stdout).toContain("rocm-vllm: gpu-a: test job rocm-vllm-e2e-limited: still running after 3");
    expect(limited.stderr).toContain(
      "rocm-vllm: gpu-a: test job rocm-vllm-e2e-limited: timed out after 34s on the node; stopped; last lines:\n  started rocm-vllm-e2e-limited",
    );
    expect(await containerNames("h1")).toEqual([]);

    // Interrupted: the local ssh is killed (as when `pulumi up` is stopped); the node stops the step by itself.
    const interrupted = viaSsh(job("rocm-vllm-e2e-orphan", 600), 8_000);
    const killed = await interrupted;
    expect(killed.output).toContain("killed after 8000 ms");
    await waitFor(
      "the node to stop the step after its session ended",
      async () => ((await containerNames("h1")).length === 0 ? true : undefined),
      30_000,
    );
    const left = await inHost("h1", ["pgrep", "-f", "rocm-vllm-step"]);
    expect(left.stdout.trim()).toBe("");
    expect(SESSION_LOST_EXIT).toBeGreaterThan(128);
  }, 150_000);

  it("the Pulumi program's own steps (host-key check, readiness, smoke test) reach the hosts through real ssh", async () => {
    const stack = withKnownHosts("e2e-2node", KNOWN_HOSTS);
    const dir = await exportStack("e2e-2node", stack);
    const deployed = await runScriptOverSsh(dir, "deploy.sh", { HF_TOKEN: "hf_e2e_program" }, 150_000);
    expect(deployed.code, deployed.output).toBe(0);
    const program = await runProgram(readStackFile(stack));
    const steps = program.resources.filter(
      (r) => r.type === NODE_COMMAND && /-(ssh-check|r0-ready|r0-smoke)$/.test(r.name),
    );
    expect(steps.map((s) => s.name.replace(/^rocm-vllm-/, "")).sort()).toEqual([
      "gpu-a-ssh-check",
      "gpu-b-ssh-check",
      "llama405b-r0-ready",
      "llama405b-r0-smoke",
    ]);
    const outputs: string[] = [];
    for (const step of steps) {
      // Exactly what pulumi-command's local provider does: /bin/sh -c <create>, the stdin input on stdin.
      // The host-key check runs locally (its script is the command); every other step goes to the node on stdin.
      if (!step.name.endsWith("-ssh-check")) expect(commandStep(step)).toContain("rocm-vllm step on");
      const r = await onClient(["/bin/sh", "-c", String(step.inputs.create)], {
        input: String(step.inputs.stdin ?? ""),
        timeoutMs: 120_000,
      });
      expect(r.code, `${step.name}: ${r.output}`).toBe(0);
      outputs.push(r.output);
    }
    const all = outputs.join("\n");
    expect(all).toContain("rocm-vllm: gpu-b: connected to root@10.77.0.12:22");
    expect(all).toContain("rocm-vllm: llama405b ready at http://10.77.0.11:8000");
    expect(all).toContain("rocm-vllm: smoke test of llama405b on port 8000 passed");
  }, 300_000);

  it("preflight stops the deployment on hosts without the amdgpu driver, before anything is pulled or started", async () => {
    const dir = await exportStack("e2e-preflight");
    const r = await runScript(dir, "deploy.sh", {}, 60_000);
    expect(r.code).not.toBe(0);
    for (const node of ["gpu-a", "gpu-b"]) {
      expect(r.output).toContain(`[${node}] rocm-vllm preflight ${node}: FAIL: amdgpu kernel module not loaded`);
      expect(r.output).toContain(`[${node}] rocm-vllm preflight ${node}: ok: /dev/kfd present`);
      expect(r.output).toContain(`[${node}] rocm-vllm preflight ${node}: ok: 8 GPU render nodes`);
    }
    expect(r.output).toContain("rocm-vllm: failed: gpu-a gpu-b");
    expect(r.output).not.toContain("starting containers");
    await expectNoContainers();
  }, 90_000);
});
