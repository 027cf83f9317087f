/**
 * The whole cluster of one stack: a `Node` per planned node and a deployment component per planned deployment.
 *
 * Every resource hangs off a node's provider or a deployment's containers, never off another node, so the dependency
 * depth of the graph is the same for 2 nodes and for 64 and all nodes roll out in parallel.
 */
import * as pulumi from "@pulumi/pulumi";
import { API_KEY_ENV } from "../planner/rules/apiKey";
import type { Plan } from "../planner/types";
import type { PlacedContainer, PlacedJob } from "./deployment";
import { missingSecrets, type SecretEnv } from "./gpuContainer";
import { Node, type RegistryLogin } from "./node";
import { RayCluster } from "./rayCluster";
import { VllmDeployment } from "./vllmDeployment";

export interface ClusterArgs {
  plan: Plan;
  /** `rocm-vllm:hfToken`; reaches only containers whose spec lists `HF_TOKEN` in `secretEnv`. */
  hfToken?: pulumi.Output<string>;
  /** `rocm-vllm:apiKey`; reaches containers and gates whose spec lists `VLLM_API_KEY` in `secretEnv`. */
  apiKey?: pulumi.Output<string>;
  /** `rocm-vllm:registryPassword`, the password of `Plan.cluster.registry` for every node's image pulls. */
  registryPassword?: pulumi.Output<string>;
}

/** Provisions a plan: per node preflight, provider and pulls; per deployment downloads, containers, gates, benchmark. */
export class Cluster extends pulumi.ComponentResource {
  readonly nodes: Readonly<Record<string, Node>>;
  readonly deployments: Readonly<Record<string, RayCluster | VllmDeployment>>;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    const secrets: SecretEnv = { HF_TOKEN: args.hfToken, [API_KEY_ENV]: args.apiKey };
    const missing = missingSecrets(args.plan, secrets);
    if (missing.length > 0) {
      // Before super(): nothing is registered when the secrets do not match the plan.
      throw new pulumi.RunError(
        `the plan needs secrets that are not configured (set rocm-vllm:hfToken with pulumi config set --secret hfToken, rocm-vllm:apiKey with pulumi config set --secret apiKey):\n${missing.join("\n")}`,
      );
    }
    super("rocm-vllm:index:Cluster", name, {}, opts);
    const { plan } = args;
    const registry: RegistryLogin | undefined =
      plan.cluster.registry && args.registryPassword
        ? { ...plan.cluster.registry, password: args.registryPassword }
        : undefined;
    const nodes: Record<string, Node> = {};
    for (const node of plan.nodes) {
      nodes[node.name] = new Node(
        `${name}-${node.name}`,
        { node, clusterImage: plan.cluster.image, ...(registry ? { registry } : {}) },
        { parent: this },
      );
    }
    // Each deployment's containers, services and jobs in plan order (node order, then the node's order), grouped in
    // one pass: filtering every node per deployment made the program quadratic in the node count.
    const placed = new Map<string, { containers: PlacedContainer[]; services: PlacedContainer[]; jobs: PlacedJob[] }>();
    const of = (deployment: string) => {
      const entry = placed.get(deployment) ?? { containers: [], services: [], jobs: [] };
      placed.set(deployment, entry);
      return entry;
    };
    for (const n of plan.nodes) {
      for (const spec of n.containers) of(spec.deployment).containers.push({ node: nodes[n.name], spec });
      for (const spec of n.services) of(spec.deployment).services.push({ node: nodes[n.name], spec });
      for (const job of n.jobs) of(job.container.deployment).jobs.push({ node: nodes[n.name], job });
    }
    const deployments: Record<string, RayCluster | VllmDeployment> = {};
    for (const deployment of plan.deployments) {
      const deploymentArgs = {
        deployment,
        ...of(deployment.name),
        secrets,
        modelCache: plan.cluster.modelCache,
      };
      const childName = `${name}-${deployment.name}`;
      deployments[deployment.name] =
        deployment.kind === "ray"
          ? new RayCluster(childName, deploymentArgs, { parent: this })
          : new VllmDeployment(childName, deploymentArgs, { parent: this });
    }
    // Every ssh-using resource is registered: chain each node's lanes (see sessions.ts).
    for (const node of Object.values(nodes)) node.sessions.assign();
    this.nodes = nodes;
    this.deployments = deployments;
    this.registerOutputs({});
  }
}
