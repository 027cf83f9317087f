/**
 * Cluster-level checks: the image's vLLM release, unique nodes and addresses, deployment names and node references,
 * and port clashes on shared hosts.
 */
import {
  matchVllmVersion,
  NEWEST_VLLM_VERSION,
  OLDEST_VLLM_VERSION,
  type VllmVersionSpec,
  vllmVersionFromImage,
} from "../catalog/vllmVersions";
import { type ClusterConfig, type DeploymentConfig, isIpAddress } from "../config/schema";
import { problem, suggest } from "../problems";
import type { ContainerSpec, NodePlan, Problem, Warning } from "../types";

const CLUSTER = "rocm-vllm:cluster";
const DEPLOYMENTS = "rocm-vllm:deployments";
const KNOWN = `rocm-vllm knows vLLM ${OLDEST_VLLM_VERSION} to ${NEWEST_VLLM_VERSION}, see README § vLLM releases`;

/** The release an image runs and the version-table entry it is planned with (the same release when the table knows it). */
export interface ResolvedVersion {
  /** What the image runs: `vllmVersion`, else read from the image tag. */
  version: string;
  /** The table entry rules use; absent when the release cannot be planned. */
  spec?: VllmVersionSpec;
}

/**
 * The vLLM release: `vllmVersion`, else read from the image tag, and the version-table entry to plan it with
 * (`matchVllmVersion`): a release newer than the table, or between two known releases, is planned with the nearest
 * older known release and a warning naming it; a release older than the table is refused.
 */
export function resolveVllmVersion(
  cluster: ClusterConfig,
  problems: Problem[],
  warnings: Warning[],
): ResolvedVersion | undefined {
  const fromTag = vllmVersionFromImage(cluster.image);
  const version = cluster.vllmVersion ?? fromTag;
  if (!version) {
    problems.push(
      problem(
        `${CLUSTER}.vllmVersion`,
        undefined,
        `cannot read the vLLM version from the image ${cluster.image} (a digest or a tag without a version)`,
        `set vllmVersion to the vLLM release the image runs (${KNOWN})`,
      ),
    );
    return undefined;
  }
  if (cluster.vllmVersion && fromTag && fromTag !== cluster.vllmVersion) {
    problems.push(
      problem(
        `${CLUSTER}.vllmVersion`,
        cluster.vllmVersion,
        `contradicts the image tag, which carries vLLM ${fromTag}`,
        `remove vllmVersion or set it to ${fromTag}`,
      ),
    );
    return { version };
  }
  const path = cluster.vllmVersion ? `${CLUSTER}.vllmVersion` : `${CLUSTER}.image`;
  const found = matchVllmVersion(version);
  if (found.match === "older") {
    problems.push(
      problem(
        path,
        cluster.vllmVersion ?? cluster.image,
        `vLLM ${version} is older than the oldest release rocm-vllm knows (${OLDEST_VLLM_VERSION}), so its flags cannot be checked`,
        `use an image with vLLM ${OLDEST_VLLM_VERSION} or newer (${KNOWN})`,
      ),
    );
    return { version };
  }
  const known = found.spec.version;
  if (found.match === "newer") {
    warnings.push({
      code: "vllm-newer-than-table",
      message: `vLLM ${version} is newer than the newest release rocm-vllm knows: planned with vLLM ${known}'s flags, variables and defaults, so nothing is emitted that ${known} lacks; check new defaults in the release notes`,
      path,
    });
  } else if (found.match === "between") {
    warnings.push({
      code: "vllm-not-in-table",
      message: `vLLM ${version} is not in rocm-vllm's release table: planned with the nearest older known release, vLLM ${known}, so nothing is emitted that ${known} lacks (${KNOWN})`,
      path,
    });
  }
  return { version, spec: found.spec };
}

/**
 * Node names and addresses are unique; a DNS or IPv6 host needs an explicit IPv4 `ip` for VLLM_HOST_IP, Ray, RCCL and
 * nginx (see `IPV6_DATA_PLANE`).
 */
