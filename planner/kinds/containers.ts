/**
 * What every kind shares: the one builder of `vllm serve` argv, the GPU container spec of a deployment, and the
 * generation label of containers replaced together.
 */
import { createHash } from "node:crypto";
import type { ClusterConfig, DeploymentConfig } from "../config/schema";
import { compileCacheVolume } from "../rules/compileCache";
import type { ContainerRuntime } from "../rules/containerRuntime";
import { visibleDevices } from "../rules/gpuVisibility";
import { memberHealthcheck } from "../rules/healing";
import type { Shape } from "../rules/parallelism";
import { supervisedCommand } from "../scripts/supervisor";
import type { ContainerSpec, HealingPlan } from "../types";
import type { DeploymentContext, ReplicaInput, ServingProcess } from "./kind";

/** Entry point that launches every container: images such as `vllm/vllm-openai-rocm` set `ENTRYPOINT ["vllm","serve"]`. */
export const CONTAINER_ENTRYPOINT = ["/usr/bin/env"];
/** Label keys on every managed container. */
export const LABELS = {
  managed: "rocm-vllm.managed",
  /** The stack the container belongs to: scripts act only on their own stack's containers. */
  stack: "rocm-vllm.stack",
  deployment: "rocm-vllm.deployment",
  role: "rocm-vllm.role",
  replica: "rocm-vllm.replica",
  generation: "rocm-vllm.generation",
} as const;

/** Variable holding the generation label's value inside the containers of a group (launch scripts compare it). */
export const GENERATION_ENV = "ROCM_VLLM_GENERATION";

/** Seconds the supervisor leaves itself, within Docker's stop grace, to kill what did not stop. */
const SUPERVISOR_STOP_MARGIN_SECONDS = 5;

export const sortedByKey = (r: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export interface DeploymentContextInput {
  d: DeploymentConfig;
  shape: Shape;
  image: string;
  /** Flags the rules decided, in their order (after the model). */
  args: readonly string[];
  /** Environment the rules decided, shared by every container before per-node values. */
  env: Readonly<Record<string, string>>;
  servedModelName: string;
  secretEnv: string[];
  runtime: ContainerRuntime;
  cluster: ClusterConfig;
  /** Compile caches are persisted (`compileCache.enabled`): every container gets its own cache mount. */
  compileCache: boolean;
  healing: HealingPlan;
  /** Seconds `docker stop` gives a GPU container (at least vLLM's shutdown timeout when the release has one). */
  stopGraceSeconds: number;
}

/** The builders every kind uses for one deployment. */
export function deploymentContext(i: DeploymentContextInput): DeploymentContext {
  const { d } = i;
  return {
    d,
    shape: i.shape,
    serveArgv: ({ port, rankArgs = [] }) => [
      "vllm",
      "serve",
      d.model,
      ...i.args,
      ...(port === undefined
        ? []
        : [
            "--port",
            String(port),
            ...(i.servedModelName !== d.model ? ["--served-model-name", i.servedModelName] : []),
          ]),
      ...rankArgs,
      ...d.extraArgs,
    ],
    container: ({ node, name, role, gpus, command, ports, replica, member }): ContainerSpec => ({
      name,
      role,
      deployment: d.name,
      replica,
      image: i.image,
      env: sortedByKey({ ...i.env, VLLM_HOST_IP: node.ip, ...visibleDevices(gpus, node.gpus) }),
      secretEnv: i.secretEnv,
      entrypoint: CONTAINER_ENTRYPOINT,
      command: supervisedCommand({
        container: name,
        deployment: d.name,
        member,
        main: command,
        servedModelName: i.servedModelName,
        readySeconds: d.timeouts.readySeconds,
        stopSeconds: i.stopGraceSeconds - SUPERVISOR_STOP_MARGIN_SECONDS,
        healing: i.healing,
      }),
      ...structuredClone(i.runtime),
      volumes: [
        ...structuredClone(i.runtime.volumes),
        ...(i.compileCache ? [compileCacheVolume(i.cluster, name)] : []),
      ],
      restart: "unless-stopped",
      init: true,
      stopGraceSeconds: i.stopGraceSeconds,
      healthcheck: memberHealthcheck(d.timeouts.readySeconds),
      ports,
      labels: sortedByKey({
        [LABELS.managed]: "true",
        [LABELS.deployment]: d.name,
        [LABELS.role]: role,
        [LABELS.replica]: String(replica),
      }),
    }),
  };
}

/**
 * Containers that form one engine across processes (a Ray cluster, a multi-node DP replica) carry a label hashing the
 * whole group, so any change to one of them replaces all of them together: the group is re-formed, never half-old.
 */
export function stampGeneration(specs: ContainerSpec[]): void {
  const hash = createHash("sha256").update(JSON.stringify(specs)).digest("hex").slice(0, 16);
  for (const spec of specs) {
    spec.labels = sortedByKey({ ...spec.labels, [LABELS.generation]: hash });
    spec.env = sortedByKey({ ...spec.env, [GENERATION_ENV]: hash });
  }
}

/** The serving process of a replica that is one engine over its whole placement, with the API on its first node. */
export function servedFromFirstNode(r: ReplicaInput, argv: string[], container: ContainerSpec): ServingProcess {
  const [first] = r.placement;
  return {
    node: first.node,
    port: r.port,
    gpus: first.gpus,
    placement: r.placement.map((p) => ({ node: p.node.name, gpus: p.gpus })),
    argv,
    container,
    replica: r.index,
  };
}
