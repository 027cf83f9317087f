/**
 * A planned container as `docker run` arguments. The exported node scripts start containers with it and the Pulumi
 * program runs one-shot jobs with it, so both run exactly the plan's flags.
 */
import type { ContainerSpec } from "../types";

/**
 * `docker run` argv (after `docker`) that creates `spec` exactly as planned: `["run", "--detach", ...flags, image,
 * ...command]`. One-shot jobs swap `--detach` for `--rm` (the Pulumi job component does the same). `imageKey` is the
 * directory name appended to `perImage` volumes (the image ID, or a shell expansion of it in exported scripts).
 */
export function dockerRunArgv(spec: ContainerSpec, imageKey?: string): string[] {
  const argv = ["run", "--detach", "--name", spec.name];
  for (const [key, value] of Object.entries(spec.labels)) argv.push("--label", `${key}=${value}`);
  argv.push("--restart", spec.restart);
  if (spec.init) argv.push("--init");
  argv.push("--stop-timeout", String(spec.stopGraceSeconds));
  if (spec.healthcheck) {
    const h = spec.healthcheck;
    const [form, ...test] = h.test;
    if (form !== "CMD-SHELL" || test.length !== 1) throw new Error(`unexpected health check of ${spec.name}`);
    argv.push(
      "--health-cmd",
      test[0] ?? "",
      "--health-interval",
      `${h.intervalSeconds}s`,
      "--health-timeout",
      `${h.timeoutSeconds}s`,
      "--health-retries",
      String(h.retries),
      "--health-start-period",
      `${h.startPeriodSeconds}s`,
    );
  }
  argv.push("--network", spec.networkMode, "--ipc", spec.ipcMode);
  if (spec.shmSizeMb !== undefined) argv.push("--shm-size", `${spec.shmSizeMb}m`);
  for (const device of spec.devices) argv.push("--device", device);
  for (const group of spec.groupAdd) argv.push("--group-add", group);
  for (const cap of spec.capAdd) argv.push("--cap-add", cap);
  for (const opt of spec.securityOpt) argv.push("--security-opt", opt);
  for (const u of spec.ulimits) argv.push("--ulimit", `${u.name}=${u.soft}:${u.hard}`);
  for (const v of spec.volumes) {
    if (v.perImage && imageKey === undefined) throw new Error(`${spec.name}: ${v.hostPath} needs the image's key`);
    const host = v.perImage ? `${v.hostPath}/${imageKey}` : v.hostPath;
    argv.push("--volume", `${host}:${v.containerPath}${v.readOnly ? ":ro" : ""}`);
  }
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

/** Directory name of an image in per-image caches: the first 12 hex digits of its ID (`sha256:…`). */
export function imageKey(imageId: string): string {
  const hex = /^(?:sha256:)?([0-9a-f]{12})/.exec(imageId)?.[1];
  if (!hex) throw new Error(`not an image ID: ${imageId}`);
  return hex;
}
