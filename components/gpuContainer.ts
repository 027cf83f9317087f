/**
 * Translation of a planned `ContainerSpec` into a `docker.Container`: one field to one property, nothing decided here.
 *
 * Shared by the Ray cluster and the vLLM deployment components so both run containers the same way.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { goDuration } from "../planner/rules/healing";
import { imageKey } from "../planner/scripts/dockerRun";
import type { ContainerSpec, Plan } from "../planner/types";
import type { Node } from "./node";
import { PHASE } from "./sessions";

/**
 * Secret values the program can supply to containers and steps, by environment variable name (`HF_TOKEN`,
 * `VLLM_API_KEY`).
 * A container receives a secret only when its spec lists the name in `secretEnv`.
 */
export type SecretEnv = Readonly<Record<string, pulumi.Output<string> | undefined>>;

/**
 * Secret names the plan's containers ask for that `secrets` has no value for, as `container (node): NAME` lines.
 * Checked before any resource is registered, so a missing token fails the program cleanly.
 */
export function missingSecrets(plan: Plan, secrets: SecretEnv): string[] {
  return plan.nodes.flatMap((n) =>
    [...n.containers, ...n.services, ...n.jobs.map((j) => j.container)].flatMap((c) =>
      c.secretEnv.filter((key) => secrets[key] === undefined).map((key) => `${c.name} (${n.name}): ${key}`),
    ),
  );
}

function sortedEnv(pairs: [string, string][]): string[] {
  return [...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
}

/**
 * `envs` for a container: the plan's env as sorted `K=V` strings, plus the secrets it lists. When any secret is
 * included the whole list is a secret Output, so the token never appears in plaintext in state, diffs or logs.
 */
export function containerEnvs(
  spec: ContainerSpec,
  secrets: SecretEnv,
  parent: pulumi.Resource,
): pulumi.Input<string[]> {
  const plain = Object.entries(spec.env).filter(([k]) => !spec.secretEnv.includes(k));
  if (spec.secretEnv.length === 0) return sortedEnv(plain);
  const secretPairs = spec.secretEnv.map((key) => {
    const value = secrets[key];
    if (value === undefined) {
      throw new pulumi.ResourceError(
        `container ${spec.name} needs the secret ${key}, but the program has no value for it (set rocm-vllm:hfToken or rocm-vllm:apiKey with pulumi config set --secret)`,
        parent,
      );
    }
    return value.apply((v): [string, string] => [key, v]);
  });
  return pulumi.secret(pulumi.all(secretPairs).apply((pairs) => sortedEnv([...plain, ...pairs])));
}

/** The `docker.Container` inputs for a planned container, running the image pulled on `node`. */
export function containerArgs(
  spec: ContainerSpec,
  node: Node,
  secrets: SecretEnv,
  parent: pulumi.Resource,
): docker.ContainerArgs {
  // The image ID, not the tag: a new pull with new content replaces the container; an unchanged one does not.
  const imageId = node.image(spec.image).imageId;
  const h = spec.healthcheck;
  return {
    name: spec.name,
    image: imageId,
    restart: spec.restart,
    mustRun: true,
    init: spec.init,
    labels: Object.entries(spec.labels).map(([label, value]) => ({ label, value })),
    envs: containerEnvs(spec, secrets, parent),
    entrypoints: spec.entrypoint,
    command: spec.command,
    devices: spec.devices.map((path) => ({ hostPath: path, containerPath: path, permissions: "rwm" })),
    groupAdds: spec.groupAdd,
    ipcMode: spec.ipcMode,
    networkMode: spec.networkMode,
    ...(spec.shmSizeMb !== undefined ? { shmSize: spec.shmSizeMb } : {}),
    securityOpts: spec.securityOpt,
    capabilities: { adds: spec.capAdd },
    ulimits: spec.ulimits.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })),
    volumes: spec.volumes.map((v) => ({
      // A per-image cache directory is keyed by the ID of the image pulled on this node.
      hostPath: v.perImage ? imageId.apply((id) => `${v.hostPath}/${imageKey(id)}`) : v.hostPath,
      containerPath: v.containerPath,
      readOnly: v.readOnly,
    })),
    // Docker's own stop timeout (docker stop, the daemon shutting down) and the provider's on delete or replace.
    stopTimeout: spec.stopGraceSeconds,
    destroyGraceSeconds: spec.stopGraceSeconds,
    ...(h
      ? {
          healthcheck: {
            tests: h.test,
            interval: goDuration(h.intervalSeconds),
            timeout: goDuration(h.timeoutSeconds),
            retries: h.retries,
            startPeriod: goDuration(h.startPeriodSeconds),
          },
        }
      : {}),
  };
}

/**
 * Creates the container on its node's Docker daemon, under `parent`, with the node's provider. `aliases` lets a
 * container keep its identity when it moves between component types (see `createDeployment`); `dependsOn` holds it
 * back until its node's weight download is done.
 */
export function createGpuContainer(
  logicalName: string,
  spec: ContainerSpec,
  node: Node,
  secrets: SecretEnv,
  parent: pulumi.Resource,
  opts: ContainerOptions = {},
): docker.Container {
  return createContainer(logicalName, spec, containerArgs(spec, node, secrets, parent), node, parent, opts);
}

export interface ContainerOptions {
  aliases?: pulumi.Input<pulumi.Alias>[];
  dependsOn?: pulumi.Resource[];
  /** The node's session lane stage: the container's rolling-update wave (0 otherwise). */
  stage?: number;
}

/** A container from inputs already built by `containerArgs` (a rolling update hashes them into its triggers). */
export function createContainer(
  logicalName: string,
  spec: ContainerSpec,
  args: docker.ContainerArgs,
  node: Node,
  parent: pulumi.Resource,
  opts: ContainerOptions = {},
): docker.Container {
  const place = node.sessions.place(PHASE.container, opts.stage);
  const image = node.image(spec.image);
  return place.bind(
    new docker.Container(logicalName, args, {
      parent,
      provider: node.provider,
      // Fixed Docker names: a replacement must delete first, also when the engine forces it (`pulumi up --replace`,
      // a replaced provider), where no provider diff asks for it.
      deleteBeforeReplace: true,
      ...(opts.aliases && opts.aliases.length > 0 ? { aliases: opts.aliases } : {}),
      dependsOn: place.dependsOn([image, ...(opts.dependsOn ?? [])]),
    }),
  );
}
