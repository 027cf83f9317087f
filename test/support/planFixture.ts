/**
 * A small hand-made `Plan` for component tests that must not depend on the planner's rules: one single-node
 * deployment and one Ray deployment over `rayNodes` nodes, without day-2 extras (preflight, jobs, smoke tests).
 */
import type { ContainerSpec, DeploymentPlan, NodePlan, Plan, ReadinessCheck } from "../../planner/types";

export const FIXTURE_IMAGE = "rocm/vllm:rocm7.0.0_vllm_0.11.1";

function gpuContainer(
  over: Partial<ContainerSpec> & Pick<ContainerSpec, "name" | "role" | "deployment">,
): ContainerSpec {
  return {
    replica: 0,
    image: FIXTURE_IMAGE,
    env: { HF_HOME: "/root/.cache/huggingface", VLLM_ROCM_USE_AITER: "1" },
    secretEnv: ["HF_TOKEN"],
    entrypoint: ["/bin/sh", "-c"],
    command: ["exec vllm serve org/model"],
    devices: ["/dev/kfd", "/dev/dri"],
    groupAdd: ["video"],
    ipcMode: "host",
    networkMode: "host",
    sharedMemory: "host IPC",
    securityOpt: ["seccomp=unconfined"],
    capAdd: ["SYS_PTRACE"],
    ulimits: [
      { name: "memlock", soft: -1, hard: -1 },
      { name: "stack", soft: 67108864, hard: 67108864 },
    ],
    volumes: [{ hostPath: "/data/huggingface", containerPath: "/root/.cache/huggingface", readOnly: false }],
    restart: "unless-stopped",
    init: true,
    stopGraceSeconds: 30,
    ports: [8000],
    labels: { "rocm-vllm.deployment": over.deployment, "rocm-vllm.role": over.role },
    ...over,
  };
}

function node(i: number, containers: ContainerSpec[]): NodePlan {
  return {
    name: `gpu-${i}`,
    host: `10.0.0.${10 + i}`,
    ip: `10.0.0.${10 + i}`,
    ssh: { user: "ops", port: 22, ...(i === 0 ? { identityFile: "/home/ops/.ssh/id_ed25519" } : {}) },
    gpus: 8,
    containers,
    services: [],
    jobs: [],
  };
}

function readiness(nodeName: string, host: string, container: string, model: string): ReadinessCheck {
  return {
    node: nodeName,
    host,
    port: 8000,
    container,
    servedModelName: model,
    timeoutSeconds: 3600,
    secretEnv: [],
    script: `#!/bin/sh\n# wait for ${container}\ncurl -fsS http://${host}:8000/health\n`,
  };
}

function deployment(
  name: string,
  kind: DeploymentPlan["kind"],
  nodes: NodePlan[],
  headContainer: string,
): DeploymentPlan {
  const head = nodes[0];
  return {
    name,
    model: `org/${name}`,
    servedModelName: name,
    kind,
    attention: { backend: "aiter-mha", expectedLogLine: "Using AITER" },
    env: {},
    instances: [
      {
        node: head.name,
        host: head.ip,
        port: 8000,
        gpus: [0, 1, 2, 3, 4, 5, 6, 7],
        placement: nodes.map((n) => ({ node: n.name, gpus: [0, 1, 2, 3, 4, 5, 6, 7] })),
        argv: ["vllm", "serve", `org/${name}`],
        env: {},
        container: headContainer,
        replica: 0,
        endpoint: `http://${head.ip}:8000`,
      },
    ],
    rayClusters:
      kind === "ray"
        ? [
            {
              headNode: head.name,
              headAddress: `${head.ip}:6379`,
              gcsPort: 6379,
              workerNodes: nodes.slice(1).map((n) => n.name),
              expectedNodes: nodes.length,
              expectedGpus: nodes.length * 8,
              joinTimeoutSeconds: 900,
            },
          ]
        : [],
    readiness: [readiness(head.name, head.ip, headContainer, name)],
    smokeTests: [],
    weights: { predownload: false, jobs: [] },
    rollout: {
      strategy: "all-at-once",
      why: "one replica",
      maxUnavailable: 1,
      drainSeconds: 120,
      gracefulShutdown: false,
      waves: [{ replicas: [0], containers: nodes.map((n) => ({ node: n.name, name: n.containers[0]?.name ?? "" })) }],
    },
    healing: {
      maxRestarts: 5,
      backoffSeconds: 10,
      maxBackoffSeconds: 300,
      stableSeconds: 600,
      probeSeconds: 30,
      probeFailures: 3,
      statusFile: "/var/lib/rocm-vllm/member.status",
    },
    endpoints: [`http://${head.ip}:8000`],
    memory: { checked: false, hbmGiB: 192, gpuMemoryUtilization: 0.9, notes: [] },
    reasons: [],
  };
}

/** Node `gpu-0` serves `chat` alone; nodes `gpu-1..rayNodes` form the Ray deployment `big`. */
export function fixturePlan(rayNodes = 2): Plan {
  const chat = gpuContainer({
    name: "vllm-chat",
    role: "serve",
    deployment: "chat",
    shmSizeMb: 16384,
    ipcMode: "private",
  });
  const nodes = [node(0, [chat])];
  for (let i = 1; i <= rayNodes; i++) {
    const spec =
      i === 1
        ? gpuContainer({ name: "vllm-big-head", role: "ray-head", deployment: "big" })
        : gpuContainer({ name: "vllm-big-worker", role: "ray-worker", deployment: "big", secretEnv: [], ports: [] });
    nodes.push(node(i, [spec]));
  }
  return {
    planVersion: 1,
    stack: "test",
    cluster: {
      gpu: "mi300x",
      gpuArch: "gfx942",
      hbmGiB: 192,
      image: FIXTURE_IMAGE,
      vllmVersion: "0.11.1",
      modelCache: "/data/huggingface",
    },
    nodes,
    deployments: [
      deployment("chat", "single-node", [nodes[0]], "vllm-chat"),
      deployment("big", "ray", nodes.slice(1), "vllm-big-head"),
    ],
    warnings: [{ code: "fixture", message: "a fixture warning", path: "rocm-vllm:deployments[0]" }],
  };
}
