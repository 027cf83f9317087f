/**
 * GPU selection without the variables that break ROCm vLLM.
 *
 * vLLM on ROCm reads `CUDA_VISIBLE_DEVICES`; `HIP_VISIBLE_DEVICES` set next to it with a different value trips an
 * assertion, and Ray ≥ 2.45 raises on `ROCR_VISIBLE_DEVICES` (guide § Tensor parallelism note; docs/facts.md#gpu-visibility).
 */
import { RELEASE_SOURCES, type VllmVersionSpec } from "../catalog/vllmVersions";
import { cite, fact, guide } from "../sources";
import type { Decisions } from "./decisions";

/** Variables rocm-vllm never sets and refuses in `extraEnv`, with the reason shown to the user. */
export const FORBIDDEN_VISIBILITY_ENV: Record<string, string> = {
  HIP_VISIBLE_DEVICES: `vLLM on ROCm reads CUDA_VISIBLE_DEVICES and asserts when HIP_VISIBLE_DEVICES differs (${guide("Tensor parallelism")})`,
  ROCR_VISIBLE_DEVICES: `Ray ≥ 2.45 raises when ROCR_VISIBLE_DEVICES is set (${fact("gpu-visibility")})`,
  CUDA_VISIBLE_DEVICES: "rocm-vllm derives it from GPU placement; use replicas/parallelism/nodes to choose GPUs",
};

/** How the release fails when HIP and CUDA visibility differ: an assertion, a ValueError from 0.17.0. */
const MISMATCH: Record<VllmVersionSpec["visibilityMismatch"], string> = {
  assertion: "an assertion fails",
  "value-error": `it raises "Inconsistent GPU visibility env vars" (${RELEASE_SOURCES.visibilityCheck})`,
};

/** Refuses visibility variables in `extraEnv`. */
export function refuseVisibilityOverrides(
  out: Decisions,
  extraEnv: Record<string, string>,
  version: VllmVersionSpec,
): void {
  for (const name of Object.keys(extraEnv)) {
    let why = FORBIDDEN_VISIBILITY_ENV[name];
    if (!why) continue;
    if (name === "HIP_VISIBLE_DEVICES") why += `; in vLLM ${version.version} ${MISMATCH[version.visibilityMismatch]}`;
    out.refuse(`.extraEnv.${name}`, extraEnv[name], `must not be set: ${why}`, `remove extraEnv.${name}`);
  }
}

/** `CUDA_VISIBLE_DEVICES` for an engine that uses only some of a node's GPUs (guide: "CUDA_VISIBLE_DEVICES=0,1 vllm serve"). */
export function visibleDevices(gpus: readonly number[], nodeGpus: number): Record<string, string> {
  if (gpus.length === nodeGpus) return {};
  return { CUDA_VISIBLE_DEVICES: gpus.join(",") };
}

/**
 * Ray deployments: stop Ray from setting HIP/ROCR visibility in its workers (the images set only the old ROCR opt-out,
 * and Ray ≥ 2.45 sets HIP_VISIBLE_DEVICES instead; docs/facts.md#gpu-visibility).
 */
export function rayVisibilityOptOut(out: Decisions, version: VllmVersionSpec): void {
  const optOuts = Object.entries(version.rayNoSetVisibilityEnv);
  for (const [name, value] of optOuts) out.setEnv(name, value, "rayVisibilityOptOut", fact("gpu-visibility"));
  if (optOuts.length === 0) {
    out.note(
      `no RAY_EXPERIMENTAL_NOSET_* variables: vLLM ${version.version}'s Ray executor sets them in its workers`,
      "rayVisibilityOptOut",
      cite(fact("gpu-visibility"), RELEASE_SOURCES.rayNoSetByVllm),
    );
  }
}
