/**
 * Guide § "Performance environment variables": HIP and math-library settings every GPU container gets, and the RCCL
 * channel count for deployments whose ranks talk to each other.
 */

import { fact, guide } from "../sources";
import type { Decisions } from "./decisions";

const SECTION = guide("Performance environment variables");

/** `HIP_FORCE_DEV_KERNARG=1` and `TORCH_BLAS_PREFER_HIPBLASLT=1` on every GPU container. */
export function hipAndBlasEnv(out: Decisions): void {
  // Already set in rocm/vllm images; set again so bare or upstream images behave the same.
  out.setEnv("HIP_FORCE_DEV_KERNARG", "1", "hipAndBlasEnv", SECTION);
  out.setEnv("TORCH_BLAS_PREFER_HIPBLASLT", "1", "hipAndBlasEnv", SECTION);
}

/**
 * `NCCL_MIN_NCHANNELS=112` only for deployments that use more than one GPU per engine (the guide: "Single-GPU
 * inference does not need this"). RCCL caps it at 64 when ranks span nodes (docs/facts.md#rccl-channels-across-nodes), which is harmless.
 */
export function rcclChannels(out: Decisions, gpusPerEngine: number, spansNodes: boolean): void {
  if (gpusPerEngine <= 1) return;
  out.setEnv("NCCL_MIN_NCHANNELS", "112", "rcclChannels", SECTION);
  if (spansNodes)
    out.note("RCCL caps NCCL_MIN_NCHANNELS at 64 across nodes", "rcclChannels", fact("rccl-channels-across-nodes"));
}
