/**
 * Readiness gates: `pulumi up` succeeds only when every serving instance answers `/health`, lists its model on
 * `/v1/models` and (unless `smokeTest: false`) completes one request. The plan ships the POSIX scripts (the readiness
 * script polls, and on timeout prints the container's last log lines and exits 1); this file only runs them on the
 * node over SSH.
 */
import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { NodePlan, ReadinessCheck, SmokeTest } from "../planner/types";
import { COMMAND_LOGGING, nodeConnection } from "./connection";

/** Extra time the SSH command gets beyond the script's own timeout, so the script's diagnostics win the race. */
export const READINESS_TIMEOUT_MARGIN_SECONDS = 300;

export interface ReadinessArgs {
  check: ReadinessCheck;
  node: NodePlan;
  /** Containers the instance runs in: their IDs are the triggers, so a replaced container re-runs the check. */
  instanceContainers: docker.Container[];
  /** Every container of the deployment: the check starts only once all of them exist (none waits on another). */
  deploymentContainers: docker.Container[];
  sshPrivateKey: pulumi.Output<string> | undefined;
}

/**
 * Runs the plan's readiness script for one instance as a `remote.Command` named `logicalName`.
 * The command has no delete step and is safe to re-run: the script only reads.
 */
export function createReadiness(
  logicalName: string,
  args: ReadinessArgs,
  parent: pulumi.Resource,
): command.remote.Command {
  const { check } = args;
  const timeout = `${check.timeoutSeconds + READINESS_TIMEOUT_MARGIN_SECONDS}s`;
  return new command.remote.Command(
    logicalName,
    {
      connection: nodeConnection(args.node, args.sshPrivateKey),
      create: check.script,
      triggers: args.instanceContainers.map((c) => c.id),
      // Progress and, on failure, the container's log tail are what the operator needs to see in `pulumi up`.
      logging: COMMAND_LOGGING,
      // PULUMI_COMMAND_STDOUT would need AcceptEnv on the node and carries nothing the script uses.
      addPreviousOutputInEnv: false,
    },
    {
      parent,
      dependsOn: args.deploymentContainers,
      customTimeouts: { create: timeout, update: timeout },
    },
  );
}

/** Time a smoke test may take: its one request has a 300 s limit, plus the SSH dial. */
export const SMOKE_TEST_TIMEOUT = "10m";

export interface SmokeTestArgs {
  test: SmokeTest;
  node: NodePlan;
  /** The instance's readiness gate: the request is sent only once the model is served. */
  readiness: command.remote.Command;
  /** Same triggers as the readiness gate: a replaced container is tested again. */
  instanceContainers: docker.Container[];
  sshPrivateKey: pulumi.Output<string> | undefined;
}

/** Runs the plan's smoke test (one completion request) for one instance; its failure fails `pulumi up`. */
export function createSmokeTest(
  logicalName: string,
  args: SmokeTestArgs,
  parent: pulumi.Resource,
): command.remote.Command {
  return new command.remote.Command(
    logicalName,
    {
      connection: nodeConnection(args.node, args.sshPrivateKey),
      create: args.test.script,
      triggers: args.instanceContainers.map((c) => c.id),
      logging: COMMAND_LOGGING,
      addPreviousOutputInEnv: false,
    },
    { parent, dependsOn: [args.readiness], customTimeouts: { create: SMOKE_TEST_TIMEOUT, update: SMOKE_TEST_TIMEOUT } },
  );
}
