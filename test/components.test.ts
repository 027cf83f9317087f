/**
 * The components against a hand-made plan: every ContainerSpec field reaches its Docker property, every Docker
 * resource names its node's provider, readiness waits on the right containers, secrets stay secret, and the graph's
 * depth does not grow with the node count.
 */
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { Cluster } from "../components/cluster";
import { dockerSshHost, dockerSshOpts } from "../components/node";
import type { Plan } from "../planner/types";
import { fixturePlan } from "./support/planFixture";
import {
  byUrn,
  CONTAINER,
  DOCKER_PROVIDER,
  dependencyDepth,
  NODE_COMMAND,
  type ProgramRun,
  REMOTE_IMAGE,
  runInMocks,
} from "./support/pulumiMocks";

const TOKEN = "hf_fixture_token";

function runCluster(plan: Plan, withSecrets = true): Promise<ProgramRun<{ ok: boolean }>> {
  return runInMocks({ cluster: {}, deployments: [], ...(withSecrets ? { hfToken: TOKEN } : {}) }, () => {
    const config = new pulumi.Config("rocm-vllm");
    new Cluster("rocm-vllm", { plan, hfToken: config.getSecret("hfToken") });
    return { ok: true };
  });
}

describe("Cluster components on a hand-made plan", () => {
  it("creates one Docker provider per node over SSH and pulls the image once per node through it", async () => {
    const plan = fixturePlan(2);
    const run = await runCluster(plan);
    const providers = run.resources.filter((r) => r.type === DOCKER_PROVIDER);
    expect(providers.map((p) => p.inputs.host).sort()).toEqual(plan.nodes.map((n) => `ssh://ops@${n.host}:22`).sort());
    const gpu0 = providers.find((p) => p.name === "rocm-vllm-gpu-0-docker");
    expect(JSON.parse(String(gpu0?.inputs.sshOpts))).toEqual(
      expect.arrayContaining(["-i", "/home/ops/.ssh/id_ed25519"]),
    );
    const images = run.resources.filter((r) => r.type === REMOTE_IMAGE);
    expect(images).toHaveLength(plan.nodes.length);
    for (const image of images) {
      expect(image.inputs).toMatchObject({ name: plan.cluster.image, keepLocally: true });
      const provider = byUrn(run).get(image.provider ?? "");
      expect(provider?.type).toBe(DOCKER_PROVIDER);
      expect(provider?.parent).toBe(image.parent);
    }
  });

  it("maps every ContainerSpec field to its docker.Container property", async () => {
    const plan = fixturePlan(2);
    const run = await runCluster(plan);
    const chat = run.resources.find((r) => r.type === CONTAINER && r.inputs.name === "vllm-chat");
    expect(chat?.inputs).toMatchObject({
      restart: "unless-stopped",
      mustRun: true,
      ipcMode: "private",
      networkMode: "host",
      shmSize: 16384,
      groupAdds: ["video"],
      securityOpts: ["seccomp=unconfined"],
      capabilities: { adds: ["SYS_PTRACE"] },
      entrypoints: ["/bin/sh", "-c"],
      command: ["exec vllm serve org/model"],
      devices: [
        { hostPath: "/dev/kfd", containerPath: "/dev/kfd", permissions: "rwm" },
        { hostPath: "/dev/dri", containerPath: "/dev/dri", permissions: "rwm" },
      ],
      ulimits: plan.nodes[0].containers[0].ulimits,
      volumes: [{ hostPath: "/data/huggingface", containerPath: "/root/.cache/huggingface", readOnly: false }],
      labels: [
        { label: "rocm-vllm.deployment", value: "chat" },
        { label: "rocm-vllm.role", value: "serve" },
      ],
      envs: ["HF_HOME=/root/.cache/huggingface", `HF_TOKEN=${TOKEN}`, "VLLM_ROCM_USE_AITER=1"],
    });
    expect(String(chat?.inputs.image)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(chat?.secretInputs).toEqual(["envs"]);
    const head = run.resources.find((r) => r.type === CONTAINER && r.inputs.name === "vllm-big-head");
    expect(head?.inputs).not.toHaveProperty("shmSize");
  });

  it("keeps containers without secretEnv free of the token and not secret", async () => {
    const run = await runCluster(fixturePlan(3));
    const workers = run.resources.filter((r) => r.type === CONTAINER && r.inputs.name === "vllm-big-worker");
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(w.secretInputs).toEqual([]);
      expect(JSON.stringify(w.inputs)).not.toContain(TOKEN);
    }
  });

  it("binds each container to the provider of the node it is planned on, under its deployment component", async () => {
    const plan = fixturePlan(3);
    const run = await runCluster(plan);
    const urns = byUrn(run);
    for (const node of plan.nodes) {
      for (const spec of node.containers) {
        const c = run.resources.find(
          (r) => r.type === CONTAINER && r.name === `rocm-vllm-${spec.deployment}-r${spec.replica}-${node.name}`,
        );
        expect(c?.inputs.name).toBe(spec.name);
        expect(urns.get(c?.provider ?? "")?.inputs.host).toBe(`ssh://ops@${node.host}:22`);
        const parent = urns.get(c?.parent ?? "");
        expect(parent?.type).toBe(
          spec.role.startsWith("ray") ? "rocm-vllm:index:RayCluster" : "rocm-vllm:index:VllmDeployment",
        );
        expect(parent?.name).toBe(`rocm-vllm-${spec.deployment}`);
        // The only things a container waits for are its own node's image (and provider): never another container.
        expect(c?.dependencies.map((d) => urns.get(d)?.type)).toEqual([REMOTE_IMAGE]);
      }
    }
  });

  it("gates readiness on every container of the deployment and re-runs it when they are replaced", async () => {
    const run = await runCluster(fixturePlan(3));
    const urns = byUrn(run);
    const ready = run.resources.filter((r) => r.type === NODE_COMMAND && r.name.endsWith("-ready"));
    expect(ready.map((r) => r.name).sort()).toEqual(["rocm-vllm-big-r0-ready", "rocm-vllm-chat-r0-ready"]);
    const big = ready.find((r) => r.name.startsWith("rocm-vllm-big"));
    // Every container of the deployment (and, through its session lane, at most one earlier step of its node).
    const waitsFor = (big?.dependencies ?? []).map((d) => urns.get(d));
    expect(
      waitsFor
        .filter((r) => r?.type === CONTAINER)
        .map((r) => r?.inputs.name)
        .sort(),
    ).toEqual(["vllm-big-head", "vllm-big-worker", "vllm-big-worker"]);
    expect(waitsFor.filter((r) => r?.type !== CONTAINER).length).toBeLessThanOrEqual(1);
    expect([...((big?.inputs.triggers ?? []) as string[])].sort()).toEqual(
      run.resources
        .filter((r) => r.type === CONTAINER && String(r.inputs.name).startsWith("vllm-big"))
        .map((r) => r.id)
        .sort(),
    );
    expect(big?.inputs).toMatchObject({
      stdin: expect.stringContaining("curl -fsS http://10.0.0.11:8000/health"),
      create: expect.stringContaining("-- ops@10.0.0.11 'sh -s'"),
      logging: "stdoutAndStderr",
    });
    expect(big?.secretInputs).toEqual([]);
    expect(big?.provider).toBeUndefined();
  });

  it("checks every node's host key before anything else, and refuses a plan that needs a missing token", async () => {
    const plan = fixturePlan(2);
    plan.nodes[0].containers[0].secretEnv = [];
    plan.nodes[1].containers[0].secretEnv = [];
    const run = await runCluster(plan, false);
    const checks = run.resources.filter((x) => x.type === NODE_COMMAND && x.name.endsWith("-ssh-check"));
    expect(checks.map((c) => c.name).sort()).toEqual(plan.nodes.map((n) => `rocm-vllm-${n.name}-ssh-check`).sort());
    for (const c of checks) {
      expect(String(c.inputs.create)).toContain("StrictHostKeyChecking=yes");
      expect(c.dependencies).toEqual([]);
    }
    await expect(runCluster(fixturePlan(2), false)).rejects.toThrow(
      /not configured.*\n.*vllm-chat \(gpu-0\): HF_TOKEN/,
    );
  });

  it("does not deepen the dependency graph with more nodes (parallel rollout)", async () => {
    const small = dependencyDepth((await runCluster(fixturePlan(2))).resources);
    const large = dependencyDepth((await runCluster(fixturePlan(64))).resources);
    // Stack → Cluster → Node → host-key check → image → container → readiness.
    expect(small).toBe(7);
    expect(large).toBe(small);
  });

  it("uses bracketed IPv6 hosts and never prompts for SSH", () => {
    const ssh = { user: "root", port: 2222 };
    expect(dockerSshHost({ host: "fd00::1", ssh })).toBe("ssh://root@[fd00::1]:2222");
    expect(dockerSshOpts({ ssh })).toEqual(expect.arrayContaining(["BatchMode=yes", "StrictHostKeyChecking=yes"]));
    expect(dockerSshOpts({ ssh })).not.toContain("-i");
  });
});
