/**
 * The Pulumi program (`deployCluster`) under mocks, on every example stack and on generated configs: what
 * `pulumi up` would create, on which node, waiting for what, with which inputs; what it exports; that secrets stay
 * secret; that config errors stop it with the CLI's lines; and that rollout depth does not grow with the node count.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { SESSIONS_PER_NODE } from "../components/sessions";
import { parseStackConfig, parseStackYaml } from "../planner/config/load";
import { buildPlan } from "../planner/plan";
import { formatProblems } from "../planner/problems";
import type { ContainerSpec, NodePlan, Plan } from "../planner/types";
import {
  byUrn,
  CONTAINER,
  commandHost,
  commandStep,
  DOCKER_PROVIDER,
  dependencyDepth,
  FAKE_BENCHMARK_RESULT,
  FAKE_SECRETS,
  maxConcurrent,
  NODE_COMMAND,
  ProgramFailure,
  type ProgramRun,
  REMOTE_IMAGE,
  type RecordedResource,
  readStackFile,
  resourceGraph,
  runProgram,
  STACK,
  type StackInput,
} from "./support/pulumiMocks";

const STACKS_DIR = join(__dirname, "..", "stacks");
const stackFiles = readdirSync(STACKS_DIR)
  .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
  .sort();

/** The plan the program should be provisioning, built straight from the planner. */
function planFor(input: StackInput): Plan {
  const loaded = parseStackConfig({
    stack: STACK,
    cluster: input.cluster,
    deployments: input.deployments,
    hasHfToken: input.hfToken !== undefined,
  });
  if (!loaded.ok) throw new Error(formatProblems(loaded.problems));
  const { plan, problems } = buildPlan(loaded.config);
  if (problems.length > 0) throw new Error(formatProblems(problems));
  return plan;
}

/** What a planned container must look like as `docker.Container` inputs, written out independently of the code. */
function expectedContainerInputs(
  spec: ContainerSpec,
  hfToken: string | undefined,
  imageId: string,
): Record<string, unknown> {
  const env = { ...spec.env, ...(spec.secretEnv.includes("HF_TOKEN") ? { HF_TOKEN: hfToken } : {}) };
  const seconds = (s: number) => (s >= 3600 ? `${s / 3600}h0m0s` : `${s}s`);
  return {
    name: spec.name,
    restart: spec.restart,
    mustRun: true,
    init: spec.init,
    stopTimeout: spec.stopGraceSeconds,
    destroyGraceSeconds: spec.stopGraceSeconds,
    ...(spec.healthcheck
      ? {
          healthcheck: {
            tests: spec.healthcheck.test,
            interval: seconds(spec.healthcheck.intervalSeconds),
            timeout: seconds(spec.healthcheck.timeoutSeconds),
            retries: spec.healthcheck.retries,
            startPeriod: seconds(spec.healthcheck.startPeriodSeconds),
          },
        }
      : {}),
    entrypoints: spec.entrypoint,
    command: spec.command,
    envs: Object.keys(env)
      .sort()
      .map((k) => `${k}=${env[k as keyof typeof env]}`),
    devices: spec.devices.map((d) => ({ hostPath: d, containerPath: d, permissions: "rwm" })),
    groupAdds: spec.groupAdd,
    ipcMode: spec.ipcMode,
    networkMode: spec.networkMode,
    securityOpts: spec.securityOpt,
    capabilities: { adds: spec.capAdd },
    ulimits: spec.ulimits,
    // A per-image cache directory ends in the first 12 hex digits of the pulled image's ID.
    volumes: spec.volumes.map((v) => ({
      hostPath: v.perImage ? `${v.hostPath}/${imageId.slice("sha256:".length, "sha256:".length + 12)}` : v.hostPath,
      containerPath: v.containerPath,
      readOnly: v.readOnly,
    })),
    labels: Object.entries(spec.labels).map(([label, value]) => ({ label, value })),
  };
}

function dockerHost(node: NodePlan): string {
  return `ssh://${node.ssh.user}@${node.host}:${node.ssh.port}`;
}

/** The Docker provider of a node, found by its `ssh://` host. */
function providerOf(run: ProgramRun, node: NodePlan): RecordedResource {
  const found = run.resources.filter((r) => r.type === DOCKER_PROVIDER && r.inputs.host === dockerHost(node));
  expect(found, `providers for ${node.name}`).toHaveLength(1);
  return found[0];
}

function containerNamed(run: ProgramRun, node: NodePlan, name: string): RecordedResource {
  const provider = providerOf(run, node);
  const found = run.resources.filter(
    (r) => r.type === CONTAINER && r.provider === provider.urn && r.inputs.name === name,
  );
  expect(found, `container ${name} on ${node.name}`).toHaveLength(1);
  return found[0];
}

function commandsOn(run: ProgramRun, node: NodePlan): RecordedResource[] {
  return run.resources.filter((r) => r.type === NODE_COMMAND && commandHost(r) === node.host);
}

