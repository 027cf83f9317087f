/**
 * The SSH connection every command on a node uses (preflight, jobs, readiness, smoke tests).
 */
import type * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import type { NodePlan } from "../planner/types";

/**
 * The planned user, host and port; the secret key when `rocm-vllm:sshPrivateKey` is set, else ssh-agent
 * (`SSH_AUTH_SOCK`). The provider marks the whole connection secret in state.
 */
export function nodeConnection(
  node: Pick<NodePlan, "host" | "ssh">,
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

/** Streams a command's output into `pulumi up`: progress, and on failure the reason the script prints. */
export const COMMAND_LOGGING = "stdoutAndStderr" as const;
