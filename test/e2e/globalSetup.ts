/**
 * Global setup of `npm run test:e2e`: a machine with real Docker Engines, one per simulated GPU host.
 *
 * 1. test/e2e/setup-docker.sh installs what is missing (docker.io, debootstrap, ...) and builds the cached root file
 *    system of the test image (minutes on the first run of a machine, instant afterwards);
 * 2. leftovers of an interrupted earlier run are removed (sim-hosts.sh down only touches what it recorded);
 * 3. two simulated hosts come up, each with its own address, network namespace, dockerd and sshd, plus stand-in GPU
 *    device nodes; the test images (cached base + stand-in vllm, one also with the stand-in ray) are imported into
 *    each daemon under the stacks' names; an ssh-agent holds the client key (its pid is recorded, so
 *    `sim-hosts.sh down` stops it too).
 *
 * The returned teardown removes everything again. If vitest is killed before it can run it (CI's `timeout`), a
 * detached reaper (`sim-hosts.sh reap`) notices this process is gone and removes everything instead.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  E2E,
  E2E_IMAGE,
  E2E_NGINX_IMAGE,
  E2E_RAY_IMAGE,
  E2E_RAY_VLLM_VERSION,
  E2E_VLLM_VERSION,
  GPUS_PER_HOST,
  HOSTS,
  run,
  SIM_HOSTS,
} from "./support";

const RUN_ID = `${process.pid}-${randomBytes(4).toString("hex")}`;

function step(what: string, cmd: string, args: string[], timeoutMs: number): string {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    env: { ...process.env, ROCM_VLLM_E2E_RUN: RUN_ID },
  });
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    throw new Error(`e2e setup: ${what} failed (${r.status ?? r.signal}) after ${seconds}s:\n${r.stdout}\n${r.stderr}`);
  }
  process.stderr.write(`[e2e setup] ${what}: ${seconds}s\n`);
  return r.stdout;
}

function down(): void {
  const r = spawnSync(SIM_HOSTS, ["down"], { encoding: "utf8", timeout: 180_000 });
  if (r.status !== 0) process.stderr.write(`[e2e] sim-hosts.sh down failed: ${r.stderr}\n`);
}

/** Starts the reaper in its own session, so the signals that stop vitest do not stop it. */
function startReaper(): () => void {
  const reaper = spawn(SIM_HOSTS, ["reap", String(process.pid), RUN_ID], { detached: true, stdio: "ignore" });
  reaper.unref();
  return () => {
    if (reaper.pid === undefined) return;
    try {
      process.kill(reaper.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
}

/** Stops the run with one line (no stack trace) when the machine cannot host the simulated nodes. */
function prerequisites(): void {
  const fail = (why: string) => {
    process.stderr.write(`npm run test:e2e: ${why}\n`);
    process.exit(1);
  };
  if (process.getuid?.() !== 0) {
    fail("must run as root (network namespaces and one Docker daemon per simulated host): run it as root");
  }
  const t0 = Date.now();
  const r = spawnSync("bash", [join(E2E, "setup-docker.sh")], { encoding: "utf8", timeout: 15 * 60_000 });
  if (r.status !== 0) {
    const last = `${r.stderr ?? ""}`.trim().split("\n").pop() || `exit ${r.status ?? r.signal}`;
    fail(`test/e2e/setup-docker.sh failed (${last}); prepare the machine with: bash scripts/setup.sh --e2e`);
  }
  process.stderr.write(`[e2e setup] prerequisites and cached base image: ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
}

export default function setup(): () => Promise<void> {
  prerequisites();
  step("remove leftovers of an earlier run", SIM_HOSTS, ["down"], 180_000);

  const work = mkdtempSync("/tmp/rocm-vllm-e2e-image-");
  let stopReaper = () => {};
  try {
    const hosts = Object.entries(HOSTS).map(([name, ip]) => `${name}=${ip}`);
    step(`start ${hosts.length} simulated hosts with their own dockerd`, SIM_HOSTS, ["up", ...hosts], 120_000);
    stopReaper = startReaper();
    step("create stand-in GPU device nodes", SIM_HOSTS, ["devices", String(GPUS_PER_HOST)], 30_000);
    step("start an ssh-agent holding the client key", SIM_HOSTS, ["agent"], 30_000);
    const tar = join(work, "image.tar");
    step(
      `build the test image of vLLM ${E2E_VLLM_VERSION} without Ray (cached base + stand-in vllm)`,
      join(E2E, "build-image.sh"),
      ["--without-ray", E2E_VLLM_VERSION, tar],
      15 * 60_000,
    );
    step("import it into every daemon", SIM_HOSTS, ["load-image", tar, E2E_IMAGE, E2E_NGINX_IMAGE], 300_000);
    const rayTar = join(work, "image-ray.tar");
    step(
      `build the test image of vLLM ${E2E_RAY_VLLM_VERSION} with Ray (cached base + stand-in vllm and ray)`,
      join(E2E, "build-image.sh"),
      [E2E_RAY_VLLM_VERSION, rayTar],
      15 * 60_000,
    );
    step("import it into every daemon", SIM_HOSTS, ["load-image", rayTar, E2E_RAY_IMAGE], 300_000);
  } catch (e) {
    stopReaper();
    down();
    throw e;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  return async () => {
    const t0 = Date.now();
    stopReaper();
    // Asynchronous, so vitest can wind down its workers meanwhile.
    const r = await run(SIM_HOSTS, ["down"], { timeoutMs: 180_000 });
    if (r.code !== 0) process.stderr.write(`[e2e] sim-hosts.sh down failed: ${r.output}\n`);
    process.stderr.write(`[e2e teardown] simulated hosts removed: ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  };
}