/** Every ssh-using resource of a node: its commands, and the Docker resources of its provider. */
function onNode(run: ProgramRun, node: NodePlan): Set<string> {
  const provider = providerOf(run, node);
  return new Set([
    ...commandsOn(run, node).map((r) => r.urn),
    ...run.resources.filter((r) => r.provider === provider.urn).map((r) => r.urn),
  ]);
}

describe.each(stackFiles)("example stack %s under mocks", (file) => {
  const stack = file.replace(/^Pulumi\.|\.yaml$/g, "");
  const input = readStackFile(join(STACKS_DIR, file));
  let run: ProgramRun;
  let plan: Plan;
  beforeAll(async () => {
    plan = planFor(input);
    run = await runProgram(input);
  });

  it("parses the same way as the CLI reads the file", () => {
    // The CLI names the stack after the file (Pulumi.<stack>.yaml), the program after pulumi.getStack(): the same.
    const viaCli = parseStackYaml(readFileSync(join(STACKS_DIR, file), "utf8"), `stacks/Pulumi.${STACK}.yaml`);
    expect(viaCli.ok).toBe(true);
    if (viaCli.ok) expect(buildPlan(viaCli.config).plan).toEqual(plan);
  });

  it("labels every container with the stack's name, pulumi.getStack()", () => {
    const containers = run.resources.filter((r) => r.type === CONTAINER);
    expect(containers.length).toBeGreaterThan(0);
    for (const c of containers) {
      expect(c.inputs.labels).toEqual(expect.arrayContaining([{ label: "rocm-vllm.stack", value: STACK }]));
    }
  });

  it("creates one Docker provider per node over SSH and pulls each image once per node through it", () => {
    expect(run.resources.filter((r) => r.type === DOCKER_PROVIDER)).toHaveLength(plan.nodes.length);
    for (const node of plan.nodes) {
      const provider = providerOf(run, node);
      expect(JSON.parse(String(provider.inputs.sshOpts))).toEqual(
        expect.arrayContaining(["BatchMode=yes", "StrictHostKeyChecking=yes"]),
      );
      const pulls = run.resources.filter((r) => r.type === REMOTE_IMAGE && r.provider === provider.urn);
      const images = new Set(
        [...node.containers, ...node.services, ...node.jobs.map((j) => j.container)].map((c) => c.image),
      );
      expect(pulls.map((p) => p.inputs.name).sort()).toEqual([...images].sort());
      for (const pull of pulls) expect(pull.inputs.keepLocally).toBe(true);
    }
  });

  it("runs every planned GPU container on its node with exactly the plan's devices, env, groups and modes", () => {
    const planned = plan.nodes.flatMap((n) => n.containers.map((spec) => ({ node: n, spec })));
    expect(run.resources.filter((r) => r.type === CONTAINER)).toHaveLength(
      planned.length + plan.nodes.reduce((k, n) => k + n.services.length, 0),
    );
    for (const { node, spec } of planned) {
      const c = containerNamed(run, node, spec.name);
      expect(c.inputs).toMatchObject(expectedContainerInputs(spec, input.hfToken, String(c.inputs.image)));
      expect(c.inputs.envs).toHaveLength(Object.keys(spec.env).length + spec.secretEnv.length);
      if (spec.shmSizeMb === undefined) expect(c.inputs).not.toHaveProperty("shmSize");
      else expect(c.inputs.shmSize).toBe(spec.shmSizeMb);
      // The image it runs is the pull on its own node (its group's other pulls are only waited for).
      const image = byUrn(run).get(c.propertyDependencies.image?.[0] ?? "");
      expect(image?.type).toBe(REMOTE_IMAGE);
      expect(image?.provider).toBe(c.provider);
      expect(c.inputs.image).toMatch(/^sha256:/);
    }
    // Fixed Docker names: every replacement, forced by the engine or not, deletes the old container first.
    for (const c of run.resources.filter((r) => r.type === CONTAINER)) expect(c.deleteBeforeReplace, c.name).toBe(true);
  });

  it("puts Ray heads and workers under a RayCluster and other serving containers under a VllmDeployment", () => {
    const urns = byUrn(run);
    for (const node of plan.nodes) {
      for (const spec of node.containers) {
        const parent = urns.get(containerNamed(run, node, spec.name).parent ?? "");
        const kind = plan.deployments.find((d) => d.name === spec.deployment)?.kind;
        expect(parent?.type).toBe(kind === "ray" ? "rocm-vllm:index:RayCluster" : "rocm-vllm:index:VllmDeployment");
        expect(parent?.name).toBe(`rocm-vllm-${spec.deployment}`);
      }
    }
    for (const d of plan.deployments.filter((x) => x.kind === "ray")) {
      for (const ray of d.rayClusters) {
        const head = plan.nodes.find((n) => n.name === ray.headNode);
        expect(head?.containers.some((c) => c.role === "ray-head" && c.deployment === d.name)).toBe(true);
        for (const w of ray.workerNodes) {
          const worker = plan.nodes.find((n) => n.name === w);
          expect(worker?.containers.some((c) => c.role === "ray-worker" && c.deployment === d.name)).toBe(true);
          if (worker) containerNamed(run, worker, worker.containers.find((c) => c.role === "ray-worker")?.name ?? "");
        }
      }
    }
  });

  it("gates every instance: readiness waits for every container of its rollout wave, the smoke test for readiness", () => {
    for (const d of plan.deployments) {
      for (const check of d.readiness) {
        const wave = d.rollout.waves.find((w) => w.containers.some((c) => c.name === check.container));
        const gpu = (wave?.containers ?? []).map((c) => {
          const node = plan.nodes.find((n) => n.name === c.node);
          if (!node) throw new Error(`no node ${c.node}`);
          return containerNamed(run, node, c.name);
        });
        expect(gpu.length).toBeGreaterThan(0);
        const instance = d.instances.find((i) => i.container === check.container);
        const gate = run.resources.find(
          (r) => r.type === NODE_COMMAND && r.name === `rocm-vllm-${d.name}-r${instance?.replica}-ready`,
        );
        if (!gate) throw new Error(`no readiness gate for ${check.container}`);
        // The plan's script, inside the guard that enforces its limit on the node.
        expect(commandStep(gate)).toContain(check.script);
        const deps = new Set(gate.dependencies);
        for (const c of gpu) expect(deps.has(c.urn), `${gate.name} waits for ${c.name}`).toBe(true);
        expect(commandHost(gate)).toBe(check.host);
        expect(gate.secretInputs).toEqual([]);
        expect(gate.inputs.logging).toBe("stdoutAndStderr");
        expect((gate.inputs.triggers as string[]).length).toBeGreaterThan(0);
      }
      expect(
        run.resources.filter(
          (r) => r.type === NODE_COMMAND && r.name.endsWith("-smoke") && r.parent?.endsWith(`::rocm-vllm-${d.name}`),
        ),
      ).toHaveLength(d.smokeTests.length);
      for (const [i, test] of d.smokeTests.entries()) {
        const smoke = run.resources.find((r) => r.name === `rocm-vllm-${d.name}-r${d.instances[i].replica}-smoke`);
        expect(smoke && commandStep(smoke)).toContain(test.script);
        expect(smoke?.dependencies).toContain(
          run.resources.find((r) => r.name === `rocm-vllm-${d.name}-r${d.instances[i].replica}-ready`)?.urn,
        );
      }
    }
  });

  it("runs each node's preflight before its pulls; a container waits for the pulls and downloads of its whole group", () => {
    const urns = byUrn(run);
    for (const node of plan.nodes) {
      const commands = commandsOn(run, node);
      const preflight = commands.filter((c) => c.name.endsWith("-preflight"));
      const check = commands.filter((c) => c.name.endsWith("-ssh-check"));
      expect(check).toHaveLength(1);
      expect(preflight.map((p) => p.dependencies)).toEqual(node.preflight ? [[check[0].urn]] : []);
      for (const p of preflight) expect(commandStep(p)).toContain(node.preflight?.script);
      const provider = providerOf(run, node);
      const local = onNode(run, node);
      for (const pull of run.resources.filter((r) => r.type === REMOTE_IMAGE && r.provider === provider.urn)) {
        expect(pull.dependencies).toContain((preflight[0] ?? check[0]).urn);
        for (const dep of pull.dependencies) expect(local.has(dep), `${pull.name} waits only on its node`).toBe(true);
      }
      const jobs = commands.filter((c) => c.name.includes("-weights-"));
      expect(jobs).toHaveLength(node.jobs.filter((j) => j.after === "image").length);
    }
    for (const node of plan.nodes) {
      const provider = providerOf(run, node);
      const local = onNode(run, node);
      for (const spec of node.containers) {
        const container = containerNamed(run, node, spec.name);
        const deps = container.dependencies.map((u) => urns.get(u));
        // The group: every container with the same generation label, or the container alone.
        const generation = spec.labels["rocm-vllm.generation"];
        const groupNodes = plan.nodes.filter((n) =>
          n.containers.some(
            (c) =>
              c.deployment === spec.deployment &&
              (c === spec || (generation !== undefined && c.labels["rocm-vllm.generation"] === generation)),
          ),
        );
        const pulls = groupNodes.map((n) => providerOf(run, n).urn);
        const downloads = groupNodes.flatMap((n) =>
          commandsOn(run, n).filter((c) => c.name === `rocm-vllm-${spec.deployment}-weights-${n.name}`),
        );
        // This node's resources (its image, its session lane), the pulls and downloads of its group's nodes, and
        // (rolling) its wave's drains: never another node's container.
        for (const dep of deps) {
          const allowed =
            local.has(dep?.urn ?? "") ||
            (dep?.type === REMOTE_IMAGE && pulls.includes(dep.provider ?? "")) ||
            downloads.some((j) => j.urn === dep?.urn) ||
            /-w\d+-drain-/.test(String(dep?.name));
          expect(allowed, `${container.name} waits on ${dep?.name}`).toBe(true);
        }
        expect(new Set(deps.filter((x) => x?.type === REMOTE_IMAGE).map((x) => x?.provider))).toEqual(new Set(pulls));
        const image = run.resources.find(
          (r) => r.type === REMOTE_IMAGE && r.provider === provider.urn && r.inputs.name === spec.image,
        );
        expect(container.dependencies).toContain(image?.urn);
        for (const j of downloads) expect(deps.map((x) => x?.urn)).toContain(j.urn);
      }
    }
  });

  it("exports each node's preflight lines (and none for nodes without preflight)", () => {
    expect(Object.keys(run.outputs.preflight).sort()).toEqual(
      plan.nodes
        .filter((n) => n.preflight)
        .map((n) => n.name)
        .sort(),
    );
    for (const lines of Object.values(run.outputs.preflight)) {
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatch(/^rocm-vllm preflight .*: ok: /);
    }
  });

  it("exports the plan's endpoints, served model names and warnings", () => {
    expect(run.outputs.endpoints).toEqual(Object.fromEntries(plan.deployments.map((d) => [d.name, d.endpoints])));
    expect(run.outputs.servedModelNames).toEqual(
      Object.fromEntries(plan.deployments.map((d) => [d.name, d.servedModelName])),
    );
    expect(run.outputs.warnings).toEqual(plan.warnings);
    expect(run.outputs.benchmarks).toEqual({});
    for (const urls of Object.values(run.outputs.endpoints))
      for (const u of urls) expect(u).toMatch(/^http:\/\/[\d.]+:\d+$/);
  });

  it("never shows a secret in plaintext", () => {
    const text = JSON.stringify({ graph: resourceGraph(run), outputs: run.outputs });
    expect(text).not.toContain(FAKE_SECRETS.hfToken);
    expect(run.secretOutputs).toEqual([]);
    // Steps are secret only when they carry a secret (a download with the HF token); the SSH connection is not one.
    for (const r of run.resources.filter((x) => x.type === NODE_COMMAND && x.secretInputs.length > 0)) {
      expect(r.secretInputs).toEqual(["stdin"]);
      expect(String(r.inputs.stdin)).toContain("export HF_TOKEN=");
    }
    for (const r of run.resources.filter((x) => JSON.stringify(x.inputs).includes(FAKE_SECRETS.hfToken))) {
      expect(r.secretInputs.length).toBeGreaterThan(0);
    }
  });

  it("matches the committed resource graph", async () => {
    await expect(`${JSON.stringify(resourceGraph(run), null, 2)}\n`).toMatchFileSnapshot(
      `__snapshots__/graph.${stack}.json`,
    );
  });
});

