/**
 * How the program runs a step on a node: the system `ssh` of the machine running `pulumi`, started by a
 * `command.local.Command` with the same options the node's Docker provider uses (`planner/scripts/sshOptions.ts`),
 * so credentials (ssh-agent, `ssh.identityFile`, `~/.ssh/config`), the strict host-key policy and the bastion are the
 * same for every connection. The step's text (a guarded script, `planner/scripts/remoteStep.ts`) and any secrets go
 * on ssh's standard input to `sh -s`: never on a command line, in a file or in the node's login shell.
 *
 * `ssh` is exec'ed, so when Pulumi kills the command (its timeout, Ctrl-C) the connection closes, and the guard on the
 * node stops the step: nothing keeps running there.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { NodeStep } from "../planner/scripts/nodeSteps";
import { shellJoin, shellQuoteAlways } from "../planner/scripts/shellQuote";
import { sshArgv, sshCheckScript } from "../planner/scripts/sshOptions";
import type { NodePlan } from "../planner/types";

/** Streams a step's output into `pulumi up`: progress, and on failure the reason the step prints. */
export const COMMAND_LOGGING = "stdoutAndStderr" as const;

/** Time Pulumi gives a step beyond its limit on the node (ssh connect, the guard's cleanup and report). */
export const STEP_TIMEOUT_MARGIN_SECONDS = 120;

/** How long the host-key check may take: one connection (ssh's ConnectTimeout is 30 s). */
export const SSH_CHECK_TIMEOUT = "2m";

/** The local `sh` command of a step: ssh to the node running `sh -s`, which reads the step from stdin. */
export function stepCommand(node: Pick<NodePlan, "name" | "host" | "ssh">, phase: string): string {
  return [
    `# rocm-vllm: ${phase.replace(/\n/g, " ")} on ${node.name}: the step arrives on stdin and is guarded on the node.`,
    `exec ${shellJoin([...sshArgv(node), "sh -s"])}`,
    "",
  ].join("\n");
}

/** `export NAME='value'` lines that put secrets in the step's environment, as the first lines of its stdin. */
export function secretExports(secrets: readonly { name: string; value: string }[]): string {
  return secrets.map((s) => `export ${s.name}=${shellQuoteAlways(s.value)}\n`).join("");
}

export interface NodeStepArgs {
  node: Pick<NodePlan, "name" | "host" | "ssh">;
  step: NodeStep;
  /** Secret values the step needs in its environment (e.g. HF_TOKEN for a weight download). */
  secrets?: { name: string; value: pulumi.Output<string> }[];
  /** Values whose change re-runs the step (e.g. the IDs of the containers a gate checks). */
  triggers?: pulumi.Input<unknown>[];
  dependsOn: pulumi.Input<pulumi.Input<pulumi.Resource>[]>;
}

/** Runs a guarded step on a node over ssh; fails `pulumi up` when the step fails, times out or is refused. */
export function createNodeStep(
  logicalName: string,
  args: NodeStepArgs,
  parent: pulumi.Resource,
): command.local.Command {
  const secrets = args.secrets ?? [];
  const stdin =
    secrets.length === 0
      ? args.step.script
      : pulumi.secret(
          pulumi
            .all(secrets.map((s) => s.value))
            .apply(
              (values) =>
                secretExports(secrets.map((s, i) => ({ name: s.name, value: values[i] ?? "" }))) + args.step.script,
            ),
        );
  const timeout = `${args.step.timeoutSeconds + STEP_TIMEOUT_MARGIN_SECONDS}s`;
  return new command.local.Command(
    logicalName,
    {
      create: stepCommand(args.node, args.step.phase),
      stdin,
      ...(args.triggers ? { triggers: args.triggers } : {}),
      logging: COMMAND_LOGGING,
      // PULUMI_COMMAND_STDOUT would only feed a step its own previous output, which none reads.
      addPreviousOutputInEnv: false,
    },
    { parent, dependsOn: args.dependsOn, customTimeouts: { create: timeout, update: timeout } },
  );
}

/** The node's host-key check: one ssh session, before anything else runs on the node (see `sshCheckScript`). */
export function createSshCheck(
  logicalName: string,
  node: Pick<NodePlan, "name" | "host" | "ssh">,
  parent: pulumi.Resource,
  dependsOn: pulumi.Input<pulumi.Input<pulumi.Resource>[]>,
): command.local.Command {
  return new command.local.Command(
    logicalName,
    { create: sshCheckScript(node), logging: COMMAND_LOGGING, addPreviousOutputInEnv: false },
    { parent, dependsOn, customTimeouts: { create: SSH_CHECK_TIMEOUT, update: SSH_CHECK_TIMEOUT } },
  );
}
