/**
 * RCCL and Gloo networking for multi-GPU and multi-node deployments.
 *
 * The guide's multi-node checklist prints `RCCL_NET_GDR_LEVEL`, `RCCL_DEBUG` and `RCCL_DEBUG_SUBSYS`; RCCL reads the
 * `NCCL_*` spellings (docs/facts.md#rccl-reads-nccl-names), so those are what we emit.
 */
import type { ClusterConfig } from "../config/schema";
import { cite, fact, guide } from "../sources";
import type { Warning } from "../types";
import type { Decisions } from "./decisions";

const CHECKLIST = cite(guide("Multi-node checklist and troubleshooting"), fact("rccl-reads-nccl-names"));

/** `NCCL_SOCKET_IFNAME` and `GLOO_SOCKET_IFNAME` pin bootstrap and Gloo to one interface (docs/facts.md#network-interfaces). */
export function socketInterface(out: Decisions, network: ClusterConfig["network"], spansNodes: boolean): void {
  if (network.interface) {
    out.setEnv("NCCL_SOCKET_IFNAME", network.interface, "socketInterface", fact("network-interfaces"));
    out.setEnv("GLOO_SOCKET_IFNAME", network.interface, "socketInterface", fact("network-interfaces"));
  } else if (spansNodes) {
    out.warn(
      "network-interface-unset",
      "spans nodes but rocm-vllm:cluster.network.interface is unset: on multi-NIC hosts RCCL and Gloo may pick the wrong interface and hang; set it to the NIC all nodes reach",
    );
  }
}

/** GPUDirect RDMA level and HCA list when the cluster has an RDMA fabric and the deployment's ranks use it (span nodes). */
export function rdmaEnv(out: Decisions, network: ClusterConfig["network"], spansNodes: boolean): void {
  if (!network.rdma || !spansNodes) return;
  out.setEnv("NCCL_NET_GDR_LEVEL", String(network.gdrLevel ?? 2), "rdmaEnv", CHECKLIST);
  if (network.ibHca) out.setEnv("NCCL_IB_HCA", network.ibHca, "rdmaEnv", fact("rccl-reads-nccl-names"));
}

/** `debug.rccl` → RCCL init/graph logging, as the checklist recommends for bring-up. */
export function rcclDebug(out: Decisions, debug: ClusterConfig["debug"]): void {
  if (!debug.rccl) return;
  out.setEnv("NCCL_DEBUG", "INFO", "rcclDebug", CHECKLIST);
  out.setEnv("NCCL_DEBUG_SUBSYS", "INIT,GRAPH", "rcclDebug", CHECKLIST);
}

const LIB = "/usr/lib/x86_64-linux-gnu";
/**
 * Host RDMA userspace AMD's multi-node vLLM launcher bind-mounts read-only into its containers, so the verbs provider
 * in the container matches the host's NIC driver (ROCm/MAD scripts/vllm_dissag/run_xPyD_models.slurm: libibverbs,
 * librdmacm, the vendor provider, /etc/libibverbs.d). Without a matching provider, libibverbs finds no device and RCCL
 * falls back to sockets without an error. The images' rdma-core carries the mlx5 provider, so Mellanox/NVIDIA NICs
 * need nothing; AMD Pollara (ionic) and Broadcom Thor (bnxt_re) use the host's. Paths are Debian/Ubuntu x86_64.
 */
export const VERBS_LIBRARIES: Record<NonNullable<ClusterConfig["network"]["nic"]>, readonly string[]> = {
  mellanox: [],
  pollara: [
    `${LIB}/libibverbs.so.1`,
    `${LIB}/librdmacm.so.1`,
    `${LIB}/libionic.so.1`,
    `${LIB}/libibverbs`,
    "/etc/libibverbs.d",
  ],
  broadcom: [`${LIB}/libibverbs.so.1`, `${LIB}/librdmacm.so.1`, `${LIB}/libibverbs`, "/etc/libibverbs.d"],
};

/** Host verbs libraries to bind-mount into containers of deployments that span nodes over RDMA. */
export function verbsLibraries(network: ClusterConfig["network"]): readonly string[] {
  if (!network.rdma) return [];
  return network.verbsLibraries ?? (network.nic ? VERBS_LIBRARIES[network.nic] : []);
}

/**
 * Cluster-wide RDMA advice once deployments are planned: with RDMA on and ranks crossing nodes, `ibHca` unset lets RCCL
 * choose the HCAs itself, which on hosts with a front-end RDMA NIC can put collectives on it.
 */
export function rdmaWarnings(network: ClusterConfig["network"], crossesNodes: boolean): Warning[] {
  if (!network.rdma || !crossesNodes || network.ibHca) return [];
  return [
    {
      code: "rdma-without-ib-hca",
      message:
        "network.rdma is on but network.ibHca is unset: RCCL picks RDMA devices itself and may use the front-end NIC instead of the GPU fabric; list the backend NICs (NCCL_IB_HCA), e.g. rdma0,…,rdma7 or ionic_0,…",
      path: "rocm-vllm:cluster.network.ibHca",
    },
  ];
}
