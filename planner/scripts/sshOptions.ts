/**
 * The one way rocm-vllm reaches a node: the system `ssh` client, with the same options for the Docker provider's
 * transport (`ssh … docker system dial-stdio`), every step the Pulumi program runs on a node, and the exported
 * scripts. So the same credentials (ssh-agent, `ssh.identityFile`, `~/.ssh/config`), the same host-key policy and
 * the same bastion apply to every connection.
 *
 * Host keys are checked strictly against `known_hosts` (`ssh.knownHostsFile`, else ssh's default): an unknown or
 * changed key refuses the connection before anything, secrets included, is sent. A bastion (`ssh.proxyJump`) is
 * reached through a `ProxyCommand` running this same `ssh` with these same options (not `ProxyJump`, whose jump
 * connection would ignore options given on the command line), so the bastion's key is checked the same way.
 */
import type { NodePlan } from "../types";
import { shellJoin } from "./shellQuote";

export type SshSettings = NodePlan["ssh"];

/** Seconds between keepalives; a session whose server stops answering for 4 of them is closed. */
export const SSH_KEEPALIVE_SECONDS = 30;

/** Options that do not depend on the destination: batch mode, strict host keys, keepalives, the identity. */
function baseOptions(ssh: SshSettings): string[] {
  const identity = ssh.identityFile ? ["-i", ssh.identityFile, "-o", "IdentitiesOnly=yes"] : [];
  const knownHosts = ssh.knownHostsFile ? ["-o", `UserKnownHostsFile=${ssh.knownHostsFile}`] : [];
  return [
    ...identity,
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "UpdateHostKeys=no",
    ...knownHosts,
    "-o",
    "ConnectTimeout=30",
    "-o",
    `ServerAliveInterval=${SSH_KEEPALIVE_SECONDS}`,
    "-o",
    "ServerAliveCountMax=4",
  ];
}

/** `user@host[:port]` of a bastion, split. */
export function parseJump(jump: string): { user?: string; host: string; port?: number } {
  const at = jump.lastIndexOf("@");
  const user = at >= 0 ? jump.slice(0, at) : undefined;
  const rest = at >= 0 ? jump.slice(at + 1) : jump;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) return { user, host: bracketed[1] ?? rest, port: bracketed[2] ? Number(bracketed[2]) : undefined };
  const colon = rest.split(":");
  if (colon.length === 2) return { user, host: colon[0] ?? rest, port: Number(colon[1]) };
  return { user, host: rest };
}

/** The options of every `ssh` rocm-vllm starts (after `ssh`, before the destination), in this order. */
export function sshOptions(ssh: SshSettings): string[] {
  const base = baseOptions(ssh);
  if (!ssh.proxyJump) return base;
  const jump = parseJump(ssh.proxyJump);
  const proxy = [
    "ssh",
    ...base,
    ...(jump.port !== undefined ? ["-p", String(jump.port)] : []),
    "-W",
    "%h:%p",
    "--",
    jump.user ? `${jump.user}@${jump.host}` : jump.host,
  ];
  // ssh runs the ProxyCommand with the user's shell; every word is from a validated alphabet, quoted anyway.
  return [...base, "-o", `ProxyCommand=${shellJoin(proxy)}`];
}

/** `ssh` argv (without the remote command) that reaches `node`: port, options, `--`, `user@host`. */
export function sshArgv(node: Pick<NodePlan, "host" | "ssh">): string[] {
  return ["ssh", "-p", String(node.ssh.port), ...sshOptions(node.ssh), "--", `${node.ssh.user}@${node.host}`];
}

/** Exit status with which `ssh` reports its own failures (connection, authentication, host key). */
export const SSH_FAILED_EXIT = 255;

/**
 * Local `sh` that opens one session to the node and fails, naming the node, its address and the fix, when the host
 * key is unknown or changed (or the connection fails otherwise). Run before anything else on the node: nothing, no
 * secret either, reaches a node whose key is not the known one.
 */
export function sshCheckScript(node: Pick<NodePlan, "name" | "host" | "ssh">): string {
  const where = `${node.ssh.user}@${node.host}:${node.ssh.port}`;
  const known = node.ssh.knownHostsFile ?? "~/.ssh/known_hosts";
  const scan = `ssh-keyscan -p ${node.ssh.port} ${node.host}`;
  const keyHost = node.ssh.port === 22 ? node.host : `[${node.host}]:${node.ssh.port}`;
  return [
    `# rocm-vllm: checks the SSH host key of ${node.name} (${where}) before anything runs there.`,
    "err=$(mktemp) || exit 1",
    `${shellJoin([...sshArgv(node), "true"])} 2>"$err"`,
    "rc=$?",
    'cat "$err" >&2',
    `if [ "$rc" -eq 0 ]; then rm -f "$err"; echo ${shellJoin([`rocm-vllm: ${node.name}: connected to ${where}; host key matches ${known}`])}; exit 0; fi`,
    `if grep -q 'REMOTE HOST IDENTIFICATION HAS CHANGED' "$err"; then`,
    `  echo ${shellJoin([`rocm-vllm: ${node.name} (${where}): its SSH host key CHANGED since it was recorded in ${known}; nothing was sent to it. Fix: confirm the new key with the node's owner (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console), then ssh-keygen -R '${keyHost}' -f ${known} and add the new key (${scan} >> ${known})`])} >&2`,
    `elif grep -qE 'Host key verification failed|No .* host key is known' "$err"; then`,
    `  echo ${shellJoin([`rocm-vllm: ${node.name} (${where}): its SSH host key is not in ${known}, and rocm-vllm never trusts an unknown key; nothing was sent to it. Fix: compare the fingerprints of ${scan} with the node's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console), then append them to ${known} (or set rocm-vllm:cluster.ssh.knownHostsFile)`])} >&2`,
    "else",
    `  echo ${shellJoin([`rocm-vllm: ${node.name} (${where}): ssh failed with exit status`])} "$rc; see its message above (keys come from ssh-agent or rocm-vllm:cluster.ssh.identityFile)" >&2`,
    "fi",
    'rm -f "$err"',
    'exit "$rc"',
    "",
  ].join("\n");
}
