/**
 * Operations end to end, with the exported scripts on real Docker Engines (see globalSetup.ts): rolling updates with
 * zero failed requests, self-healing multi-node groups with a bounded recovery and a restart cap, warm restarts from
 * the compile caches, and a balancer that routes around a dead replica and pins sessions.
 *
 * How the stand-ins (test/e2e/standins) fail, and the real behaviour each stands for:
 * - A Ray worker's raylet exits when its head's GCS has been unreachable for 10 s, or when a (restarted) GCS does not
 *   know it: Ray's raylet exits after `gcs_rpc_server_reconnect_timeout_s`, and is told it is dead by a new GCS.
 * - The head marks a node that stopped sending heartbeats dead after 6 s (Ray's health checks), and vLLM's engine on
 *   Ray dies when a node it placed workers on is dead ("RayWorkerProc … died unexpectedly", eugr/spark-vllm-docker#257
 *   shows the same chain on real hardware): a lost worker breaks the head's engine.
 * - An engine that died makes the API server exit with status 0 (vllm-project/vllm#48966), or with
 *   VLLM_STANDIN_ENGINE_DEATH=hang keeps /health answering while generations hang (vllm-project/vllm#39863).
 * - Without `--shutdown-timeout` (the test image is vLLM 0.11.1) SIGTERM aborts in-flight requests, as vLLM's default
 *   of 0 does (vllm#36666): a rolling update that stopped a replica with requests in flight would fail them.
 * - Native multi-node ranks (rocm_vllm_standin/rendezvous.py) hold a connection to node rank 0's store; when one ends
 *   every other process of the engine exits, as vLLM's do when a collective across nodes breaks.
 * - A container is crashed with SIGKILL to its init process from the host (an OOM kill, a crash): `docker kill` is a
 *   manual stop that Docker's restart policy ignores (moby/moby#21359).
 * - A restart finds what an earlier start of the same model compiled under VLLM_CACHE_ROOT / TRITON_CACHE_DIR and
 *   skips compiling ("compile cache hit"), as torch.compile's and Triton's caches do.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { Plan } from "../../planner/types";
import {
  COMPILE_CACHE,
  containerLog,
  docker,
  E2E,
  exportEditedStack,
  exportStack,
  HOSTS,
  type HostName,
  inHost,
  inspect,
  onNode,
  planOf,
  removeExports,
  resetHosts,
  run,
  runScript,
  SIM_HOSTS,
  STATE,
  waitFor,
} from "./support";

const CLIENT = join(E2E, "client.py");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ClientRequest {
  id: string;
  start: number;
  end: number;
  status: number | null;
  ok: boolean;
  server?: string;
  error?: string;
}
interface ClientResult {
  requests: ClientRequest[];
  samples: { t: number; up: string[] }[];
}

interface ClientOptions {
  url: string;
  model: string;
  concurrency: number;
  /** Stop after this long, or once `stopFile` exists. */
  seconds?: number;
  stopFile?: string;
  /** Request ids are `<prefix>-<n>`. */
  prefix?: string;
  headers?: string[];
  /** Instances the monitor asks directly every 0.2 s. */
  watch?: string[];
}

/** Runs test/e2e/client.py in a simulated host's network namespace; resolves with what it recorded. */
async function client(from: HostName, o: ClientOptions): Promise<ClientResult> {
  const args = [
    ...["--url", o.url, "--model", o.model, "--concurrency", String(o.concurrency)],
    ...(o.seconds !== undefined ? ["--seconds", String(o.seconds)] : []),
    ...(o.stopFile ? ["--stop-file", o.stopFile] : []),
    ...(o.prefix ? ["--prefix", o.prefix] : []),
    ...(o.headers ?? []).flatMap((h) => ["--header", h]),
    ...(o.watch ?? []).flatMap((u) => ["--watch", u]),
  ];
  const r = await run("ip", ["netns", "exec", `rvx-${from}`, "python3", CLIENT, ...args], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`client failed: ${r.output}`);
  return JSON.parse(r.stdout) as ClientResult;
}

