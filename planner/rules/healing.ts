/**
 * Self-healing: every GPU container runs under an init process and the member supervisor
 * (`scripts/supervisor.ts`), which restarts its member with back-off up to a cap when the engine or its group breaks,
 * and keeps the member's state where Docker's health check, the readiness gate and an operator can read it.
 *
 * A live engine is one that completes a one-token generation (or, when busy, keeps producing tokens): `/health`
 * has answered while the engine was dead (vllm-project/vllm#39863), and an engine death has exited with status 0
 * (vllm-project/vllm#48966), so neither the exit code nor `/health` alone says whether a member serves.
 */
import type { DeploymentConfig } from "../config/schema";
import type { HealingPlan, HealthcheckSpec } from "../types";
import type { Decisions } from "./decisions";

/** The member's state inside its container: `key=value` lines (`state=serving`, `failures=…`, `reason=…`). */
export const MEMBER_STATUS_FILE = "/var/lib/rocm-vllm/member.status";
/** The longest wait between restarts. */
export const MAX_BACKOFF_SECONDS = 300;

/** The healing settings of a deployment, resolved. */
export function healingPlan(d: DeploymentConfig): HealingPlan {
  const h = d.healing;
  return {
    maxRestarts: h.maxRestarts,
    backoffSeconds: h.backoffSeconds,
    maxBackoffSeconds: Math.max(h.backoffSeconds, MAX_BACKOFF_SECONDS),
    stableSeconds: h.stableSeconds,
    probeSeconds: h.probeSeconds,
    probeFailures: h.probeFailures,
    statusFile: MEMBER_STATUS_FILE,
  };
}

/**
 * GPU memory held after a crash: under ROCm 7's IPC mode, memory exported for IPC stays pinned after `hipFree`
 * (ROCm/rocm-libraries#6266), so a restarted server finds the GPU full and crash-loops; the legacy IPC mode returns
 * it. vLLM's own ROCm image sets the variable from 0.23.0 (vllm v0.23.0 docker/Dockerfile.rocm); setting it for
 * every release makes older and custom images behave the same (ROCm 6 has only the legacy mode and ignores it).
 */
export function gpuMemoryAfterCrash(out: Decisions): void {
  out.setEnv(
    "HSA_ENABLE_IPC_MODE_LEGACY",
    "1",
    "gpuMemoryAfterCrash",
    "ROCm/rocm-libraries#6266 (GPU memory pinned after hipFree under the ROCm 7 IPC mode); vllm v0.23.0 docker/Dockerfile.rocm sets it",
  );
}

/** Go's `time.Duration` text for whole seconds (`10s`, `2m0s`, `1h0m0s`), as the Docker provider reads it back. */
export function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * Docker's health check of a member: healthy while the supervisor says `serving`. Failures during the first
 * `readySeconds` after a start do not count (the model loads), so `docker ps` shows `(health: starting)` then, and
 * `(unhealthy)` for a member that stopped serving or gave up; `docker inspect` shows the state line.
 */
export function memberHealthcheck(readySeconds: number): HealthcheckSpec {
  return {
    test: [
      "CMD-SHELL",
      `grep -qx 'state=serving' ${MEMBER_STATUS_FILE} || { grep -E '^(state|reason)=' ${MEMBER_STATUS_FILE} 2>/dev/null | tr '\\n' ' '; exit 1; }`,
    ],
    intervalSeconds: 10,
    timeoutSeconds: 5,
    retries: 3,
    startPeriodSeconds: readySeconds,
  };
}
