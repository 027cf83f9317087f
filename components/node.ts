/**
 * One GPU node: its host-key check, the host preflight, the Docker daemon reached over SSH, and the images its
 * containers and jobs run.
 *
 * Every Docker resource of the node names this component's provider explicitly, so a forgotten `provider` can never
 * fall back to the Docker socket of the machine running `pulumi`. Everything that reaches the node over ssh takes a
 * place in the node's session lanes (`sessions`), which bound how many connections the node sees at once.
 */
import { createHash } from "node:crypto";
import type * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { preflightStep } from "../planner/scripts/nodeSteps";
import { sshOptions } from "../planner/scripts/sshOptions";
import type { NodePlan } from "../planner/types";
import { createNodeStep, createSshCheck } from "./nodeStep";
import { NodeSessions, PHASE } from "./sessions";

/** Every image the node runs: its GPU containers, its services and its jobs. */
export function nodeImages(node: Pick<NodePlan, "containers" | "services" | "jobs">): string[] {
  const specs = [...node.containers, ...node.services, ...node.jobs.map((j) => j.container)];
  return [...new Set(specs.map((c) => c.image))].sort();
}

/** How long one image pull may take: ROCm vLLM images are tens of GB (the provider's default is 20 minutes). */
export const IMAGE_PULL_TIMEOUT = "60m";

/** `ssh://user@host:port`, with IPv6 literals in brackets, as `docker -H` expects. */
export function dockerSshHost(node: Pick<NodePlan, "host" | "ssh">): string {
  const host = node.host.includes(":") ? `[${node.host}]` : node.host;
  return `ssh://${node.ssh.user}@${host}:${node.ssh.port}`;
}

/** Options for the local `ssh` the Docker provider spawns: the same as every other ssh rocm-vllm starts. */
export function dockerSshOpts(node: Pick<NodePlan, "ssh">): string[] {
  return sshOptions(node.ssh);
}

/** Logical name of an image pull: the cluster image keeps a short name, others get a stable digest of the ref. */
function imageResourceName(nodeName: string, image: string, primary: string): string {
  if (image === primary) return `${nodeName}-image`;
  return `${nodeName}-image-${createHash("sha256").update(image).digest("hex").slice(0, 8)}`;
}

/** Registry login of the Docker provider: the password is the secret `rocm-vllm:registryPassword`. */
export interface RegistryLogin {
  address: string;
  username: string;
  password: pulumi.Output<string>;
}

export interface NodeArgs {
  /** The node as planned: SSH settings and the containers it runs. */
  node: NodePlan;
  /** The cluster image (`Plan.cluster.image`); it is pulled under the short name `<node>-image`. */
  clusterImage: string;
  /** Registry login for the pulls, when the stack has one. */
  registry?: RegistryLogin;
}

/**
 * A node's host-key check, preflight, Docker provider and image pulls. Pulls wait for the node's own checks only, so
 * every node checks and pulls at once. Only images that the node runs are pulled (an idle node gets a provider and
 * its checks).
 */
export class Node extends pulumi.ComponentResource {
  readonly plan: NodePlan;
  readonly provider: docker.Provider;
  /** The node's ssh lanes: every resource reaching the node takes a place in them. */
  readonly sessions: NodeSessions;
  /** Refuses a node whose host key is unknown or changed, before anything else runs there. */
  readonly sshCheck: command.local.Command;
  /** Host checks (`NodePlan.preflight`); absent with `preflight: false`. */
  readonly preflight: command.local.Command | undefined;
  private readonly images: ReadonlyMap<string, docker.RemoteImage>;

  constructor(name: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rocm-vllm:index:Node", name, {}, opts);
    this.plan = args.node;
    this.sessions = new NodeSessions(args.node.name);
    this.provider = new docker.Provider(
      `${name}-docker`,
      {
        host: dockerSshHost(args.node),
        sshOpts: dockerSshOpts(args.node),
        ...(args.registry
          ? {
              registryAuth: [
                { address: args.registry.address, username: args.registry.username, password: args.registry.password },
              ],
            }
          : {}),
      },
      { parent: this },
    );
    const check = this.sessions.place(PHASE.check);
    this.sshCheck = check.bind(createSshCheck(`${name}-ssh-check`, args.node, this, check.dependsOn()));
    const step = preflightStep(args.node);
    if (step) {
      const place = this.sessions.place(PHASE.preflight);
      this.preflight = place.bind(
        createNodeStep(
          `${name}-preflight`,
          { node: args.node, step, dependsOn: place.dependsOn([this.sshCheck]) },
          this,
        ),
      );
    }
    // A node that fails its checks pulls nothing: the checks say why, a failed pull would not.
    const ready = this.preflight ?? this.sshCheck;
    const images = new Map<string, docker.RemoteImage>();
    for (const image of nodeImages(args.node)) {
      const place = this.sessions.place(PHASE.image);
      images.set(
        image,
        place.bind(
          new docker.RemoteImage(
            imageResourceName(name, image, args.clusterImage),
            // Multi-GB images stay on the node when the stack is destroyed or the tag changes: re-pulling costs minutes.
            { name: image, keepLocally: true },
            {
              parent: this,
              provider: this.provider,
              dependsOn: place.dependsOn([ready]),
              customTimeouts: { create: IMAGE_PULL_TIMEOUT, update: IMAGE_PULL_TIMEOUT },
            },
          ),
        ),
      );
    }
    this.images = images;
    this.registerOutputs({});
  }

  /** The pulled image a container on this node runs; a container naming an image the node did not pull is a bug. */
  image(ref: string): docker.RemoteImage {
    const image = this.images.get(ref);
    if (!image) throw new pulumi.ResourceError(`image ${ref} is not pulled on node ${this.plan.name}`, this);
    return image;
  }
}
