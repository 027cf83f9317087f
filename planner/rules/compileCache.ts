/**
 * Warm restarts: what vLLM compiles at start (torch.compile graphs and their Inductor/Triton kernels under
 * `VLLM_CACHE_ROOT`, vllm v0.11.1 vllm/envs.py and vllm/compilation/compiler_interface.py) and what Triton JIT-compiles
 * outside them (`TRITON_CACHE_DIR`, triton python/triton/runtime/cache.py) is kept on the node's local disk, so a
 * restarted container finds it instead of compiling again.
 *
 * One directory per container and image (`<path>/<container>/<image ID>`): a new image never reads another image's
 * artifacts, and no two containers write the same files at once. Never on shared storage: the caches are written
 * without locking across hosts. AITER's JIT output is not persisted: `AITER_JIT_DIR` has been reported to hang vLLM's
 * start (ROCm/aiter#3635, vLLM 0.22.1), so AITER keeps building inside the container.
 */
import type { ClusterConfig } from "../config/schema";
import type { VolumeMount } from "../types";
import type { Decisions } from "./decisions";

/** Where the per-container cache directory is mounted inside the container. */
export const COMPILE_CACHE_IN_CONTAINER = "/root/.cache/rocm-vllm";

const SOURCE =
  "vllm v0.11.1 vllm/envs.py (VLLM_CACHE_ROOT), vllm/compilation/compiler_interface.py (Inductor and Triton caches of compiled graphs under it); triton python/triton/runtime/cache.py (TRITON_CACHE_DIR)";

/** Sets the cache variables for a deployment's containers; `false` when the cluster turns the cache off. */
export function compileCache(out: Decisions, cluster: ClusterConfig): boolean {
  if (!cluster.compileCache.enabled) {
    out.note("compile caches off (compileCache.enabled false): every start compiles again", "compileCache", SOURCE);
    return false;
  }
  out.setEnv("VLLM_CACHE_ROOT", `${COMPILE_CACHE_IN_CONTAINER}/vllm`, "compileCache", SOURCE);
  out.setEnv("TRITON_CACHE_DIR", `${COMPILE_CACHE_IN_CONTAINER}/triton`, "compileCache", SOURCE);
  out.note(
    `compile caches on the node's local disk: ${cluster.compileCache.path}/<container>/<image ID>; AITER JIT not persisted`,
    "compileCache",
    "ROCm/aiter#3635 (AITER_JIT_DIR hangs vLLM start)",
  );
  return true;
}

/** The cache mount of one container: its own directory, keyed by the image it runs. */
export function compileCacheVolume(cluster: ClusterConfig, container: string): VolumeMount {
  return {
    hostPath: `${cluster.compileCache.path}/${container}`,
    containerPath: COMPILE_CACHE_IN_CONTAINER,
    readOnly: false,
    perImage: true,
  };
}
