/**
 * The shell the plan carries (Ray head/worker, readiness) passes shellcheck, and quoting survives hostile values.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { shellJoin, shellQuote, shellQuoteAlways } from "../../planner/scripts/shellQuote";
import { memberCommand } from "../../planner/scripts/supervisor";
import { planOk, rawCluster, rawDeployment, rayCluster } from "../support/stackConfigs";

function shellcheck(script: string, shell: "sh" | "bash"): string {
  const file = join(mkdtempSync(join(tmpdir(), "rv-sc-")), "script.sh");
  writeFileSync(file, script);
  const r = spawnSync("shellcheck", ["-s", shell, "-S", "style", file], { encoding: "utf8" });
  if (r.error) throw r.error;
  return r.stdout;
}

describe("launch scripts", () => {
  const plan = planOk(
    rayCluster({
      nodes: [
        { name: "node-a", host: "10.0.0.11" },
        { name: "node-b", host: "10.0.0.12" },
      ],
    }),
    [
      rawDeployment({
        model: "meta-llama/Llama-3.1-405B-Instruct",
        parallelism: { tensor: 8, pipeline: 2 },
        maxModelLen: 8192,
      }),
    ],
  );
  const head = memberCommand(plan.nodes[0].containers[0].command);
  const worker = memberCommand(plan.nodes[1].containers[0].command);
  it("Ray head: starts Ray, waits for the worker of its generation by address, then execs vllm serve; shellcheck-clean", () => {
    expect(head.slice(0, 2)).toEqual(["bash", "-c"]);
    const script = head[2];
    expect(script).toContain('ray start --head --node-ip-address="$VLLM_HOST_IP" --port=6379 --num-gpus=8');
    expect(script).toContain('--resources="{\\"rocm_vllm_gen_${ROCM_VLLM_GENERATION:-none}\\": 1}"');
    expect(script).toContain(`'{"10.0.0.12":"node-b"}' 2 16 900 /var/lib/rocm-vllm/ray-formed`);
    expect(script).toContain("if not missing and not others and len(mine) >= want_nodes");
    expect(script.trim().split("\n").pop()).toBe(`exec ${shellJoin(plan.deployments[0].instances[0].argv)}`);
    expect(shellcheck(script, "bash")).toBe("");
  });
  it("Ray worker: retries joining the head until it answers, for at most rayJoinSeconds; shellcheck-clean", () => {
    const script = worker[2];
    expect(script).toContain("while true; do");
    expect(script).toContain("ray start --address=10.0.0.11:6379");
    expect(script).toContain("--block");
    expect(script).toContain("deadline=$(( $(date +%s) + 900 ))");
    expect(script).toContain("for 900s; giving up");
    expect(shellcheck(script, "bash")).toBe("");
  });
  it("readiness: polls /health, /v1/models for the served name and a one-token generation; quotes the log on timeout; shellcheck-clean", () => {
    const [check] = plan.deployments[0].readiness;
    expect(check.script).toContain(`grep -qF '"id":"meta-llama/Llama-3.1-405B-Instruct"'`);
    expect(check.script).toContain('"max_tokens":1');
    expect(check.script).toContain("docker logs --tail 40 rocm-vllm-llama70b-ray-head");
    expect(shellcheck(check.script, "sh")).toBe("");
  });
  it("readiness really times out and exits 1 with the log excerpt header", () => {
    const short = planOk(rawCluster(), [rawDeployment({ timeouts: { readySeconds: 30 }, port: 1 + 40000 })]);
    const script = short.deployments[0].readiness[0].script.replace("start + 30))", "start + 0))");
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /rocm-vllm: llama70b on node-a \(container rocm-vllm-llama70b\) not ready after 30s \(was waiting for container rocm-vllm-llama70b to run\); member: .*; last log lines:/,
    );
    expect(r.stderr).toContain("rocm-vllm: left on node-a: rocm-vllm-llama70b, which restarts with back-off");
  });
  it("readiness stops early when the member gave up after its restart cap, quoting its state and log", () => {
    const bin = mkdtempSync(join(tmpdir(), "rv-fake-docker-"));
    // A stand-in docker: the container runs, its supervisor reports `failed`; its log says why.
    writeFileSync(
      join(bin, "docker"),
      '#!/bin/sh\ncase "$1 $3" in "inspect {{.State.Running}}") echo true;; "exec cat") printf \'state=failed\\nreason=gave up after 5 restarts\\n\';; *) echo "ValueError: bad flag";; esac\n',
      { mode: 0o755 },
    );
    const script = plan.deployments[0].readiness[0].script;
    const started = Date.now();
    const r = spawnSync("sh", ["-c", script], {
      encoding: "utf8",
      timeout: 20_000,
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stdout).toContain("rocm-vllm: llama70b on node-a: member failed   gave up after 5 restarts");
    expect(r.stderr).toMatch(
      /container rocm-vllm-llama70b-ray-head\) gave up; member: failed {3}gave up after 5 restarts ; last log lines:\n {2}ValueError: bad flag/,
    );
  });
  it("readiness says what it waits for at least every 30 s (the container runs, /health does not answer yet)", () => {
    const bin = mkdtempSync(join(tmpdir(), "rv-fake-docker-"));
    // The container runs and has not restarted; nothing listens on the port: the model is still loading.
    writeFileSync(
      join(bin, "docker"),
      '#!/bin/sh\ncase "$1 $3" in "inspect {{.State.Running}}") echo true;; "inspect {{.RestartCount}}") echo 0;; *) echo loading;; esac\n',
      { mode: 0o755 },
    );
    const short = planOk(rawCluster(), [rawDeployment({ timeouts: { readySeconds: 30 }, port: 40001 })]);
    const script = short.deployments[0].readiness[0].script.replace("start + 30))", "start + 33))");
    const r = spawnSync("sh", ["-c", script], {
      encoding: "utf8",
      timeout: 60_000,
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      /rocm-vllm: llama70b on node-a waiting for \/health on port 40001 \(model loading\): 3\ds of 30s/,
    );
    expect(r.stderr).toContain("was waiting for /health on port 40001 (model loading)");
  }, 70_000);
  it("native multi-node readiness names every node of the engine by node rank when it fails; shellcheck-clean", () => {
    const native = planOk(rawCluster({ nodes: [...plan.nodes.map((n) => ({ name: n.name, host: n.host }))] }), [
      rawDeployment({ model: "meta-llama/Llama-3.1-405B-Instruct", parallelism: { tensor: 8, pipeline: 2 } }),
    ]);
    const [check] = native.deployments[0].readiness;
    expect(shellcheck(check.script, "sh")).toBe("");
    const bin = mkdtempSync(join(tmpdir(), "rv-fake-docker-"));
    writeFileSync(
      join(bin, "docker"),
      // Running, its member gave up (the supervisor's state file), and its log says why.
      '#!/bin/sh\ncase "$1 $3" in "inspect {{.State.Running}}") echo true;; "exec cat") printf "state=failed\\nreason=gave up after 5 restarts\\n";; *) echo "Timed out waiting for clients";; esac\n',
      { mode: 0o755 },
    );
    const r = spawnSync("sh", ["-c", check.script], {
      encoding: "utf8",
      timeout: 20_000,
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("  Timed out waiting for clients\n");
    expect(r.stderr).toContain(
      "rocm-vllm: llama70b is one engine over 2 nodes and serves only once every node rank has joined node rank 0: node rank 0 = node-a (10.0.0.11, container rocm-vllm-llama70b); node rank 1 = node-b (10.0.0.12, container rocm-vllm-llama70b-rank1)",
    );
    // Single-engine gates have nothing to name.
    expect(plan.deployments[0].readiness[0].script).not.toContain("node rank");
  });
  it("Ray worker leaves promptly on SIGTERM although it runs as the shell (PID 1 in the container)", async () => {
    const bin = mkdtempSync(join(tmpdir(), "rv-fake-ray-"));
    writeFileSync(join(bin, "ray"), '#!/bin/sh\ncase "$*" in *--block*) exec sleep 300;; esac\n', { mode: 0o755 });
    const { spawn } = await import("node:child_process");
    // stdin "ignore": with a socket on stdin bash believes sshd started it and sources ~/.bashrc first.
    const child = spawn("bash", ["-c", worker[2]], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: `${bin}:${process.env.PATH}`, VLLM_HOST_IP: "10.0.0.12" },
    });
    await new Promise((r) => setTimeout(r, 1000));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running"), 5_000))]);
    child.kill("SIGKILL");
    expect(code).toBe(0);
  });
});

/** Characters that break naive quoting, plus ordinary and non-ASCII ones. */
const HOSTILE = fc.constantFrom(..."'\"$`\\ \n\t;&|*?[]{}()<>!#~-=%,.:@/aZ9é€");

describe("shell quoting", () => {
  it("round-trips any string through sh", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: HOSTILE, maxLength: 20 }), { minLength: 1, maxLength: 4 }), (words) => {
        const r = spawnSync("sh", ["-c", `printf '%s\\0' ${shellJoin(words)}`], { encoding: "utf8" });
        expect(r.stdout).toBe(words.map((w) => `${w}\0`).join(""));
      }),
      { numRuns: 40 },
    );
  });
  it("leaves safe words bare and quotes the rest", () => {
    expect(shellQuote("node-a")).toBe("node-a");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuoteAlways("node-a")).toBe("'node-a'");
  });
});
