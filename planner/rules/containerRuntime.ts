/**
 * How every GPU container of a deployment is run: devices, groups, IPC, network, security and limits.
 *
 * Sources: docs/facts.md#gpu-container-flags, #rdma-in-containers; guide § Multi-node checklist
 * item 2 (shared memory for RCCL rendezvous).
 */
import type { ClusterConfig } from "../config/schema";
import { fact } from "../sources";
import type { ContainerSpec, Reason } from "../types";

/** Where the Hugging Face cache is mounted inside every container (and `HF_HOME`). */
export const HF_CACHE_IN_CONTAINER = "/root/.cache/huggingface";

/** Seconds Docker gives a container to stop before killing it (`docker stop --time`, the provider's `destroyGraceSeconds`). */
export const STOP_GRACE_SECONDS = 30;

export type ContainerRuntime = Pick<
  ContainerSpec,
  | "devices"
  | "groupAdd"
  | "ipcMode"
  | "networkMode"
  | "shmSizeMb"
  | "sharedMemory"
  | "securityOpt"
  | "capAdd"
  | "ulimits"
  | "volumes"
>;

/**
 * The ROCm GPU container: `/dev/kfd` + `/dev/dri`, group `video`, host IPC and network, `seccomp=unconfined`,
 * `SYS_PTRACE`, unlimited locked memory and a 64 MiB stack; with RDMA also `/dev/infiniband` and `IPC_LOCK`.
 */
export function gpuContainerRuntime(cluster: ClusterConfig, reasons: Reason[]): ContainerRuntime {
  const devices = ["/dev/kfd", "/dev/dri"];
  const capAdd = ["SYS_PTRACE"];
  const source = fact("gpu-container-flags");
  reasons.push({
    what: "devices /dev/kfd, /dev/dri; group video; ipc host; network host",
    rule: "gpuContainerRuntime",
    source,
  });
  if (cluster.network.rdma) {
    devices.push("/dev/infiniband");
    capAdd.push("IPC_LOCK");
    reasons.push({
      what: "device /dev/infiniband, cap IPC_LOCK",
      rule: "gpuContainerRuntime",
      source: fact("rdma-in-containers"),
    });
  }
  return {
    devices,
    groupAdd: ["video"],
    ipcMode: "host",
    networkMode: "host",
    sharedMemory:
      "host IPC: the container shares the host's /dev/shm, so RCCL and PyTorch get all of it (no --shm-size needed)",
    securityOpt: ["seccomp=unconfined"],
    capAdd,
    ulimits: [
      { name: "memlock", soft: -1, hard: -1 },
      { name: "stack", soft: 67108864, hard: 67108864 },
    ],
    volumes: [{ hostPath: cluster.modelCache, containerPath: HF_CACHE_IN_CONTAINER, readOnly: false }],
  };
}
