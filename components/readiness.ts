/**
 * Readiness gates: `pulumi up` succeeds only when every serving instance answers `/health` and lists its model on
 * `/v1/models`. The plan ships the POSIX script (it polls, and on timeout prints the container's last log lines and
 * exits 1); this file only runs it on the node over SSH.
 */
import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { NodePlan, ReadinessCheck } from "../planner/types";

/** Extra time the SSH command gets beyond the script's own timeout, so the script's diagnostics win the race. */
export const READINESS_TIMEOUT_MARGIN_SECONDS = 300;

/** SSH connection for commands on a node: the planned user/port, the secret key when configured, else ssh-agent. */
export function nodeConnection(
  node: NodePlan,
  sshPrivateKey: pulumi.Output<string> | undefined,
): command.types.input.remote.ConnectionArgs {
  return {
    host: node.host,
    port: node.ssh.port,
    user: node.ssh.user,
    ...(sshPrivateKey !== undefined ? { privateKey: sshPrivateKey } : {}),
    // Nodes may still be rebooting or under load while containers start: keep dialling for a few minutes.
    dialErrorLimit: 20,
    perDialTimeout: 30,
  };
}

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
      logging: command.types.enums.remote.Logging.StdoutAndStderr,
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
