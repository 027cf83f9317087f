/**
 * One GPU node: the Docker daemon reached over SSH and the images its containers run.
 *
 * Every Docker resource of the node names this component's provider explicitly, so a forgotten `provider` can never
 * fall back to the Docker socket of the machine running `pulumi`.
 */
import { createHash } from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NodePlan } from "../planner/types";

/** How long one image pull may take: ROCm vLLM images are tens of GB (the provider's default is 20 minutes). */
export const IMAGE_PULL_TIMEOUT = "60m";

/** `ssh://user@host:port`, with IPv6 literals in brackets, as `docker -H` expects. */
export function dockerSshHost(node: Pick<NodePlan, "host" | "ssh">): string {
  const host = node.host.includes(":") ? `[${node.host}]` : node.host;
  return `ssh://${node.ssh.user}@${host}:${node.ssh.port}`;
}

/**
 * Options for the local `ssh` the Docker provider spawns: never prompt (BatchMode, so a missing key fails fast instead
 * of hanging `pulumi up`), learn unknown host keys once and refuse changed ones, and notice dead connections during
 * long pulls.
 */
export function dockerSshOpts(node: Pick<NodePlan, "ssh">): string[] {
  const opts = node.ssh.identityFile ? ["-i", node.ssh.identityFile, "-o", "IdentitiesOnly=yes"] : [];
  return [
    ...opts,
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
}

/**
 * A node's Docker provider and image pulls. Pulls happen on every node at once: nothing here depends on another node.
 * Only images that the node's containers use are pulled (an idle node gets a provider and nothing else).
 */
export class Node extends pulumi.ComponentResource {
  readonly plan: NodePlan;
  readonly provider: docker.Provider;
  private readonly images: ReadonlyMap<string, docker.RemoteImage>;

  constructor(name: string, args: NodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rocm-vllm:index:Node", name, {}, opts);
    this.plan = args.node;
    this.provider = new docker.Provider(
      `${name}-docker`,
      { host: dockerSshHost(args.node), sshOpts: dockerSshOpts(args.node) },
      { parent: this },
    );
    const wanted = [...new Set(args.node.containers.map((c) => c.image))].sort();
    const images = new Map<string, docker.RemoteImage>();
    for (const image of wanted) {
      images.set(
        image,
        new docker.RemoteImage(
          imageResourceName(name, image, args.clusterImage),
          // Multi-GB images stay on the node when the stack is destroyed or the tag changes: re-pulling costs minutes.
          { name: image, keepLocally: true },
          {
            parent: this,
            provider: this.provider,
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
