/**
 * The steps run on a node, each as a guarded script (`remoteStep`: time limit enforced on the node, stopped when its
 * ssh session ends, progress lines): host preflight, one-shot jobs (weight downloads, benchmarks), readiness gates
 * and smoke tests, a rolling update's drains and undrains. The Pulumi program sends exactly these texts to
 * `ssh … sh -s`, and the exported scripts run the same texts, so both faces time out, report and clean up the same
 * way.
 */

import { requireSecretsLines } from "../rules/apiKey";
import type { JobPlan, NodePlan, ReadinessCheck, SmokeTest } from "../types";
import { dockerJobArgv } from "./dockerRun";
import { remoteStep } from "./remoteStep";
import { shellJoin, shellQuote } from "./shellQuote";

/** A step as run on a node: what it does, its limit on the node, and the text for `sh -s`. */
export interface NodeStep {
  phase: string;
  timeoutSeconds: number;
  script: string;
}

/** Limits enforced on the node, in seconds. */
export const STEP_LIMITS = {
  /** A handful of local checks. */
  preflight: 300,
  /** A first download of a 400B-parameter checkpoint runs for hours. */
  weights: 6 * 3600,
  /** `vllm bench serve` with the default 200 prompts takes minutes; generous for large settings. */
  benchmark: 2 * 3600,
  /** One completion request (its curl has a 300 s limit). */
  smokeTest: 330,
  /**
   * Beyond the readiness script's own deadline, so its diagnostics (the container's log) win: one round of its loop
   * may start just before the deadline and take 75 s when generation hangs (curl limits 5 + 5 + 60 s, a 5 s sleep),
   * then its docker calls and the log.
   */
  readinessMargin: 120,
  /** A balancer reload (a rolling update's undrain), and beyond `drainSeconds` for a drain. */
  balancerReload: 120,
} as const;

/** The node's host checks (`NodePlan.preflight`). */
export function preflightStep(node: NodePlan): NodeStep | undefined {
  if (!node.preflight) return undefined;
  const phase = "preflight";
  return {
    phase,
    timeoutSeconds: STEP_LIMITS.preflight,
    script: remoteStep({ node: node.name, phase, timeoutSeconds: STEP_LIMITS.preflight, body: node.preflight.script }),
  };
}

/**
 * A one-shot job: remove a leftover container of the same name, then run the plan's `docker run --rm` in the
 * foreground, so the step's exit status is the job's. Stopped early, the step removes the container. Secrets
 * (`secretEnv`) come from the environment the step is started with, never from its text.
 */
export function jobStep(node: NodePlan, job: JobPlan, modelCache: string): NodeStep {
  const spec = job.container;
  const phase = `${spec.role} job ${spec.name}`;
  const timeoutSeconds = spec.role === "weights" ? STEP_LIMITS.weights : STEP_LIMITS.benchmark;
  const name = shellQuote(spec.name);
  const body = [
    "set -eu",
    `# rocm-vllm job ${spec.name} (${spec.role} of ${spec.deployment}): runs to completion.`,
    ...requireSecretsLines(spec.secretEnv, spec.name),
    `docker rm --force ${name} >/dev/null 2>&1 || true`,
    `exec ${shellJoin(["docker", ...dockerJobArgv(spec)])}`,
    "",
  ].join("\n");
  const progress =
    spec.role === "weights"
      ? `echo "$(du -sm ${shellQuote(modelCache)} 2>/dev/null | cut -f 1) MiB in the model cache ${modelCache.replace(/[^\w./-]/g, "")}"`
      : undefined;
  return {
    phase,
    timeoutSeconds,
    script: remoteStep({
      node: node.name,
      phase,
      timeoutSeconds,
      body,
      cleanup: `docker rm --force ${name} >/dev/null 2>&1 || true`,
      ...(progress ? { progress } : {}),
    }),
  };
}

/** An instance's readiness gate: the plan's readiness script, limited a little beyond its own deadline. */
export function readinessStep(check: ReadinessCheck, deployment: string): NodeStep {
  const phase = `readiness of ${deployment} (${check.container}, port ${check.port})`;
  const timeoutSeconds = check.timeoutSeconds + STEP_LIMITS.readinessMargin;
  return { phase, timeoutSeconds, script: remoteStep({ node: check.node, phase, timeoutSeconds, body: check.script }) };
}

/** An instance's smoke test (one completion request). */
export function smokeTestStep(test: SmokeTest, deployment: string): NodeStep {
  const phase = `smoke test of ${deployment} (port ${test.port})`;
  const timeoutSeconds = STEP_LIMITS.smokeTest;
  return { phase, timeoutSeconds, script: remoteStep({ node: test.node, phase, timeoutSeconds, body: test.script }) };
}

/**
 * A rolling update's drain or undrain of one wave on a balancer node (`RolloutWave.drain` / `undrain`): a drain may
 * wait `drainSeconds` for in-flight requests, beyond the reload.
 */
export function rolloutStep(
  node: string,
  deployment: string,
  wave: number,
  kind: "drain" | "undrain",
  script: string,
  drainSeconds: number,
): NodeStep {
  const phase = `${kind} of ${deployment}, wave ${wave + 1}`;
  const timeoutSeconds = STEP_LIMITS.balancerReload + (kind === "drain" ? drainSeconds : 0);
  return { phase, timeoutSeconds, script: remoteStep({ node, phase, timeoutSeconds, body: script }) };
}
