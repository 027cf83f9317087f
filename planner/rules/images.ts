/**
 * Image references: a digest (`repo@sha256:…`) pins the exact content; a tag pins only a name, and a tag without a
 * version in it (`latest`, `nightly`, `stable`) is re-pointed by its publisher. Neither the Pulumi Docker provider nor
 * the exported scripts pull a tag again once it is on a node (kreuzwerker/terraform-provider-docker#172: a re-pushed
 * tag is never re-pulled), so two nodes pulling a movable tag at different times can run different images.
 */
import type { DeploymentConfig } from "../config/schema";
import type { Warning } from "../types";

/** The tag of a reference, if it has one and no digest: `rocm/vllm:latest` → `latest`. */
function tagOf(image: string): string | undefined {
  if (image.includes("@sha256:")) return undefined;
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  return colon >= 0 ? image.slice(colon + 1) : "latest";
}

/** Whether a reference can point at other content later: no digest, and a tag that is `latest` or has no digit. */
export function isMovableTag(image: string): boolean {
  const tag = tagOf(image);
  return tag !== undefined && (tag === "latest" || !/\d/.test(tag));
}

/** The warning for a movable reference at a config path (also used for other images by other rules). */
export function movableTagWarning(path: string, image: string): Warning {
  return {
    code: "movable-image-tag",
    path,
    message: `${image} is a tag its publisher can re-point: a node pulls it once and keeps that content (a re-pushed tag is never pulled again, kreuzwerker/terraform-provider-docker#172), so nodes can run different images; pin a versioned tag or a digest (repo@sha256:…)`,
  };
}

/** Warnings for every movable image reference of a stack: the cluster image and each load balancer's image. */
export function imageWarnings(image: string, deployments: readonly DeploymentConfig[]): Warning[] {
  const warnings: Warning[] = [];
  if (isMovableTag(image)) warnings.push(movableTagWarning("rocm-vllm:cluster.image", image));
  deployments.forEach((d, i) => {
    const lb = d.loadBalancer?.image;
    if (lb !== undefined && isMovableTag(lb)) {
      warnings.push(movableTagWarning(`rocm-vllm:deployments[${i}].loadBalancer.image`, lb));
    }
  });
  return warnings;
}
