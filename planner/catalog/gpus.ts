/**
 * AMD Instinct GPUs the tool deploys to. HBM decides what fits; the gfx target decides which quantization formats
 * run natively (MXFP4 only on gfx950).
 *
 * Sources: guide "Maximizing instances per node" (HBM capacities); docs/facts.md#gpu-hardware.
 */
import type { gpuModels } from "../config/schema";

export type GpuModel = (typeof gpuModels)[number];

export interface GpuSpec {
  model: GpuModel;
  displayName: string;
  /** LLVM target of the compute die. */
  gfx: "gfx942" | "gfx950";
  /** HBM per GPU in GiB, as PyTorch reports it. */
  hbmGiB: number;
  /** Native MXFP4/MXFP6 support (OCP microscaling). */
  mxfp4: boolean;
  /** FP8 flavour: gfx942 uses FNUZ, gfx950 OCP (vLLM converts OCP checkpoints on gfx942). */
  fp8: "fnuz" | "ocp";
}

export const GPUS: Record<GpuModel, GpuSpec> = {
  mi300x: { model: "mi300x", displayName: "MI300X", gfx: "gfx942", hbmGiB: 192, mxfp4: false, fp8: "fnuz" },
  mi325x: { model: "mi325x", displayName: "MI325X", gfx: "gfx942", hbmGiB: 256, mxfp4: false, fp8: "fnuz" },
  mi350x: { model: "mi350x", displayName: "MI350X", gfx: "gfx950", hbmGiB: 288, mxfp4: true, fp8: "ocp" },
  mi355x: { model: "mi355x", displayName: "MI355X", gfx: "gfx950", hbmGiB: 288, mxfp4: true, fp8: "ocp" },
};

/** GPUs joined by XGMI in one fully connected island: the natural maximum tensor-parallel size (docs/facts.md#gpu-hardware). */
export const XGMI_ISLAND_GPUS = 8;

/**
 * Compute partition modes of the MI300 and MI350 series: each physical GPU appears as this many logical GPUs (one per
 * XCD in CPX), and each logical GPU gets an even share of the HBM — amdgpu divides a memory partition evenly among
 * the compute partitions on it, so NPS1 and NPS4 give the same share (AMD SMI partition docs
 * https://rocm.docs.amd.com/projects/amdsmi/en/latest/conceptual/partition.html, "On MI300X: SPX=>1, DPX=>2, QPX=>4,
 * CPX=>8"; https://instinct.docs.amd.com/projects/amdgpu-docs/en/latest/gpu-partitioning/mi300x/overview.html;
 * Linux amdgpu amdgpu_amdkfd_xcp_memory_size). All four GPUs here have 8 XCDs and support the four modes.
 */
export const PARTITION_MODES = { spx: 1, dpx: 2, qpx: 4, cpx: 8 } as const;
export type PartitionMode = keyof typeof PARTITION_MODES;
