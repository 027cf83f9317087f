/**
 * A deployment served by plain `vllm serve` containers (`kind: single-node`, `native-multi-node` and `data-parallel`,
 * any number of replicas): one container per planned serving process, headless data-parallel engine or headless rank
 * of a native multi-node engine, plus readiness gates. Containers alias themselves to the `RayCluster` of the same
 * name, so switching a deployment between Ray and native replaces them in place.
 */
import type * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createDeployment, type DeploymentArgs, RAY_CLUSTER_TYPE, VLLM_DEPLOYMENT_TYPE } from "./deployment";

/** The serving containers of one non-Ray deployment. */
export class VllmDeployment extends pulumi.ComponentResource {
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
    super(VLLM_DEPLOYMENT_TYPE, name, {}, opts);
    if (args.deployment.kind === "ray") {
      throw new pulumi.ResourceError(`deployment ${args.deployment.name} runs on Ray: use RayCluster`, this);
    }
    const made = createDeployment(name, args, this, {
      otherKindUrn: pulumi.createUrn(name, RAY_CLUSTER_TYPE, opts?.parent),
    });
    this.containers = made.containers.map((c) => c.container);
    this.services = made.services;
    this.setupJobs = made.setupJobs;
    this.readiness = made.readiness;
    this.smokeTests = made.smokeTests;
    this.benchmark = made.benchmark;
    this.registerOutputs({});
  }
}
