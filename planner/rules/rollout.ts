/**
 * Rolling updates on fixed GPUs (no spare GPUs: maxSurge 0): a change that restarts serving replaces the replicas of
 * a deployment wave by wave, each wave at most `maxUnavailable` replicas (a multi-node replica is one group, replaced
 * whole). Each wave is taken out of the balancer and its in-flight requests finish before its containers stop; it
 * comes back only once its readiness gates and smoke tests pass. The shell is in `scripts/rolloutScripts.ts`.
 */
import type { VllmVersionSpec } from "../catalog/vllmVersions";
import type { DeploymentConfig } from "../config/schema";
import { STOP_GRACE_SECONDS } from "./containerRuntime";
import type { Decisions } from "./decisions";

/** `vllm serve --shutdown-timeout`: on SIGTERM the API server refuses new requests and lets in-flight ones finish. */
export const SHUTDOWN_TIMEOUT_FLAG = "--shutdown-timeout";
const SHUTDOWN_SOURCE = "vllm#36666 (--shutdown-timeout, vLLM 0.18.0: drain in-flight requests on SIGTERM)";

/** Seconds of stop grace beyond vLLM's own shutdown timeout: the engine processes exit after the API server. */
export const STOP_GRACE_MARGIN_SECONDS = 30;

/**
 * vLLM's graceful shutdown where the release has it (its flag list is data): `--shutdown-timeout`, from
 * `timeouts.shutdownSeconds` when set (`explicitEngineArgs` adds it, refusing releases without the flag), else from
 * `rollout.drainSeconds`, so a stop lets in-flight requests finish. Returns the stop grace the serving containers
 * need: the shutdown timeout plus a margin, so Docker never kills a draining server; without graceful shutdown,
 * vLLM and Ray exit at once on SIGTERM and the default grace (`STOP_GRACE_SECONDS`) is plenty.
 */
export function gracefulShutdown(
  out: Decisions,
  d: DeploymentConfig,
  version: VllmVersionSpec,
): { graceful: boolean; stopGraceSeconds: number } {
  const explicit = d.timeouts.shutdownSeconds;
  const seconds = explicit ?? d.rollout.drainSeconds;
  if (!version.serveFlags.has(SHUTDOWN_TIMEOUT_FLAG) || seconds === 0) {
    out.note(
      `no ${SHUTDOWN_TIMEOUT_FLAG}: vLLM ${version.version} ${seconds === 0 ? "is told not to wait" : "aborts in-flight requests on SIGTERM"}; a rolling update waits for them through the balancer instead`,
      "gracefulShutdown",
      SHUTDOWN_SOURCE,
    );
    return { graceful: false, stopGraceSeconds: STOP_GRACE_SECONDS };
  }
  if (explicit === undefined) out.addArg(SHUTDOWN_TIMEOUT_FLAG, String(seconds), "gracefulShutdown", SHUTDOWN_SOURCE);
  const stopGraceSeconds = Math.max(STOP_GRACE_SECONDS, seconds + STOP_GRACE_MARGIN_SECONDS);
  out.note(
    `containers get ${stopGraceSeconds} s to stop (shutdown timeout + ${STOP_GRACE_MARGIN_SECONDS} s)`,
    "gracefulShutdown",
    SHUTDOWN_SOURCE,
  );
  return { graceful: true, stopGraceSeconds };
}

export interface RolloutDecision {
  strategy: "rolling" | "all-at-once";
  why: string;
  maxUnavailable: number;
  /** Replica indices per wave. */
  waves: number[][];
}

/** Replicas out at once for a `maxUnavailable` setting: a count, or a percentage rounded down (at least 1). */
export function unavailableReplicas(setting: number | string, replicas: number): number {
  const n =
    typeof setting === "number" ? setting : Math.floor((replicas * Number.parseInt(setting.slice(0, -1), 10)) / 100);
  return Math.min(replicas, Math.max(1, n));
}

/**
 * The rollout of a deployment. `auto` rolls when a balancer fronts two or more replicas (clients then never notice
 * one replica missing) and otherwise restarts everything at once, which is fastest and loses nothing when clients
 * address each instance anyway. A single replica cannot roll: there is no second one to serve meanwhile.
 */
export function rolloutStrategy(out: Decisions, d: DeploymentConfig): RolloutDecision {
  const { strategy, maxUnavailable } = d.rollout;
  const replicas = d.replicas;
  const all = (why: string): RolloutDecision => ({
    strategy: "all-at-once",
    why,
    maxUnavailable: replicas,
    waves: [Array.from({ length: replicas }, (_, i) => i)],
  });
  if (strategy === "all-at-once") return all("rollout.strategy all-at-once");
  if (replicas === 1) {
    if (strategy === "rolling") {
      out.warn(
        "rollout-single-replica",
        "rollout.strategy rolling has nothing to roll with one replica: a change restarts it in place (serving stops while it reloads)",
        ".rollout.strategy",
      );
    }
    return all("one replica: nothing serves while it restarts, so it cannot roll");
  }
  if (strategy === "auto" && !d.loadBalancer) {
    return all(
      "no balancer: clients address each replica, so replicas restart together (set rollout.strategy rolling to replace them in waves)",
    );
  }
  const size = unavailableReplicas(maxUnavailable, replicas);
  const waves: number[][] = [];
  for (let start = 0; start < replicas; start += size) {
    waves.push(Array.from({ length: Math.min(size, replicas - start) }, (_, i) => start + i));
  }
  if (waves.length === 1) {
    out.warn(
      "rollout-one-wave",
      `rollout.maxUnavailable ${maxUnavailable} covers all ${replicas} replicas: they restart together`,
      ".rollout.maxUnavailable",
    );
  }
  const why =
    strategy === "auto"
      ? `a balancer fronts ${replicas} replicas: replaced ${size} at a time, at least ${replicas - size} serving`
      : `rollout.strategy rolling: ${size} at a time, at least ${replicas - size} serving`;
  out.note(
    `rolling update in ${waves.length} waves of up to ${size} replica(s)${d.loadBalancer ? ", each drained from the balancer first" : ""}`,
    "rolloutStrategy",
    "README.md#rolling-updates",
  );
  return { strategy: "rolling", why, maxUnavailable: size, waves };
}
