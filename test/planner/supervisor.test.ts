/**
 * The member supervisor (planner/scripts/supervisor.ts) run for real with python3, as Docker would run it in a
 * container and restart it: each "container start" is one run of the program over the same status file. The member is
 * a small HTTP server standing in for `vllm serve` whose engine can be told to die in the ways vLLM's has: exit 0
 * (vllm-project/vllm#48966), or keep answering /health while generations fail (vllm-project/vllm#39863).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MEMBER_STATUS_FILE } from "../../planner/rules/healing";
import {
  RAY_FORMED_FILE,
  RAY_JOINED_FILE,
  SUPERVISOR_PY,
  type SupervisorConfig,
  supervisedCommand,
} from "../../planner/scripts/supervisor";
import { removeTempDirs, tempDir } from "../export/fakes";

afterAll(removeTempDirs);

/**
 * A stand-in engine: serves /health, /v1/models, /v1/completions; DIE_AFTER s after its first generation it breaks per
 * MODE. In MODE hang no generation ever answers (a hung engine): the request blocks until the client gives up.
 */
const FAKE_ENGINE = `
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, mode, die_after = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
served = []  # when it first completed a generation: it breaks die_after seconds later
dead = lambda: mode != "healthy" and bool(served) and time.time() - served[0] > die_after
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code); self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_GET(self):
        if self.path == "/health": self.send(200, {})
        elif self.path == "/v1/models": self.send(200, {"data": [{"id": "m"}]})
        else: self.send(404, {})
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if mode == "hang":
            print("stand-in: generation hangs", flush=True); time.sleep(3600)
        elif dead(): self.send(500, {"error": "EngineDeadError"})
        else:
            served[:1] = served[:1] or [time.time()]
            self.send(200, {"choices": [{"text": "x"}]})
def watch():
    while True:
        if dead() and mode == "exit0": os._exit(0)
        time.sleep(0.1)
threading.Thread(target=watch, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
`;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

interface Start {
  code: number | null;
  output: string;
  ms: number;
  /** From the signal sent on `when.text` to the supervisor's exit. */
  msAfterSignal?: number;
}

