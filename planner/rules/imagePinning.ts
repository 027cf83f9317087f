/**
 * Images must not move under a deployment. Nodes pull an image only when its reference changes (Pulumi) or when it
 * is absent (exported scripts), so a tag that moves (`latest`, `nightly`, a `*-dev` repository) leaves nodes on
 * different builds, and a later pull changes vLLM without any change to the stack; the README promises pinned images.
 * Multi-node vLLM broke when users moved from a versioned image to `rocm/vllm:latest` (ROCm/ROCm#5656).
 */
import type { ClusterConfig, DeploymentConfig } from "../config/schema";
import type { Warning } from "../types";

/** Tags that name a moving target rather than one build. */
const MOVING_TAGS = new Set(["latest", "nightly", "main", "master", "dev", "develop", "edge", "stable", "base", "rc"]);
/** Repositories whose every tag moves (AMD's development builds). */
const MOVING_REPOSITORIES = new Set(["rocm/vllm-dev"]);

/** Repository and tag of a reference (`registry:5000/org/name:tag`); a missing tag is Docker's `latest`. */
function splitRef(ref: string): { repository: string; tag: string } {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  return colon > slash
    ? { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) }
    : { repository: ref, tag: "latest" };
}

/** Why an image reference can move, or `undefined` when it is pinned (a digest, or a versioned tag). */
export function movingImage(ref: string): string | undefined {
  if (ref.includes("@sha256:")) return undefined;
  const { repository, tag } = splitRef(ref);
  if (MOVING_REPOSITORIES.has(repository)) return `every tag of ${repository} is rebuilt`;
  if (MOVING_TAGS.has(tag.toLowerCase())) return `the tag ${tag} moves to new builds`;
  return undefined;
}

/** Warns about every image reference of the stack that can move: the cluster image and the balancers' images. */
export function movableImageTags(cluster: ClusterConfig, deployments: readonly DeploymentConfig[]): Warning[] {
  const refs = [
    { path: "rocm-vllm:cluster.image", ref: cluster.image },
    ...deployments.flatMap((d, i) =>
      d.loadBalancer ? [{ path: `rocm-vllm:deployments[${i}].loadBalancer.image`, ref: d.loadBalancer.image }] : [],
    ),
  ];
  return refs.flatMap(({ path, ref }) => {
    const why = movingImage(ref);
    if (!why) return [];
    return [
      {
        code: "movable-image-tag",
        path,
        message: `${ref} can move (${why}): nodes pull it only when absent or when the reference changes, so they may run different builds and vLLM can change without a stack change; pin a versioned tag or a digest (${splitRef(ref).repository}@sha256:…)`,
      },
    ];
  });
}
