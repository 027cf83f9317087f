/**
 * One GPU node: the host preflight, the Docker daemon reached over SSH, and the images its containers and jobs run.
 *
 * Every Docker resource of the node names this component's provider explicitly, so a forgotten `provider` can never
 * fall back to the Docker socket of the machine running `pulumi`.
 */
import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { sshOptions } from "../planner/scripts/sshOptions";
import type { NodePlan } from "../planner/types";
import { COMMAND_LOGGING, nodeConnection } from "./connection";

/** How long the preflight may take: a handful of local checks, plus the SSH dial. */
export const PREFLIGHT_TIMEOUT = "5m";

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

export interface NodeArgs {
  /** The node as planned: SSH settings and the containers it runs. */
  node: NodePlan;
  /** The cluster image (`Plan.cluster.image`); it is pulled under the short name `<node>-image`. */
  clusterImage: string;
  /** SSH key material for the preflight command; ssh-agent is used when absent. */
  sshPrivateKey: pulumi.Output<string> | undefined;
}

/**
 * A node's preflight, Docker provider and image pulls. Pulls wait for the node's own preflight only, so every node
 * checks and pulls at once. Only images that the node runs are pulled (an idle node gets a provider and a preflight).
 */
export class Node extends pulumi.ComponentResource {
  readonly plan: NodePlan;
  readonly provider: docker.Provider;
  /** Host checks (`NodePlan.preflight`); absent with `preflight: false`. */
  readonly preflight: command.remote.Command | undefined;
  private readonly images: ReadonlyMap<string, docker.RemoteImage>;

  constructor(name: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rocm-vllm:index:Node", name, {}, opts);
    this.plan = args.node;
    this.provider = new docker.Provider(
      `${name}-docker`,
      { host: dockerSshHost(args.node), sshOpts: dockerSshOpts(args.node) },
      { parent: this },
    );
    const preflight = args.node.preflight;
    this.preflight = preflight
      ? new command.remote.Command(
          `${name}-preflight`,
          {
            connection: nodeConnection(args.node, args.sshPrivateKey),
            create: preflight.script,
            logging: COMMAND_LOGGING,
            addPreviousOutputInEnv: false,
          },
          { parent: this, customTimeouts: { create: PREFLIGHT_TIMEOUT, update: PREFLIGHT_TIMEOUT } },
        )
      : undefined;
    const images = new Map<string, docker.RemoteImage>();
    for (const image of nodeImages(args.node)) {
      images.set(
        image,
        new docker.RemoteImage(
          imageResourceName(name, image, args.clusterImage),
          // Multi-GB images stay on the node when the stack is destroyed or the tag changes: re-pulling costs minutes.
          { name: image, keepLocally: true },
          {
            parent: this,
            provider: this.provider,
            // A node that fails its checks pulls nothing: the preflight says why, a failed pull would not.
            ...(this.preflight ? { dependsOn: [this.preflight] } : {}),
            customTimeouts: { create: IMAGE_PULL_TIMEOUT, update: IMAGE_PULL_TIMEOUT },
          },
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
