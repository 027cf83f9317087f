/**
 * The whole cluster of one stack: a `Node` per planned node and a deployment component per planned deployment.
 *
 * Every resource hangs off a node's provider or a deployment's containers, never off another node, so the dependency
 * depth of the graph is the same for 2 nodes and for 64 and all nodes roll out in parallel.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ContainerSpec, NodePlan, Plan } from "../planner/types";
import type { PlacedContainer, PlacedJob } from "./deployment";
import { missingSecrets, type SecretEnv } from "./gpuContainer";
import { Node } from "./node";
import { RayCluster } from "./rayCluster";
import { VllmDeployment } from "./vllmDeployment";

export interface ClusterArgs {
  plan: Plan;
  /** `rocm-vllm:hfToken`; reaches only containers whose spec lists `HF_TOKEN` in `secretEnv`. */
  hfToken?: pulumi.Output<string>;
  /** `rocm-vllm:sshPrivateKey`, for every command on the nodes (preflight, jobs, gates); ssh-agent when absent. */
  sshPrivateKey?: pulumi.Output<string>;
}

/** Provisions a plan: per node preflight, provider and pulls; per deployment downloads, containers, gates, benchmark. */
export class Cluster extends pulumi.ComponentResource {
  readonly nodes: Readonly<Record<string, Node>>;
  readonly deployments: Readonly<Record<string, RayCluster | VllmDeployment>>;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    const secrets: SecretEnv = { HF_TOKEN: args.hfToken };
    const missing = missingSecrets(args.plan, secrets);
    if (missing.length > 0) {
      // Before super(): nothing is registered when the secrets do not match the plan.
      throw new pulumi.RunError(
        `the plan needs secrets that are not configured (set rocm-vllm:hfToken with pulumi config set --secret hfToken):\n${missing.join("\n")}`,
      );
    }
    super("rocm-vllm:index:Cluster", name, {}, opts);
    const { plan } = args;
    const nodes: Record<string, Node> = {};
    for (const node of plan.nodes) {
      nodes[node.name] = new Node(
        `${name}-${node.name}`,
        { node, clusterImage: plan.cluster.image, sshPrivateKey: args.sshPrivateKey },
        { parent: this },
      );
    }
    const deployments: Record<string, RayCluster | VllmDeployment> = {};
    for (const deployment of plan.deployments) {
      const mine = (specs: (n: NodePlan) => ContainerSpec[]): PlacedContainer[] =>
        plan.nodes.flatMap((n) =>
          specs(n)
            .filter((c) => c.deployment === deployment.name)
            .map((spec) => ({ node: nodes[n.name], spec })),
        );
      const jobs: PlacedJob[] = plan.nodes.flatMap((n) =>
        n.jobs.filter((j) => j.container.deployment === deployment.name).map((job) => ({ node: nodes[n.name], job })),
      );
      const deploymentArgs = {
        deployment,
        containers: mine((n) => n.containers),
        services: mine((n) => n.services),
        jobs,
        secrets,
        sshPrivateKey: args.sshPrivateKey,
      };
      const childName = `${name}-${deployment.name}`;
      deployments[deployment.name] =
        deployment.kind === "ray"
          ? new RayCluster(childName, deploymentArgs, { parent: this })
          : new VllmDeployment(childName, deploymentArgs, { parent: this });
    }
    this.nodes = nodes;
    this.deployments = deployments;
    this.registerOutputs({});
  }
}
