/**
 * RCCL and Gloo networking for multi-GPU and multi-node deployments.
 *
 * The guide's multi-node checklist prints `RCCL_NET_GDR_LEVEL`, `RCCL_DEBUG` and `RCCL_DEBUG_SUBSYS`; RCCL reads the
 * `NCCL_*` spellings (docs/facts.md#rccl-reads-nccl-names), so those are what we emit.
 */
import type { ClusterConfig } from "../config/schema";
import { cite, fact, guide } from "../sources";
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

/** GPUDirect RDMA level and HCA list when the cluster has an RDMA fabric. */
export function rdmaEnv(out: Decisions, network: ClusterConfig["network"]): void {
  if (!network.rdma) return;
  out.setEnv("NCCL_NET_GDR_LEVEL", String(network.gdrLevel ?? 2), "rdmaEnv", CHECKLIST);
  if (network.ibHca) out.setEnv("NCCL_IB_HCA", network.ibHca, "rdmaEnv", fact("rccl-reads-nccl-names"));
}

/** `debug.rccl` → RCCL init/graph logging, as the checklist recommends for bring-up. */
export function rcclDebug(out: Decisions, debug: ClusterConfig["debug"]): void {
  if (!debug.rccl) return;
  out.setEnv("NCCL_DEBUG", "INFO", "rcclDebug", CHECKLIST);
  out.setEnv("NCCL_DEBUG_SUBSYS", "INIT,GRAPH", "rcclDebug", CHECKLIST);
}
