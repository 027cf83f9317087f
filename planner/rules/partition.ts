/**
 * Partitioned GPUs: what one logical GPU is, and which `gpus` counts a node can have.
 *
 * MI300/MI350-series GPUs split into 1, 2, 4 or 8 logical GPUs (SPX, DPX, QPX, CPX), each with an even share of the
 * HBM; an 8-GPU node therefore shows 8, 16, 32 or 64 GPUs (catalog `PARTITION_MODES`). A count that matches no mode
 * would size memory as whole GPUs or pack what needs two nodes onto one, so it is refused with the mode that fits.
 */
import { type GpuSpec, PARTITION_MODES, type PartitionMode, XGMI_ISLAND_GPUS } from "../catalog/gpus";
import type { ClusterConfig } from "../config/schema";
import { problem } from "../problems";
import type { Problem } from "../types";

const SOURCE = "https://rocm.docs.amd.com/projects/amdsmi/en/latest/conceptual/partition.html";

/** The GPU as one logical GPU of the cluster's partition mode: HBM divided by the logical GPUs per physical GPU. */
export function partitionedGpu(gpu: GpuSpec, mode: PartitionMode): GpuSpec {
  const n = PARTITION_MODES[mode];
  return n === 1 ? gpu : { ...gpu, hbmGiB: Math.round((gpu.hbmGiB / n) * 100) / 100 };
}

/** Every node's `gpus` must be whole physical GPUs in the partition mode, at most 8 of them (one XGMI island). */
export function checkNodeGpuCounts(cluster: ClusterConfig, gpu: GpuSpec, problems: Problem[]): void {
  const n = PARTITION_MODES[cluster.partition];
  const max = XGMI_ISLAND_GPUS * n;
  cluster.nodes.forEach((node, i) => {
    if (node.gpus % n === 0 && node.gpus <= max) return;
    const fits = (Object.entries(PARTITION_MODES) as [PartitionMode, number][]).find(
      ([, k]) => node.gpus % k === 0 && node.gpus <= XGMI_ISLAND_GPUS * k,
    );
    const hint = fits
      ? ` If the node's GPUs are partitioned, set rocm-vllm:cluster.partition: ${fits[0]} (${node.gpus / fits[1]} ${gpu.displayName} × ${fits[1]} logical GPUs).`
      : "";
    problems.push(
      problem(
        `rocm-vllm:cluster.nodes[${i}].gpus`,
        node.gpus,
        `an ${gpu.displayName} node has at most ${XGMI_ISLAND_GPUS} GPUs; in ${cluster.partition.toUpperCase()} mode each is ${n} logical GPU(s), so gpus must be a multiple of ${n} up to ${max} (${SOURCE})`,
        `set gpus to the node's logical GPU count (amd-smi list).${hint}`,
      ),
    );
  });
}
