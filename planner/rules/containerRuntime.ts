/**
 * How every GPU container of a deployment is run: devices, groups, IPC, network, security and limits.
 *
 * Sources: docs/facts.md#gpu-container-flags, #rdma-in-containers; guide § Multi-node checklist
 * item 2 (shared memory for RCCL rendezvous).
 */
import type { ClusterConfig } from "../config/schema";
import { fact } from "../sources";
import type { ContainerSpec, Reason, VolumeMount } from "../types";
import { verbsLibraries } from "./rccl";

/** AMD's multi-node vLLM launcher, which bind-mounts the host's RDMA userspace into its containers. */
const MAD_LAUNCHER = "https://github.com/ROCm/MAD/blob/develop/scripts/vllm_dissag/run_xPyD_models.slurm";

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
 * Capabilities and security options as the Docker daemon stores them, so the plan is what `docker inspect` reports
 * and the Pulumi Docker provider, which reads both back into ForceNew fields, never sees a difference (a difference
 * would replace every container on every `pulumi up`):
 * - capabilities upper case with their `CAP_` prefix, sorted and unique: the Docker client normalizes them before
 *   sending (moby v28.5.2 `client/container_create.go` `normalizeCapabilities`, the client the provider links);
 * - `label=disable` added when the container shares the host's IPC or PID namespace or is privileged, as the daemon
 *   does unless a `label=` option is given (moby v28.5.2 `daemon/daemon_unix.go` `adaptContainerSettings` appends what `daemon/create.go` `generateSecurityOpt` returns; go-selinux returns
 *   it even on hosts without SELinux). Giving it explicitly changes nothing on the node.
 */
export function asDaemonStores<T extends Pick<ContainerSpec, "capAdd" | "securityOpt" | "ipcMode">>(runtime: T): T {
  const capAdd = [
    ...new Set(
      runtime.capAdd.map((c) => (c.toUpperCase().startsWith("CAP_") ? c.toUpperCase() : `CAP_${c.toUpperCase()}`)),
    ),
  ].sort();
  const hasLabel = runtime.securityOpt.some((o) => o.split("=")[0] === "label");
  const securityOpt =
    runtime.ipcMode === "host" && !hasLabel ? [...runtime.securityOpt, "label=disable"] : runtime.securityOpt;
  return { ...runtime, capAdd, securityOpt };
}

/**
 * The ROCm GPU container: `/dev/kfd` + `/dev/dri`, group `video`, host IPC and network, `seccomp=unconfined`,
 * `SYS_PTRACE`, unlimited locked memory and a 64 MiB stack; with RDMA, for deployments spanning nodes, also
 * `/dev/infiniband`, `IPC_LOCK` and the host's verbs provider libraries. Written as the daemon stores it
 * (`asDaemonStores`).
 */
export function gpuContainerRuntime(cluster: ClusterConfig, reasons: Reason[], spansNodes: boolean): ContainerRuntime {
  const devices = ["/dev/kfd", "/dev/dri"];
  const capAdd = ["SYS_PTRACE"];
  const source = fact("gpu-container-flags");
  reasons.push({
    what: "devices /dev/kfd, /dev/dri; group video; ipc host; network host",
    rule: "gpuContainerRuntime",
    source,
  });
  const volumes: VolumeMount[] = [
    { hostPath: cluster.modelCache, containerPath: HF_CACHE_IN_CONTAINER, readOnly: false },
  ];
  // RDMA only for deployments whose ranks talk across nodes; one-node deployments use XGMI.
  if (cluster.network.rdma && spansNodes) {
    devices.push("/dev/infiniband");
    capAdd.push("IPC_LOCK");
    reasons.push({
      what: "device /dev/infiniband, cap IPC_LOCK",
      rule: "gpuContainerRuntime",
      source: fact("rdma-in-containers"),
    });
    const libs = verbsLibraries(cluster.network);
    for (const path of libs) volumes.push({ hostPath: path, containerPath: path, readOnly: true });
    reasons.push(
      libs.length > 0
        ? {
            what: `host RDMA verbs libraries bind-mounted read-only: ${libs.join(", ")}`,
            rule: "verbsLibraries",
            source: `${MAD_LAUNCHER} (host RDMA library mounts): without the host's provider RCCL falls back to sockets silently`,
          }
        : {
            what: "RDMA verbs provider from the image (fits Mellanox/NVIDIA NICs); set network.nic: pollara or broadcom to mount the host's provider",
            rule: "verbsLibraries",
            source: `${MAD_LAUNCHER} (host RDMA library mounts)`,
          },
    );
  }
  reasons.push({
    what: "capabilities with their CAP_ prefix; label=disable with host IPC (as docker inspect reports them)",
    rule: "asDaemonStores",
    source: "moby v28.5.2 client/container_create.go normalizeCapabilities; daemon/create.go generateSecurityOpt",
  });
  return asDaemonStores({
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
    volumes,
  });
}
