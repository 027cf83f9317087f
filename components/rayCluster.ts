/**
 * A multi-node deployment on Ray (`kind: ray`): per replica, a head container on the first node and a worker on each
 * other node, plus the readiness gate on the head's API server.
 *
 * Containers start independently: the workers' launch script retries joining until the head answers, and the head's
 * script starts `vllm serve` only when Ray reports the expected nodes and GPUs. Nothing here orders them.
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createDeployment, type DeploymentArgs, RAY_CLUSTER_TYPE, VLLM_DEPLOYMENT_TYPE } from "./deployment";

/** Ray head and workers of one deployment, on their nodes' Docker daemons. */
export class RayCluster extends pulumi.ComponentResource {
  /** Head containers, one per replica. */
  readonly heads: docker.Container[];
  /** Worker containers of every replica. */
  readonly workers: docker.Container[];
  /** Every container, in plan order. */
  readonly containers: docker.Container[];
  /** Long-running containers without GPUs (load balancers). */
  readonly services: docker.Container[];
  /** Weight downloads, one per node, before the containers start. */
  readonly setupJobs: command.local.Command[];
  readonly readiness: command.local.Command[];
  readonly smokeTests: command.local.Command[];
  readonly benchmark: command.local.Command | undefined;

  constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super(RAY_CLUSTER_TYPE, name, {}, opts);
    if (args.deployment.kind !== "ray") {
      throw new pulumi.ResourceError(`deployment ${args.deployment.name} is ${args.deployment.kind}, not ray`, this);
    }
    const made = createDeployment(name, args, this, {
      otherKindUrn: pulumi.createUrn(name, VLLM_DEPLOYMENT_TYPE, opts?.parent),
    });
    this.containers = made.containers.map((c) => c.container);
    this.heads = made.containers.filter((c) => c.spec.role === "ray-head").map((c) => c.container);
    this.workers = made.containers.filter((c) => c.spec.role === "ray-worker").map((c) => c.container);
    this.services = made.services;
    this.setupJobs = made.setupJobs;
    this.readiness = made.readiness;
    this.smokeTests = made.smokeTests;
    this.benchmark = made.benchmark;
    this.registerOutputs({});
  }
}