/** One member with its own status file; `start()` runs the supervisor once, as one container start. */
async function member(mode: "healthy" | "exit0" | "dead-health" | "hang", dieAfter: number, maxRestarts = 2) {
  const dir = tempDir("rocm-vllm-supervisor-");
  const engine = join(dir, "engine.py");
  writeFileSync(engine, FAKE_ENGINE);
  const port = await freePort();
  const status = join(dir, "member.status");
  const config: SupervisorConfig = {
    container: "c",
    deployment: "d",
    member: { kind: "serving", port },
    main: ["python3", engine, String(port), mode, String(dieAfter)],
    servedModelName: "m",
    readySeconds: 20,
    stopSeconds: 3,
    healing: {
      maxRestarts,
      backoffSeconds: 1,
      maxBackoffSeconds: 300,
      stableSeconds: 600,
      probeSeconds: 1,
      probeFailures: 2,
      statusFile: status,
    },
  };
  const command = supervisedCommand(config);
  const read = () =>
    Object.fromEntries(
      readFileSync(status, "utf8")
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  /**
   * Runs until the supervisor exits; sends SIGTERM after `termAfterMs` (docker stop), or `when.signal` once its output
   * shows `when.text`.
   */
  const start = (
    termAfterMs?: number,
    killAfterMs?: number,
    when?: { text: string; signal: NodeJS.Signals },
  ): Promise<Start> =>
    new Promise((resolve) => {
      const t0 = Date.now();
      const child: ChildProcess = spawn(command[0] ?? "", command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      let signalled: number | undefined;
      child.stdout?.on("data", (d: Buffer) => {
        output += d.toString();
        if (when && signalled === undefined && output.includes(when.text)) {
          signalled = Date.now();
          child.kill(when.signal);
        }
      });
      child.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      const timers = [
        termAfterMs !== undefined ? setTimeout(() => child.kill("SIGTERM"), termAfterMs) : undefined,
        killAfterMs !== undefined ? setTimeout(() => child.kill("SIGKILL"), killAfterMs) : undefined,
        setTimeout(() => child.kill("SIGKILL"), 60_000),
      ];
      let code: number | null = null;
      child.on("exit", (c) => {
        code = c;
        // A SIGKILLed supervisor leaves its member behind; in a container it dies with the container.
        spawnSync("pkill", ["-f", `${engine} ${port}`]);
      });
      child.on("close", () => {
        for (const t of timers) if (t) clearTimeout(t);
        resolve({ code, output, ms: Date.now() - t0, msAfterSignal: signalled && Date.now() - signalled });
      });
    });
  return { start, read, status };
}

describe("the member supervisor", () => {
  it("is valid Python, carried verbatim in every GPU container's command", () => {
    const r = spawnSync("python3", ["-c", `import ast,sys; ast.parse(sys.stdin.read())`], { input: SUPERVISOR_PY });
    expect(r.status).toBe(0);
  });

  it("keeps a joined Ray worker serving without probing an API it has not, and waits for it to rejoin a new head", async () => {
    // The launch scripts write the Ray markers next to the status file, where the supervisor looks for them.
    expect(dirname(RAY_JOINED_FILE)).toBe(dirname(MEMBER_STATUS_FILE));
    expect(dirname(RAY_FORMED_FILE)).toBe(dirname(MEMBER_STATUS_FILE));
    const dir = tempDir("rocm-vllm-supervisor-");
    const joined = join(dir, "ray-joined");
    // Stands in for the worker's launch script: joins at once, loses its head after 4 s, joins the new one 2 s later.
    const script = `import os, time
open(${JSON.stringify(joined)}, "w").close(); time.sleep(4)
os.unlink(${JSON.stringify(joined)}); time.sleep(2)
open(${JSON.stringify(joined)}, "w").close(); time.sleep(60)`;
    const config: SupervisorConfig = {
      container: "w",
      deployment: "d",
      member: { kind: "ray-worker" },
      main: ["python3", "-c", script],
      servedModelName: "m",
      readySeconds: 20,
      stopSeconds: 3,
      healing: {
        maxRestarts: 2,
        backoffSeconds: 1,
        maxBackoffSeconds: 300,
        stableSeconds: 600,
        probeSeconds: 1,
        probeFailures: 2,
        statusFile: join(dir, "member.status"),
      },
    };
    const command = supervisedCommand(config);
    // Runs 9 s, then gets docker stop's SIGTERM.
    const child = spawn(command[0] ?? "", command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout?.on("data", (d: Buffer) => {
      log += d.toString();
    });
    const term = setTimeout(() => child.kill("SIGTERM"), 9000);
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    clearTimeout(term);
    expect(code, log).toBe(0);
    expect(log).toContain("state stopped: stopped by a signal");
    expect(log).toContain("state serving: joined the Ray head");
    expect(log).toContain("state forming: the Ray head went away: rejoining");
    expect(log.lastIndexOf("state serving: joined the Ray head")).toBeGreaterThan(log.indexOf("rejoining"));
    expect(log).not.toContain("FAILURE");
  }, 30_000);

  it("counts an engine that exits 0 as a failure, backs off, and stays failed after the cap, holding nothing", async () => {
    const m = await member("exit0", 1, 2);
    const first = await m.start();
    expect(first.code).toBe(1);
    expect(first.output).toContain("state serving: a one-token generation completed");
    expect(first.output).toContain(
      "FAILURE 1: the member's command exited with status 0 (an engine that dies can exit 0: vllm-project/vllm#48966)",
    );
    expect(m.read()).toMatchObject({ state: "crashed", failures: "1" });
    // Docker restarts it: 1 s of back-off, then it serves and dies again; then 2 s; then the cap.
    const second = await m.start();
    expect(second.output).toContain("state backoff: restart 1 of 2 in 1 s after: the member's command exited");
    expect(second.code).toBe(1);
    const third = await m.start();
    expect(third.output).toContain("restart 2 of 2 in 2 s");
    expect(third.ms).toBeGreaterThan(2000);
    const capped = await m.start(2000);
    expect(capped.code).toBe(0);
    expect(capped.output).toContain("FAILED: gave up after 2 restarts without serving 600 s in between");
    expect(capped.output).not.toContain("state starting");
    expect(m.read()).toMatchObject({ state: "failed", failures: "3" });
    // Restarted again (a daemon restart, docker restart): still failed, no loop.
    const again = await m.start(1000);
    expect(again.output).toContain("FAILED:");
    expect(again.output).not.toContain("state starting");
  }, 60_000);

  it("notices an engine that still answers /health but no longer generates (vllm-project/vllm#39863)", async () => {
    const m = await member("dead-health", 1);
    const r = await m.start();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      /FAILURE 1: generation failed: HTTP Error 500|FAILURE 1: generation answered 500 \(2 probes in a row\)/,
    );
    expect(m.read().cause).toContain("2 probes in a row");
  }, 60_000);

  it("stops at once on docker stop while a probe waits on a hung engine: the member stopped, a clean stopped status", async () => {
    // The readiness probe's generation may wait 60 s; Docker's stop grace would end in SIGKILL first.
    const m = await member("hang", 0);
    const r = await m.start(undefined, undefined, { text: "stand-in: generation hangs", signal: "SIGTERM" });
    expect(r.code, r.output).toBe(0);
    expect(r.msAfterSignal).toBeLessThan(10_000);
    expect(r.output).toContain("state loading");
    expect(r.output).toContain("stopping the member (container stopping)");
    expect(r.output).toContain("state stopped: stopped by a signal");
    expect(r.output).not.toContain("FAILURE");
    expect(m.read()).toMatchObject({ state: "stopped", failures: "0" });
  }, 90_000);

  it("does not count a clean stop (docker stop, the daemon stopping), and counts a kill when it starts again", async () => {
    const m = await member("healthy", 0);
    const serving = "state serving";
    const stopped = await m.start(undefined, undefined, { text: serving, signal: "SIGTERM" });
    expect(stopped.code, stopped.output).toBe(0);
    expect(m.read()).toMatchObject({ state: "stopped", failures: "0" });
    const killed = await m.start(undefined, undefined, { text: serving, signal: "SIGKILL" });
    expect(killed.code).not.toBe(0);
    expect(m.read().state).toBe("serving");
    const after = await m.start(2500);
    expect(after.output).toContain("FAILURE 1: the container ended while serving without stopping");
    expect(after.output).toContain("state backoff: restart 1 of 2 in 1 s");
  }, 60_000);
});
