/**
 * A planned container as `docker run` arguments. The exported node scripts start containers with it and the Pulumi
 * program runs one-shot jobs with it, so both run exactly the plan's flags.
 */
import type { ContainerSpec } from "../types";

/**
 * `docker run` argv (after `docker`) that creates `spec` exactly as planned: `["run", "--detach", ...flags, image,
 * ...command]`. One-shot jobs swap `--detach` for `--rm` (the Pulumi job component does the same).
 */
export function dockerRunArgv(spec: ContainerSpec): string[] {
  const argv = ["run", "--detach", "--name", spec.name];
  for (const [key, value] of Object.entries(spec.labels)) argv.push("--label", `${key}=${value}`);
  argv.push("--restart", spec.restart, "--network", spec.networkMode, "--ipc", spec.ipcMode);
  if (spec.shmSizeMb !== undefined) argv.push("--shm-size", `${spec.shmSizeMb}m`);
  for (const device of spec.devices) argv.push("--device", device);
  for (const group of spec.groupAdd) argv.push("--group-add", group);
  for (const cap of spec.capAdd) argv.push("--cap-add", cap);
  for (const opt of spec.securityOpt) argv.push("--security-opt", opt);
  for (const u of spec.ulimits) argv.push("--ulimit", `${u.name}=${u.soft}:${u.hard}`);
  for (const v of spec.volumes) argv.push("--volume", `${v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`);
  for (const [key, value] of Object.entries(spec.env)) {
    if (!spec.secretEnv.includes(key)) argv.push("--env", `${key}=${value}`);
  }
  // `--env NAME` without a value passes the variable through from the environment of the `docker` client.
  for (const key of spec.secretEnv) argv.push("--env", key);
  // `--entrypoint` takes one word; the rest of a longer entry point goes first in the command, which Docker appends.
  const [entry, ...entryRest] = spec.entrypoint;
  if (entry !== undefined) argv.push("--entrypoint", entry);
  argv.push(spec.image, ...entryRest, ...spec.command);
  return argv;
}

/** The `docker run` argv of a one-shot job: in the foreground, removed when it ends. */
export function dockerJobArgv(spec: ContainerSpec): string[] {
  const [verb, detach, ...flags] = dockerRunArgv(spec);
  if (verb !== "run" || detach !== "--detach") throw new Error(`unexpected docker run argv for ${spec.name}`);
  return [verb, "--rm", ...flags];
}