export function resolveNodes(cluster: ClusterConfig, problems: Problem[]): NodePlan[] {
  const seen = { name: new Map<string, number>(), host: new Map<string, number>(), ip: new Map<string, number>() };
  return cluster.nodes.map((n, i) => {
    const path = `${CLUSTER}.nodes[${i}]`;
    const ip = n.ip ?? (isIpAddress(n.host) ? n.host : undefined);
    if (!ip)
      problems.push(
        problem(
          `${path}.ip`,
          undefined,
          n.host.includes(":")
            ? `host ${n.host} is an IPv6 address, used for SSH only; Ray, vLLM, RCCL and nginx need the node's IPv4 address`
            : `host ${n.host} is a DNS name; vLLM, Ray and RCCL need the node's IP`,
          "add ip: <IPv4 address other nodes reach>",
        ),
      );
    for (const [key, value] of [
      ["name", n.name],
      ["host", n.host],
      ["ip", ip],
    ] as const) {
      if (value === undefined) continue;
      const first = seen[key].get(value);
      if (first !== undefined) {
        problems.push(
          problem(`${path}.${key}`, value, `is the same as nodes[${first}].${key}`, `give every node a unique ${key}`),
        );
      } else seen[key].set(value, i);
    }
    return {
      name: n.name,
      host: n.host,
      ip: ip ?? n.host,
      ssh: { ...cluster.ssh },
      gpus: n.gpus,
      containers: [],
      services: [],
      jobs: [],
    };
  });
}

/** Deployment names are unique and reference existing nodes. */
export function checkDeploymentRefs(
  deployments: readonly DeploymentConfig[],
  nodes: readonly NodePlan[],
  problems: Problem[],
): void {
  const names = new Map<string, number>();
  const nodeNames = nodes.map((n) => n.name);
  const known = new Set(nodeNames);
  deployments.forEach((d, i) => {
    const path = `${DEPLOYMENTS}[${i}]`;
    const first = names.get(d.name);
    if (first !== undefined)
      problems.push(
        problem(
          `${path}.name`,
          d.name,
          `is the same as deployments[${first}].name`,
          "give every deployment a unique name",
        ),
      );
    else names.set(d.name, i);
    (d.nodes ?? []).forEach((ref, j) => {
      if (!known.has(ref)) {
        const guess = suggest(ref, nodeNames);
        problems.push(
          problem(
            `${path}.nodes[${j}]`,
            ref,
            "is not a node of the cluster",
            guess ? `did you mean ${guess}?` : `use one of ${nodeNames.join(", ")}`,
          ),
        );
      }
    });
    const dup = (d.nodes ?? []).find((ref, j) => (d.nodes ?? []).indexOf(ref) !== j);
    if (dup) problems.push(problem(`${path}.nodes`, d.nodes, `lists ${dup} twice`, "list each node once"));
  });
}

/** The config key a container's ports come from: the deployment's `port`, or its `loadBalancer.port`. */
export function portConfigPath(c: ContainerSpec, deploymentIndex: ReadonlyMap<string, number>): string {
  return `${DEPLOYMENTS}[${deploymentIndex.get(c.deployment)}].${c.role === "load-balancer" ? "loadBalancer.port" : "port"}`;
}

/** Two containers on one host (host networking) must not listen on the same port. */
export function checkPortClashes(
  nodes: readonly NodePlan[],
  deploymentIndex: ReadonlyMap<string, number>,
  problems: Problem[],
): void {
  for (const node of nodes) {
    const owners = new Map<number, { container: string; deployment: string }>();
    for (const c of [...node.containers, ...node.services]) {
      for (const port of c.ports) {
        const other = owners.get(port);
        if (other === undefined) {
          owners.set(port, { container: c.name, deployment: c.deployment });
          continue;
        }
        const path = portConfigPath(c, deploymentIndex);
        problems.push(
          other.container === c.name
            ? problem(
                path,
                port,
                `${c.name} (${c.deployment}) would listen on port ${port} twice on node ${node.name}: it is its serving port and also a port it opens for its own cluster (Ray, data-parallel RPC)`,
                `choose another port for ${c.deployment}`,
              )
            : problem(
                path,
                port,
                `port ${port} on node ${node.name} is used by both ${other.container} (${other.deployment}) and ${c.name} (${c.deployment}) (host networking)`,
                "give the deployments ports that do not overlap (replicas use port, port+1, …)",
              ),
        );
      }
    }
  }
}
