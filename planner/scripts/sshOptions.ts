/**
 * The options of every `ssh` rocm-vllm starts (the Docker provider's transport, exported `deploy.sh`): never prompt,
 * so a missing key fails fast instead of hanging; learn an unknown host key once and refuse a changed one; notice dead
 * connections during long image pulls.
 */
import type { NodePlan } from "../types";

export function sshOptions(ssh: NodePlan["ssh"]): string[] {
  const identity = ssh.identityFile ? ["-i", ssh.identityFile, "-o", "IdentitiesOnly=yes"] : [];
  return [
    ...identity,
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    "ConnectTimeout=30",
    "-o",
    "ServerAliveInterval=30",
  ];
}
