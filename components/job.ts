/**
 * One-shot jobs of the plan (`NodePlan.jobs`: weight downloads, benchmarks): `docker run --rm` in the foreground over
 * SSH, so the job's exit status is the command's and a failed job fails `pulumi up`. A `docker.Container` would not
 * do: the provider neither waits for a detached container to finish nor fails on its exit code.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { dockerJobArgv } from "../planner/scripts/dockerRun";
import { shellJoin, shellQuote } from "../planner/scripts/shellQuote";
import type { ContainerSpec, JobPlan } from "../planner/types";
import { COMMAND_LOGGING, nodeConnection } from "./connection";
import type { SecretEnv } from "./gpuContainer";
import type { Node } from "./node";

/** Time a job may take: a first download of a 400B-parameter checkpoint runs for hours. */
export const JOB_TIMEOUT = "6h";

/**
 * The shell run on the node: read the job's secrets from stdin (never on a command line, in a file or in the
 * command text), remove a leftover container of the same name from an interrupted run, and run the container to
 * completion with exactly the plan's `docker run` flags (`--rm` instead of `--detach`).
 */
export function jobScript(spec: ContainerSpec): string {
  return [
    "set -eu",
    `# rocm-vllm job ${spec.name} (${spec.role} of ${spec.deployment}): runs to completion.`,
    ...spec.secretEnv.map((key) => `IFS= read -r ${key}; export ${key}`),
    `docker rm --force ${shellQuote(spec.name)} >/dev/null 2>&1 || true`,
    `exec ${shellJoin(["docker", ...dockerJobArgv(spec)])}`,
    "",
  ].join("\n");
}

/** The job's secret values, one line each in `secretEnv` order, as a secret Output; undefined without secrets. */
export function jobStdin(spec: ContainerSpec, secrets: SecretEnv): pulumi.Output<string> | undefined {
  if (spec.secretEnv.length === 0) return undefined;
  const values = spec.secretEnv.map((key) => {
    const value = secrets[key];
    if (value === undefined) throw new Error(`job ${spec.name} needs the secret ${key}, which is not configured`);
    return value;
  });
  return pulumi.secret(pulumi.all(values).apply((v) => `${v.join("\n")}\n`));
}

export interface JobArgs {
  job: JobPlan;
  node: Node;
  secrets: SecretEnv;
  sshPrivateKey: pulumi.Output<string> | undefined;
  /** What must be done first: the image pull on the node (`after: image`) or the deployment's gates (`readiness`). */
  dependsOn: pulumi.Resource[];
}

/** Runs a job once, and again only when the plan's `trigger` for it changes. */
export function createJob(logicalName: string, args: JobArgs, parent: pulumi.Resource): command.remote.Command {
  const spec = args.job.container;
  const stdin = jobStdin(spec, args.secrets);
  return new command.remote.Command(
    logicalName,
    {
      connection: nodeConnection(args.node.plan, args.sshPrivateKey),
      create: jobScript(spec),
      ...(stdin !== undefined ? { stdin } : {}),
      triggers: [args.job.trigger],
      logging: COMMAND_LOGGING,
      addPreviousOutputInEnv: false,
    },
    { parent, dependsOn: args.dependsOn, customTimeouts: { create: JOB_TIMEOUT, update: JOB_TIMEOUT } },
  );
}