/** A cluster config with `n` MI300X nodes at 10.1.x.y. */
function clusterOf(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gpu: "mi300x",
    image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
    nodes: Array.from({ length: n }, (_, i) => ({
      name: `gpu-${i}`,
      host: `10.1.${Math.floor(i / 200)}.${10 + (i % 200)}`,
    })),
    ...extra,
  };
}

describe("generated configs", () => {
  it("gives the HF token, as a secret, only to containers that list it", async () => {
    const input: StackInput = {
      cluster: clusterOf(1),
      deployments: [{ name: "llama8b", model: "meta-llama/Llama-3.1-8B-Instruct", replicas: 2 }],
      hfToken: FAKE_SECRETS.hfToken,
    };
    const plan = planFor(input);
    const run = await runProgram(input);
    const specs = plan.nodes[0].containers;
    expect(specs.every((s) => s.secretEnv.includes("HF_TOKEN"))).toBe(true);
    for (const spec of specs) {
      const c = containerNamed(run, plan.nodes[0], spec.name);
      expect(c.secretInputs).toEqual(["envs"]);
      expect(c.inputs.envs).toContain(`HF_TOKEN=${FAKE_SECRETS.hfToken}`);
    }
    expect(JSON.stringify(resourceGraph(run))).not.toContain(FAKE_SECRETS.hfToken);
    const noToken = await runProgram({ ...input, hfToken: undefined });
    for (const c of noToken.resources.filter((r) => r.type === CONTAINER)) {
      expect(c.secretInputs).toEqual([]);
      expect((c.inputs.envs as string[]).some((e) => e.startsWith("HF_TOKEN="))).toBe(false);
    }
  });

  it("reaches a node with the Docker provider's exact ssh options from every step, bastion and known_hosts included", async () => {
    const ssh = {
      user: "ops",
      port: 2222,
      identityFile: "/home/ops/.ssh/id",
      knownHostsFile: "/etc/rocm-vllm/known_hosts",
      proxyJump: "jump@bastion.example.com:2200",
    };
    const input: StackInput = {
      cluster: clusterOf(1, { ssh }),
      deployments: [{ name: "llama8b", model: "meta-llama/Llama-3.1-8B-Instruct" }],
    };
    const run = await runProgram(input);
    const provider = run.resources.find((r) => r.type === DOCKER_PROVIDER);
    expect(provider?.inputs.host).toBe("ssh://ops@10.1.0.10:2222");
    const opts = JSON.parse(String(provider?.inputs.sshOpts)) as string[];
    expect(opts).toEqual(
      expect.arrayContaining(["StrictHostKeyChecking=yes", "UserKnownHostsFile=/etc/rocm-vllm/known_hosts"]),
    );
    const proxy = opts.find((o) => o.startsWith("ProxyCommand="));
    // The bastion is checked with the same options: they are all in its ProxyCommand.
    expect(proxy).toContain("StrictHostKeyChecking=yes");
    expect(proxy).toContain("-p 2200 -W %h:%p -- jump@bastion.example.com");
    const commands = run.resources.filter((r) => r.type === NODE_COMMAND);
    expect(commands.length).toBeGreaterThan(0);
    const sshLine = `ssh -p 2222 ${opts.map((o) => (/^[\w@%+=:,./-]+$/.test(o) ? o : `'${o}'`)).join(" ")} -- ops@10.1.0.10`;
    for (const c of commands) expect(String(c.inputs.create), c.name).toContain(sshLine);
  });

  it("refuses rocm-vllm:sshPrivateKey with what to do instead, before creating anything", async () => {
    const input: StackInput = {
      cluster: clusterOf(1),
      deployments: [{ name: "llama8b", model: "meta-llama/Llama-3.1-8B-Instruct" }],
      sshPrivateKey: FAKE_SECRETS.sshPrivateKey,
    };
    const failure = await runProgram(input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(ProgramFailure);
    const message = String((failure as ProgramFailure).message);
    expect(message).toContain("rocm-vllm:sshPrivateKey");
    expect(message).toContain("ssh-add");
    expect(message).not.toContain(FAKE_SECRETS.sshPrivateKey);
    expect((failure as ProgramFailure).resources.filter((r) => r.custom)).toEqual([]);
  });

  it("runs external data-parallel load balancing as one container and one gate pair per rank, behind the balancer", async () => {
    const input: StackInput = {
      cluster: clusterOf(2, {}),
      deployments: [
        {
          name: "llama8b",
          model: "meta-llama/Llama-3.1-8B-Instruct",
          parallelism: { tensor: 2, data: 8, dataLoadBalancing: "external" },
          loadBalancer: { port: 9000 },
        },
      ],
    };
    const plan = planFor(input);
    const run = await runProgram(input);
    const containers = run.resources.filter((r) => r.type === CONTAINER && r.name.includes("-r"));
    expect(containers).toHaveLength(8);
    expect(new Set(containers.map((c) => c.provider)).size).toBe(2);
    const gates = run.resources.filter((r) => r.type === NODE_COMMAND && /-r\d+-(ready|smoke)$/.test(r.name));
    expect(gates).toHaveLength(16);
    expect(run.outputs.endpoints).toEqual({ llama8b: [`http://${plan.nodes[0].ip}:9000`] });
  });

  it("runs a load balancer and the benchmark after the gates, and exports the benchmark result", async () => {
    const input: StackInput = {
      cluster: clusterOf(2, { preflight: false }),
      deployments: [
        {
          name: "llama8b",
          model: "meta-llama/Llama-3.1-8B-Instruct",
          replicas: 4,
          nodes: ["gpu-0", "gpu-1"],
          parallelism: { tensor: 4 },
          loadBalancer: { port: 8080, nodes: ["gpu-1"] },
          benchmark: { prompts: 10 },
        },
      ],
      hfToken: FAKE_SECRETS.hfToken,
    };
    const plan = planFor(input);
    const run = await runProgram(input);
    const urns = byUrn(run);
    const [gpu0, gpu1] = plan.nodes;
    expect(commandsOn(run, gpu0).filter((c) => c.name.endsWith("-preflight"))).toEqual([]);

    const lbSpec = gpu1.services[0];
    const lb = containerNamed(run, gpu1, lbSpec.name);
    expect(lb.name).toBe("rocm-vllm-llama8b-load-balancer-gpu-1");
    expect(lb.inputs).toMatchObject(expectedContainerInputs(lbSpec, undefined, String(lb.inputs.image)));
    expect(
      run.resources.filter((r) => r.type === REMOTE_IMAGE && r.provider === lb.provider).map((r) => r.inputs.name),
    ).toContain(lbSpec.image);

    const benchmark = run.resources.find((r) => r.name.includes("-benchmark-"));
    const gates = run.resources.filter((r) => r.type === NODE_COMMAND && /-r\d+-(ready|smoke)$/.test(r.name));
    expect(gates).toHaveLength(8);
    expect(benchmark?.dependencies).toEqual(expect.arrayContaining([...gates.map((g) => g.urn), lb.urn]));
    const job = plan.nodes.flatMap((n) => n.jobs).find((j) => j.after === "readiness");
    expect(benchmark?.inputs.triggers).toEqual([job?.trigger]);
    expect(benchmark && commandStep(benchmark)).toContain("exec docker run --rm --name rocm-vllm-llama8b-benchmark ");
    // The token travels on stdin as the step's first line, exported into its environment; never on a command line.
    expect(benchmark?.secretInputs).toEqual(["stdin"]);
    expect(String(benchmark?.inputs.stdin).startsWith(`export HF_TOKEN='${FAKE_SECRETS.hfToken}'\n`)).toBe(true);
    expect(String(benchmark?.inputs.create)).not.toContain(FAKE_SECRETS.hfToken);

    expect(run.outputs.endpoints).toEqual({ llama8b: [`http://${gpu1.ip}:8080`] });
    expect(run.outputs.benchmarks).toEqual({
      llama8b: {
        outputTokensPerSecond: FAKE_BENCHMARK_RESULT.output_throughput,
        ttftMs: { mean: 100, p50: 90, p90: 150, p99: 200 },
        itlMs: { mean: 20, p50: 18, p90: 25, p99: 40 },
      },
    });
    expect(run.secretOutputs).toEqual([]);
    // No container waits for a gate of its own wave or a later one (a gate waits for its wave's containers); a later
    // wave's containers do wait for an earlier wave's gates (its undrain, and the node's session lanes).
    const waveOf = (replica: number) =>
      plan.deployments[0].rollout.waves.findIndex((w) => w.replicas.includes(replica));
    const replicaOf = (name: string) => Number(/-r(\d+)-/.exec(name)?.[1] ?? /-r(\d+)-(ready|smoke)$/.exec(name)?.[1]);
    for (const c of run.resources.filter((r) => r.type === CONTAINER && /-r\d+-/.test(r.name))) {
      const gateWaves = c.dependencies
        .map((d) => String(urns.get(d)?.name))
        .filter((n) => /-(ready|smoke)$/.test(n))
        .map((n) => waveOf(replicaOf(n)));
      for (const w of gateWaves) expect(w).toBeLessThan(waveOf(replicaOf(c.name)));
    }
  });

  it("stops on a config error before creating anything, with the CLI's lines", async () => {
    const input: StackInput = {
      cluster: clusterOf(1, { gpu: "mi300" }),
      deployments: [{ name: "Bad_Name", model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { tensr: 8 } }],
    };
    const loaded = parseStackConfig({
      stack: STACK,
      cluster: input.cluster,
      deployments: input.deployments,
      hasHfToken: false,
    });
    expect(loaded.ok).toBe(false);
    const expected = loaded.ok ? "" : formatProblems(loaded.problems);
    expect(expected.split("\n").length).toBeGreaterThanOrEqual(3);
    const failure = await runProgram(input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(ProgramFailure);
    expect((failure as ProgramFailure).message).toBe(expected);
    expect((failure as ProgramFailure).resources.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });

  it("stops on a planning error (valid shape, impossible plan) with the planner's lines", async () => {
    const input: StackInput = {
      cluster: clusterOf(1),
      deployments: [{ name: "llama70b", model: "meta-llama/Llama-3.3-70B-Instruct", parallelism: { tensor: 3 } }],
    };
    const loaded = parseStackConfig({
      stack: STACK,
      cluster: input.cluster,
      deployments: input.deployments,
      hasHfToken: false,
    });
    if (!loaded.ok) throw new Error("expected a valid shape");
    const { problems } = buildPlan(loaded.config);
    expect(problems.length).toBeGreaterThan(0);
    await expect(runProgram(input)).rejects.toThrow(formatProblems(problems));
  });

  it("reports a top-level value that is not an object like the CLI does, not with Pulumi's JSON error", async () => {
    const deployments = [{ name: "llama70b", model: "meta-llama/Llama-3.3-70B-Instruct" }];
    const loaded = parseStackConfig({ stack: STACK, cluster: "mi300x", deployments, hasHfToken: false });
    if (loaded.ok) throw new Error("expected problems");
    await expect(
      runProgram({ cluster: undefined, deployments, plainConfig: { "rocm-vllm:cluster": "mi300x" } }),
    ).rejects.toThrow(formatProblems(loaded.problems));
  });

  it("reports a missing config key like the CLI does", async () => {
    const loaded = parseStackConfig({ stack: STACK, cluster: undefined, deployments: undefined, hasHfToken: false });
    if (loaded.ok) throw new Error("expected problems");
    await expect(runProgram({ cluster: undefined, deployments: undefined })).rejects.toThrow(
      formatProblems(loaded.problems),
    );
  });
});

describe("bounded SSH sessions per node", () => {
  /** Per node, the most of its ssh-using resources (steps, pulls, containers) the graph lets run at once. */
  async function widths(input: StackInput): Promise<Map<string, { width: number; size: number }>> {
    const plan = planFor(input);
    const run = await runProgram(input);
    return new Map(
      plan.nodes.map((n) => {
        const members = onNode(run, n);
        return [n.name, { width: maxConcurrent(run, members), size: members.size }];
      }),
    );
  }

  it(`lets at most ${SESSIONS_PER_NODE} operations reach one node at once, in every example stack`, async () => {
    for (const file of stackFiles) {
      for (const [node, { width }] of await widths(readStackFile(join(STACKS_DIR, file)))) {
        expect(width, `${file} ${node}`).toBeLessThanOrEqual(SESSIONS_PER_NODE);
      }
    }
  });

  it("holds on a packed node with eight instances, a balancer and a benchmark, and uses all its lanes", async () => {
    const packed = (rollout: Record<string, unknown>): StackInput => ({
      cluster: clusterOf(1),
      deployments: [
        {
          name: "llama8b",
          model: "meta-llama/Llama-3.1-8B-Instruct",
          replicas: 8,
          loadBalancer: {},
          benchmark: { prompts: 10 },
          weights: { predownload: true },
          ...rollout,
        },
      ],
      hfToken: FAKE_SECRETS.hfToken,
    });
    // All at once: the eight containers and their gates could all run together, so the lanes are the bound.
    const node = (await widths(packed({ rollout: { strategy: "all-at-once" } }))).get("gpu-0");
    expect(node?.size).toBeGreaterThan(30);
    expect(node?.width).toBe(SESSIONS_PER_NODE);
    // Rolling (the default behind a balancer): waves of two replicas, within the same bound.
    const rolling = (await widths(packed({}))).get("gpu-0");
    expect(rolling?.width).toBeLessThanOrEqual(SESSIONS_PER_NODE);
  });
});

describe("parallel rollout at scale", () => {
  /** 405B on Ray, TP 8 × PP 2 per replica, `replicas` replicas: two nodes each. */
  const ray = (replicas: number): StackInput => ({
    cluster: clusterOf(replicas * 2, { network: { interface: "ens50f0np0" } }),
    deployments: [
      {
        name: "llama405b",
        model: "meta-llama/Llama-3.1-405B-Instruct",
        parallelism: { tensor: 8, pipeline: 2 },
        replicas,
        maxModelLen: 8192,
        maxNumSeqs: 256,
      },
    ],
    hfToken: FAKE_SECRETS.hfToken,
  });

  it("keeps the dependency depth of a 64-node stack equal to a 2-node one", async () => {
    const started = performance.now();
    const big = await runProgram(ray(32));
    const elapsed = performance.now() - started;
    const small = await runProgram(ray(1));
    expect(planFor(ray(32)).nodes).toHaveLength(64);
    expect(big.resources.filter((r) => r.type === DOCKER_PROVIDER)).toHaveLength(64);
    expect(big.resources.filter((r) => r.type === CONTAINER)).toHaveLength(64);
    // Stack → Cluster → Node → host-key check → preflight → pull → weights → container → readiness → smoke test.
    expect(dependencyDepth(small.resources)).toBe(10);
    expect(dependencyDepth(big.resources)).toBe(dependencyDepth(small.resources));
    // Fast enough to run on every commit (measured: about 2 s).
    expect(elapsed).toBeLessThan(20_000);
  });
});

describe("rolling updates in the graph", () => {
  /** `replicas` four-GPU replicas of an 8B model over `nodes` nodes, behind balancers on the first two nodes. */
  const rolling = (replicas: number, nodes: number, rollout: Record<string, unknown> = {}): StackInput => ({
    cluster: clusterOf(nodes, { preflight: false }),
    deployments: [
      {
        name: "llama8b",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        replicas,
        parallelism: { tensor: 4 },
        loadBalancer: { port: 9000, nodes: ["gpu-0", "gpu-1"] },
        benchmark: { prompts: 10 },
        rollout,
      },
    ],
  });

  it("replaces one wave at a time: drain on every balancer, the wave's containers, its gates, undrain, then the next", async () => {
    const input = rolling(4, 2);
    const plan = planFor(input);
    const d = plan.deployments[0];
    expect(d.rollout.strategy).toBe("rolling");
    expect(d.rollout.waves.map((w) => w.replicas)).toEqual([[0], [1], [2], [3]]);
    const run = await runProgram(input);
    const urns = byUrn(run);
    const named = (n: string) => {
      const r = run.resources.find((x) => x.name === n);
      if (!r) throw new Error(`no resource ${n}`);
      return r;
    };
    const steps = (w: number, kind: string) =>
      ["gpu-0", "gpu-1"].map((n) => named(`rocm-vllm-llama8b-w${w}-${kind}-${n}`));
    // Where a resource is in the rollout: its wave (-1: before every wave: pulls, downloads, balancers), then its
    // step in the wave (drain, container, readiness, smoke test, undrain).
    const position = (urn: string): [number, number] => {
      const name = urns.get(urn)?.name ?? "";
      const step = /-w(\d+)-(drain|undrain)-/.exec(name);
      if (step) return [Number(step[1]), step[2] === "drain" ? 0 : 4];
      const replica = /-r(\d+)-(ready|smoke)?/.exec(name);
      if (!replica) return [-1, 0];
      const wave = d.rollout.waves.findIndex((x) => x.replicas.includes(Number(replica[1])));
      return [wave, replica[2] === "ready" ? 2 : replica[2] === "smoke" ? 3 : 1];
    };
    const before = (a: [number, number], b: [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    /**
     * Dependencies: every one in `expected`; the others (the node's session lanes) come earlier in the rollout, so the
     * lanes never make a step wait for one after it.
     */
    const waitsFor = (r: { urn: string; name: string; dependencies: string[] }, expected: string[]) => {
      expect(r.dependencies).toEqual(expect.arrayContaining(expected));
      for (const dep of r.dependencies.filter((u) => !expected.includes(u))) {
        expect(before(position(dep), position(r.urn)), `${r.name} waits for ${urns.get(dep)?.name}`).toBe(true);
      }
    };
    d.rollout.waves.forEach((wave, w) => {
      const drains = steps(w, "drain");
      const undrains = steps(w, "undrain");
      const balancers = run.resources.filter((r) => r.type === CONTAINER && r.name.includes("-load-balancer-"));
      for (const s of drains) {
        // The plan's drain inside the guard every step runs in.
        expect(commandStep(s)).toContain(wave.drain);
        expect((s.inputs.triggers as string[]).length).toBe(1);
        // The previous wave's undrains (the balancers for the first wave).
        waitsFor(
          s,
          (w === 0 ? balancers : steps(w - 1, "undrain")).map((u) => u.urn),
        );
      }
      const containers = wave.containers.map((c) => {
        const node = plan.nodes.find((n) => n.name === c.node);
        if (!node) throw new Error(`no node ${c.node}`);
        return containerNamed(run, node, c.name);
      });
      for (const c of containers)
        waitsFor(
          c,
          drains.map((s) => s.urn),
        );
      const replicas = d.instances.filter((i) => wave.containers.some((c) => c.name === i.container));
      const gates = replicas.flatMap((i) => [
        named(`rocm-vllm-llama8b-r${i.replica}-ready`),
        named(`rocm-vllm-llama8b-r${i.replica}-smoke`),
      ]);
      for (const g of gates.filter((x) => x.name.endsWith("-ready"))) {
        waitsFor(
          g,
          containers.map((c) => c.urn),
        );
      }
      for (const s of undrains) {
        expect(commandStep(s)).toContain(wave.undrain);
        expect(s.inputs.triggers).toEqual(drains[0]?.inputs.triggers);
        waitsFor(
          s,
          gates.map((g) => g.urn),
        );
      }
    });
    const last = steps(d.rollout.waves.length - 1, "undrain").map((s) => s.urn);
    expect(run.resources.find((r) => r.name.includes("-benchmark-"))?.dependencies).toEqual(
      expect.arrayContaining(last),
    );
  });

  it("gives no later resource a property taken from an earlier wave's container, so a delete-before-replace of one wave deletes only that wave's gates early", async () => {
    const input = rolling(4, 2);
    const plan = planFor(input);
    const run = await runProgram(input);
    const waveOfUrn = new Map<string, number>();
    plan.deployments[0].rollout.waves.forEach((wave, w) => {
      for (const c of wave.containers) {
        const node = plan.nodes.find((n) => n.name === c.node);
        if (node) waveOfUrn.set(containerNamed(run, node, c.name).urn, w);
      }
    });
    const containerUrns = [...waveOfUrn.keys()];
    // calculateDependentReplacements (pulumi/pulumi step_generator.go) follows property dependencies only.
    for (const r of run.resources) {
      const fromContainers = Object.values(r.propertyDependencies)
        .flat()
        .filter((u) => containerUrns.includes(u));
      if (fromContainers.length === 0) continue;
      expect(r.name).toMatch(/-r\d+-(ready|smoke)$/);
      const replica = Number(/-r(\d+)-/.exec(r.name)?.[1]);
      const instance = plan.deployments[0].instances.find((i) => i.replica === replica);
      const own = [...waveOfUrn].filter(([, w]) =>
        plan.deployments[0].rollout.waves[w]?.containers.some((c) => c.name === instance?.container),
      );
      expect(new Set(fromContainers.map((u) => waveOfUrn.get(u)))).toEqual(new Set(own.map(([, w]) => w)));
    }
  });

  it("keeps the graph's depth independent of the node count: the default waves are a fraction of the replicas", async () => {
    // Two replicas per node: 4 nodes → 8 replicas, 64 nodes → 128 replicas; 25 % per wave → 4 waves either way.
    const small = await runProgram(rolling(8, 4));
    const big = await runProgram(rolling(128, 64));
    expect(planFor(rolling(128, 64)).deployments[0].rollout.waves).toHaveLength(4);
    expect(planFor(rolling(8, 4)).deployments[0].rollout.waves).toHaveLength(4);
    expect(dependencyDepth(big.resources)).toBe(dependencyDepth(small.resources));
    // Each wave adds drain → container → readiness → smoke test → undrain; all at once has none of the steps.
    const once = await runProgram(rolling(8, 4, { strategy: "all-at-once" }));
    expect(dependencyDepth(small.resources)).toBe(dependencyDepth(once.resources) + 5 * 4 - 2);
    // A fixed count of one replica at a time makes the depth grow with the replicas: the price of maxUnavailable 1.
    const oneByOne = await runProgram(rolling(8, 4, { maxUnavailable: 1 }));
    expect(dependencyDepth(oneByOne.resources)).toBe(dependencyDepth(small.resources) + 5 * 4);
  });
});
