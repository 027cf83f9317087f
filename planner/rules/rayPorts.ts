/**
 * Ports Ray opens by default on the nodes it runs on: a planned port there (a serving port, a load balancer) would
 * fail to bind, or take a port a Ray worker process needs, only once the cluster is up.
 *
 * Source: Ray docs, "Ports configurations" (https://docs.ray.io/en/latest/ray-core/configure.html#ports-configurations,
 * ray-project/ray `doc/source/ray-core/configure.rst`), and the defaults in ray-project/ray
 * `python/ray/scripts/scripts.py` (`ray start`: `--min-worker-port` 10002, `--max-worker-port` 19999, Ray Client
 * server 10001) and `python/ray/_private/ray_constants.py` (`DEFAULT_PORT` 6379, `DEFAULT_DASHBOARD_PORT` 8265,
 * `DEFAULT_DASHBOARD_AGENT_LISTEN_PORT` 52365). rocm-vllm starts Ray with none of these overridden
 * (planner/scripts/launchScripts.ts). The ports Ray picks at random (node manager, object manager, metrics, agents'
 * gRPC) come from the kernel's ephemeral range and cannot be planned around.
 */
import { problem } from "../problems";
import type { ContainerSpec, NodePlan, Problem } from "../types";
import { RAY_GCS_PORT } from "./placement";
import { portConfigPath } from "./topology";

export interface RayDefaultPort {
  from: number;
  to: number;
  /** What listens there, with the `ray start` flag that would move it. */
  what: string;
  /** `head`: only on the node of the Ray head; `every`: on every node of a Ray cluster. */
  on: "head" | "every";
}

export const RAY_DEFAULT_PORTS: readonly RayDefaultPort[] = [
  { from: RAY_GCS_PORT, to: RAY_GCS_PORT, what: "GCS server (ray start --port)", on: "head" },
  { from: 8265, to: 8265, what: "dashboard (--dashboard-port)", on: "head" },
  { from: 10001, to: 10001, what: "Ray Client server (--ray-client-server-port)", on: "head" },
  { from: 10002, to: 19999, what: "worker process range (--min-worker-port/--max-worker-port)", on: "every" },
  { from: 52365, to: 52365, what: "dashboard agent HTTP server (--dashboard-agent-listen-port)", on: "every" },
];

const described = RAY_DEFAULT_PORTS.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}–${p.to}`)).join(", ");

/** Ray's default port (if any) that `port` falls on, on a node running `rayRoles`. */
function rayPortAt(port: number, rayRoles: ReadonlySet<string>): RayDefaultPort | undefined {
  return RAY_DEFAULT_PORTS.find(
    (p) => port >= p.from && port <= p.to && (p.on === "every" || rayRoles.has("ray-head")),
  );
}

/**
 * Refuses every planned port that falls on one of Ray's default ports on a node running a Ray head or worker. The
 * head's own GCS port is Ray's, not a clash; another container on a port the Ray head itself lists is reported by
 * `checkPortClashes` already.
 */
export function checkRayDefaultPorts(
  nodes: readonly NodePlan[],
  deploymentIndex: ReadonlyMap<string, number>,
  problems: Problem[],
): void {
  for (const node of nodes) {
    const all: ContainerSpec[] = [...node.containers, ...node.services];
    const ray = all.filter((c) => c.role === "ray-head" || c.role === "ray-worker");
    if (ray.length === 0) continue;
    const rayRoles = new Set(ray.map((c) => c.role));
    const owner = ray.find((c) => c.role === "ray-head") ?? ray[0];
    const listedByRay = new Set(ray.flatMap((c) => c.ports));
    for (const c of all) {
      const isRay = ray.includes(c);
      for (const port of c.ports) {
        if (isRay ? c.role === "ray-head" && port === RAY_GCS_PORT : listedByRay.has(port)) continue;
        const taken = rayPortAt(port, rayRoles);
        if (!taken) continue;
        problems.push(
          problem(
            portConfigPath(c, deploymentIndex),
            port,
            `port ${port} on node ${node.name} is Ray's ${taken.what}, opened by the ${owner.role.replace("-", " ")} of ${owner.deployment}`,
            `use a port outside Ray's default ports (${described}) on nodes that run Ray`,
          ),
        );
      }
    }
  }
}