/** One completion through `url`, from `from`'s network namespace. */
async function completes(from: HostName, url: string, model: string): Promise<boolean> {
  const body = JSON.stringify({ model, prompt: "ping", max_tokens: 1 });
  const r = await inHost(from, [
    "curl",
    "-fsS",
    "-m",
    "5",
    "-H",
    "Content-Type: application/json",
    "-d",
    body,
    `${url}/v1/completions`,
  ]);
  return r.code === 0 && r.stdout.includes('"choices"');
}

/**
 * Crashes a container the way an out-of-memory kill or a crash of its process tree does: SIGKILL to its init process,
 * from the host. (`docker kill` would not do: Docker counts it as a manual stop and does not apply the restart policy,
 * moby/moby#21359.)
 */
async function crash(host: HostName, container: string): Promise<void> {
  const pid = (await docker(host, "inspect", "-f", "{{.State.Pid}}", container)).trim();
  expect(Number(pid)).toBeGreaterThan(1);
  const r = await run("kill", ["-KILL", pid]);
  expect(r.code, r.output).toBe(0);
}

/** The member supervisor's state file of a container, as key → value. */
async function memberState(host: HostName, container: string): Promise<Record<string, string>> {
  const r = await run("docker", [
    "-H",
    `unix://${STATE}/hosts/${host}/docker.sock`,
    "exec",
    container,
    "cat",
    "/var/lib/rocm-vllm/member.status",
  ]);
  if (r.code !== 0) return {};
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

beforeEach(async () => {
  expect(await resetHosts()).toEqual([]);
});

afterAll(removeExports);

describe("rolling updates on fixed GPUs", () => {
  it("a serve-argument change rolls replica by replica: 0 failed requests, at least N−1 replicas serving at every moment", async () => {
    const plan: Plan = await planOf("e2e-rolling");
    const d = plan.deployments[0];
    if (!d) throw new Error("no deployment");
    expect(d.rollout.strategy).toBe("rolling");
    expect(d.rollout.waves.map((w) => w.replicas)).toEqual([[0], [1], [2]]);
    const dir = await exportStack("e2e-rolling");
    const first = await runScript(dir, "deploy.sh", {}, 240_000);
    expect(first.code, first.output).toBe(0);

    const changed = await exportEditedStack("e2e-rolling", (t) => t.replace("maxNumSeqs: 64", "maxNumSeqs: 128"));
    const replicas = d.instances.map((i) => i.endpoint ?? "");
    const before = await Promise.all(d.instances.map(async (i) => (await inspect("h1", i.container)).Id));
    const stop = join(STATE, `stop-rolling-${process.pid}`);
    rmSync(stop, { force: true });
    // Clients reach the balancer from the other host; the monitor asks each replica directly.
    const load = client("h1", {
      url: d.endpoints[0] ?? "",
      model: d.servedModelName,
      concurrency: 4,
      stopFile: stop,
      prefix: "roll",
      watch: replicas,
    });
    await sleep(3000);
    const second = await runScript(changed, "deploy.sh", {}, 300_000);
    await sleep(2000);
    writeFileSync(stop, "");
    const result = await load;
    rmSync(stop, { force: true });
    expect(second.code, second.output).toBe(0);

    // Replica by replica, in wave order, each out of the balancer before it was replaced.
    const at = (s: string) => second.output.indexOf(s);
    for (const [w, wave] of d.rollout.waves.entries()) {
      const what = `llama8b: wave ${w + 1}/3 (replica ${wave.replicas[0]})`;
      expect(at(`${what}: replacing`), second.output).toBeGreaterThan(-1);
      expect(at(`${what} taken out of the balancer`)).toBeGreaterThan(at(`${what}: replacing`));
      expect(at(`${what} back in the balancer`)).toBeGreaterThan(at(`${what} taken out of the balancer`));
      if (w > 0) expect(at(`${what}: replacing`)).toBeGreaterThan(at(`wave ${w}/3`));
    }
    // Every replica was replaced and runs the new arguments.
    for (const [k, i] of d.instances.entries()) {
      const now = await inspect("h1", i.container);
      expect(now.Id).not.toBe(before[k]);
      const argv = memberCommand(now.Config.Cmd ?? []);
      expect(argv[argv.indexOf("--max-num-seqs") + 1]).toBe("128");
    }

    // Zero failed requests through the balancer for the whole update.
    const failed = result.requests.filter((r) => !r.ok);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(result.requests.length).toBeGreaterThan(100);
    // At every sampled moment at least N−1 of the N replicas answered; each of them was down at some moment.
    expect(result.samples.length).toBeGreaterThan(50);
    const fewest = Math.min(...result.samples.map((s) => s.up.length));
    expect(fewest).toBe(replicas.length - 1);
    for (const r of replicas)
      expect(
        result.samples.some((s) => !s.up.includes(r)),
        `${r} was replaced`,
      ).toBe(true);
    // And the balancer kept spreading the load over the replicas that served.
    expect(new Set(result.requests.map((r) => r.server)).size).toBe(replicas.length);
  }, 600_000);
});

describe("self-healing multi-node groups", () => {
  /**
   * Recovery bound: a lost member is noticed within 8 s (a silent Ray node is dead after 6 s; the membership monitor
   * and the engine poll every 1-2 s), the head backs off 2 s (healing.backoffSeconds), a worker rejoins within 10 s
   * (it retries every 5 s; a raylet of a dead head exits within 10 s), the model loads in 1 s and finds its compile
   * cache, and the readiness probe runs every 2 s: about 25 s; the bound leaves room for a busy CI machine.
   */
  const BOUND_MS = 60_000;

  it("a killed worker, a killed head and a restarted dockerd each re-form the whole group and serve again within 60 s; a member that cannot come back ends failed after 2 restarts", async () => {
    const plan: Plan = await planOf("e2e-heal");
    const d = plan.deployments[0];
    if (!d) throw new Error("no deployment");
    const head = "rocm-vllm-llama405b-ray-head";
    const worker = "rocm-vllm-llama405b-ray-worker";
    const url = d.endpoints[0] ?? "";
    const dir = await exportStack("e2e-heal");
    const deployed = await runScript(dir, "deploy.sh", { HF_TOKEN: "hf_e2e_heal" }, 240_000);
    expect(deployed.code, deployed.output).toBe(0);
    expect(await completes("h2", url, d.servedModelName)).toBe(true);
    const generation = (await inspect("h1", head)).Config.Labels["rocm-vllm.generation"];
    const formed = async () =>
      (await containerLog("h1", head)).split("Ray cluster complete: 2 nodes, 16 GPUs").length - 1;

    /** Breaks the group, then waits until it stops serving and serves again by itself; returns the recovery time. */
    async function heals(what: string, inject: () => Promise<void>): Promise<number> {
      // Serving stably resets the failure counts (healing.stableSeconds 10), so each case starts from zero.
      await waitFor(
        `${what}: members stable`,
        async () => {
          const [h, w] = [await memberState("h1", head), await memberState("h2", worker)];
          return h.state === "serving" && h.failures === "0" && w.state === "serving" && w.failures === "0"
            ? true
            : undefined;
        },
        60_000,
      );
      const before = await formed();
      const t0 = Date.now();
      await inject();
      await waitFor(
        `${what}: the group breaks`,
        async () => ((await completes("h2", url, d.servedModelName)) ? undefined : true),
        30_000,
      );
      try {
        await waitFor(
          `${what}: it serves again`,
          async () => ((await completes("h2", url, d.servedModelName)) ? true : undefined),
          BOUND_MS,
        );
      } catch (e) {
        const tail = async (h: HostName, c: string) => (await containerLog(h, c)).split("\n").slice(-40).join("\n");
        throw new Error(`${e}\n--- ${head}:\n${await tail("h1", head)}\n--- ${worker}:\n${await tail("h2", worker)}`);
      }
      const ms = Date.now() - t0;
      // Re-formed as a whole: a new Ray cluster of both nodes, of the same generation (never half-old).
      expect(await formed(), `${what}: re-formed`).toBeGreaterThan(before);
      expect((await inspect("h1", head)).Config.Labels["rocm-vllm.generation"]).toBe(generation);
      expect((await inspect("h2", worker)).Config.Labels["rocm-vllm.generation"]).toBe(generation);
      return ms;
    }

    // 1. A worker container dies: Docker restarts it, but the head's engine had workers on that node and dies too;
    //    the head's supervisor restarts it, and the worker joins the new head.
    const worker1 = await heals("killed worker", () => crash("h2", worker));
    expect(worker1).toBeLessThan(BOUND_MS);
    const headLog = await containerLog("h1", head);
    expect(headLog).toMatch(
      /RayWorkerProc on node 10\.77\.0\.12 died unexpectedly|left the cluster the engine was formed on/,
    );
    expect(headLog).toContain("FAILURE 1:");
    expect(await containerLog("h2", worker)).toContain("FAILURE 1: the container ended while serving without stopping");

    // 2. The head container dies: the workers' raylets lose their GCS and exit; the restarted head forms a new
    //    cluster and the worker rejoins it.
    const head2 = await heals("killed head", () => crash("h1", head));
    expect(head2).toBeLessThan(BOUND_MS);
    expect(await containerLog("h2", worker)).toContain("rocm-vllm: the Ray head went away; rejoining");

    // 3. The worker host's Docker daemon restarts: it stops the worker (a clean stop, not a failure of the worker)
    //    and starts it again; the head's engine lost that node meanwhile, and the group re-forms.
    const daemon3 = await heals("restarted dockerd on h2", async () => {
      const r = await run(SIM_HOSTS, ["restart-daemon", "h2"], { timeoutMs: 150_000 });
      expect(r.code, r.output).toBe(0);
    });
    expect(daemon3).toBeLessThan(BOUND_MS);
    process.stderr.write(
      `[e2e heal] served again after: killed worker ${worker1} ms, killed head ${head2} ms, restarted dockerd ${daemon3} ms\n`,
    );
    expect(await containerLog("h2", worker)).toContain("state stopped: stopped by a signal");

    // 4. A member that cannot come back: the worker is stopped for good. The head fails, backs off 2 s then 4 s,
    //    waits 10 s for the worker each time, and after 2 restarts stays failed: no loop, no GPU held.
    await docker("h2", "stop", worker);
    const failed = await waitFor(
      "the head to give up",
      async () => {
        const s = await memberState("h1", head);
        return s.state === "failed" ? s : undefined;
      },
      120_000,
    );
    expect(failed.reason).toContain("gave up after 2 restarts without serving 10 s in between");
    expect(failed.reason).toMatch(/last failure: .*(Ray cluster|exited with status 1)/);
    const restarts = (await inspect("h1", head)).RestartCount;
    await sleep(10_000);
    expect((await inspect("h1", head)).RestartCount).toBe(restarts);
    expect((await inspect("h1", head)).State.Running).toBe(true);
    expect(await containerLog("h1", head)).toContain("FAILED: gave up after 2 restarts");
    // The readiness gate says so at once, and what is left; the node script's status shows it.
    const check = d.readiness[0];
    if (!check) throw new Error("no readiness check");
    const ready = await onNode(check.node, check.host, check.script, 60_000);
    expect(ready.code).toBe(1);
    expect(ready.ms).toBeLessThan(30_000);
    expect(ready.stderr).toContain("gave up; member: failed");
    expect(ready.stderr).toContain(`rocm-vllm: left on gpu-a: ${head}`);
    const status = await onNode("gpu-a", HOSTS.h1, `set -- status\n${readFileSync(join(dir, "gpu-a.sh"), "utf8")}`);
    expect(status.stdout).toMatch(new RegExp(`${head}: running restarts=${restarts}.* state=failed`));
  }, 900_000);
});

describe("self-healing native multi-node groups", () => {
  /**
   * The same group behaviour on vLLM's native multi-node mode (no Ray): the stand-in ranks hold a connection to node
   * rank 0's store, and when one ends every other process of the engine exits (collectives across nodes break), as
   * vLLM's do. Bound: the crash is seen at once (the connection closes), back-off 2 s, the restarted rank retries
   * the store until rank 0 is back, the model loads in 1 s: well within 60 s.
   */
  it("a crashed headless rank and a crashed node rank 0 each re-form the whole native group and serve again within 60 s", async () => {
    const healing =
      "      healing: { maxRestarts: 2, backoffSeconds: 2, stableSeconds: 10, probeSeconds: 3, probeFailures: 2 }";
    const dir = await exportEditedStack("e2e-native", (t) =>
      t.replace("      timeouts: { readySeconds: 120 }", `      timeouts: { readySeconds: 120 }\n${healing}`),
    );
    const deployed = await runScript(dir, "deploy.sh", { HF_TOKEN: "hf_e2e_native_heal" }, 240_000);
    expect(deployed.code, deployed.output).toBe(0);
    const url = "http://10.77.0.11:8000";
    const [rank0, rank1] = ["rocm-vllm-llama405b", "rocm-vllm-llama405b-rank1"];
    const joined = async () => (await containerLog("h1", rank0)).split("all 16 ranks of 2 nodes joined").length - 1;
    const times: number[] = [];
    for (const [host, victim] of [
      ["h2", rank1],
      ["h1", rank0],
    ] as const) {
      await waitFor(
        `${victim}: both ranks stable`,
        async () => {
          const [a, b] = [await memberState("h1", rank0), await memberState("h2", rank1)];
          return a.state === "serving" && a.failures === "0" && b.state === "serving" && b.failures === "0"
            ? true
            : undefined;
        },
        60_000,
      );
      const before = await joined();
      const t0 = Date.now();
      await crash(host, victim);
      await waitFor(
        `${victim}: the group breaks`,
        async () => ((await completes("h2", url, "llama-405b")) ? undefined : true),
        30_000,
      );
      await waitFor(
        `${victim}: it serves again`,
        async () => ((await completes("h2", url, "llama-405b")) ? true : undefined),
        60_000,
      );
      times.push(Date.now() - t0);
      // Re-formed as a whole: rank 0 held a new rendezvous with both nodes.
      expect(await joined()).toBeGreaterThan(before);
    }
    // The survivor failed with its group each time, and said why.
    expect(await containerLog("h1", rank0)).toContain("node rank 1 left the engine");
    expect(await containerLog("h2", rank1)).toContain("node rank 0 left the engine");
    process.stderr.write(
      `[e2e heal] native group served again after: crashed headless rank ${times[0]} ms, crashed rank 0 ${times[1]} ms\n`,
    );
  }, 600_000);
});

describe("the balancer and warm restarts", () => {
  it("routes around a killed replica (only requests that reached it fail), retries refused connections elsewhere, pins sessions, and a second start finds the compile cache", async () => {
    const plan: Plan = await planOf("e2e-balancer");
    const d = plan.deployments[0];
    if (!d) throw new Error("no deployment");
    const through = { url: d.endpoints[0] ?? "", model: d.servedModelName };
    const dir = await exportStack("e2e-balancer");
    const deployed = await runScript(dir, "deploy.sh", {}, 300_000);
    expect(deployed.code, deployed.output).toBe(0);

    // Warm restarts, first start: every replica compiled into its own directory, keyed by the image it runs.
    const key = (await inspect("h1", d.instances[0]?.container ?? "")).Image.replace(/^sha256:/, "").slice(0, 12);
    for (const i of d.instances) {
      expect(await docker("h1", "logs", i.container)).toContain("compile cache miss");
      const root = join(COMPILE_CACHE, i.container, key, "vllm");
      expect(readFileSync(join(root, "standin-compile.log"), "utf8")).toMatch(/^miss /);
      expect(readdirSync(join(root, "torch_compile_cache"))).toHaveLength(1);
      expect(existsSync(join(COMPILE_CACHE, i.container, key, "triton"))).toBe(true);
    }

    // Session affinity: one value of X-Session-Id, one replica; without the header, least connections spreads.
    for (const session of ["alpha", "beta"]) {
      const r = await client("h2", { ...through, concurrency: 1, seconds: 3, headers: [`X-Session-Id: ${session}`] });
      expect(r.requests.length).toBeGreaterThan(5);
      expect(r.requests.every((q) => q.ok)).toBe(true);
      expect(new Set(r.requests.map((q) => q.server)).size, `session ${session}`).toBe(1);
    }
    const spread = await client("h2", { ...through, concurrency: 3, seconds: 3 });
    expect(new Set(spread.requests.map((q) => q.server)).size).toBe(3);

    // A replica killed under load: the only failed requests are ones the balancer had sent to it before it died.
    const victim = d.instances[1];
    if (!victim) throw new Error("no replica 1");
    const victimAddress = `10.77.0.11:${victim.port}`;
    const load = client("h2", { ...through, concurrency: 4, seconds: 8, prefix: "kill" });
    await sleep(3000);
    await docker("h1", "kill", victim.container);
    const killedAt = Date.now() / 1000;
    const underLoad = await load;
    const lbLog = await docker("h1", "logs", "rocm-vllm-llama8b-lb");
    const lines = new Map(
      lbLog
        .split("\n")
        .map((l) => [/request_id=(kill-\d+)/.exec(l)?.[1], l] as const)
        .filter((e): e is [string, string] => e[0] !== undefined),
    );
    const failures = underLoad.requests.filter((q) => !q.ok);
    expect(failures.length).toBeLessThanOrEqual(4);
    for (const f of failures) {
      const line = lines.get(f.id) ?? "";
      const upstreams = /upstream=([^ ]+(?:, [^ ]+)*) /.exec(line)?.[1]?.split(", ") ?? [];
      const connects = /upstream_connect=(.*)$/.exec(line)?.[1]?.split(", ") ?? [];
      // Sent to the killed replica: its connection had been established (a connect time, not "-").
      expect(upstreams.at(-1), line).toBe(victimAddress);
      expect(connects.at(-1), line).toMatch(/^\d/);
    }
    expect(underLoad.requests.filter((q) => q.ok && q.start > killedAt).length).toBeGreaterThan(5);

    // A replica that refuses connections: requests that never reached it are answered by another one.
    const stopped = d.instances[2];
    if (!stopped) throw new Error("no replica 2");
    await docker("h1", "stop", stopped.container);
    const refused = await client("h2", { ...through, concurrency: 1, seconds: 3, prefix: "refused" });
    expect(refused.requests.every((q) => q.ok)).toBe(true);
    const retried = (await docker("h1", "logs", "rocm-vllm-llama8b-lb"))
      .split("\n")
      .filter((l) => /request_id=refused-\d+ /.test(l) && l.includes(` 200 `));
    expect(
      retried.some((l) => l.includes(`upstream=10.77.0.11:${stopped.port}, `) && /upstream_connect=-, \d/.test(l)),
    ).toBe(true);

    // Warm restart: the containers are removed and created again; each finds what the first start compiled.
    const down = await runScript(dir, "teardown.sh", {}, 120_000);
    expect(down.code, down.output).toBe(0);
    const again = await runScript(dir, "deploy.sh", {}, 300_000);
    expect(again.code, again.output).toBe(0);
    for (const i of d.instances) {
      const log = await docker("h1", "logs", i.container);
      expect(log).toContain("compile cache hit");
      expect(log).not.toContain("compile cache miss");
      // A miss at the first start, hits since (the killed replica also hit when Docker restarted it).
      const record = readFileSync(join(COMPILE_CACHE, i.container, key, "vllm", "standin-compile.log"), "utf8");
      const [firstStart, ...later] = record
        .trim()
        .split("\n")
        .map((l) => l.split(" ")[0]);
      expect(firstStart).toBe("miss");
      expect(later.length).toBeGreaterThan(0);
      expect(later.every((x) => x === "hit")).toBe(true);
    }
  }, 900_000);
});
