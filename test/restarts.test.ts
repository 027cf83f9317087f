/**
 * "What restarts when" (README), checked: run the program on a config and on a changed copy, and compare the
 * resources' inputs. A container whose inputs change is replaced (restarted); a command whose inputs change runs
 * again; an image whose inputs change is pulled again.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CONTAINER,
  diffRuns,
  FAKE_SECRETS,
  NODE_COMMAND,
  REMOTE_IMAGE,
  type RunDiff,
  readStackFile,
  runProgram,
  type StackInput,
} from "./support/pulumiMocks";

type Raw = Record<string, unknown>;
const stacks = join(__dirname, "..", "stacks");
const example = (name: string): StackInput => readStackFile(join(stacks, `Pulumi.${name}.yaml`));
/** The two-node example on vLLM 0.11.0, whose images run Ray across nodes: a Ray cluster. */
const rayExample = (): StackInput =>
  edit(example("llama405b-2node"), { cluster: { image: "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251006" } });

/** A copy of `input` with the first deployment (or the cluster) edited. */
function edit(input: StackInput, change: { deployment?: Raw; cluster?: Raw }): StackInput {
  const [first, ...rest] = input.deployments as Raw[];
  return {
    ...input,
    cluster: { ...(input.cluster as Raw), ...change.cluster },
    deployments: [{ ...first, ...change.deployment }, ...rest],
  };
}

async function diff(before: StackInput, after: StackInput): Promise<{ d: RunDiff; types: Map<string, string> }> {
  const [a, b] = [await runProgram(before), await runProgram(after)];
  return { d: diffRuns(a, b), types: new Map([...a.resources, ...b.resources].map((r) => [r.name, r.type])) };
}

/** Names of changed resources of one type. */
function changedOf(x: { d: RunDiff; types: Map<string, string> }, type: string): string[] {
  return Object.keys(x.d.changed)
    .filter((n) => x.types.get(n) === type)
    .sort();
}

describe("what restarts when", () => {
  it("a vLLM option restarts the serving container and its gates, not the image pull or preflight", async () => {
    const base = example("llama70b-mi300x");
    const x = await diff(base, edit(base, { deployment: { maxNumSeqs: 64 } }));
    expect(x.d.added).toEqual([]);
    expect(x.d.removed).toEqual([]);
    expect(changedOf(x, CONTAINER)).toEqual(["rocm-vllm-llama70b-r0-node-a"]);
    expect(x.d.changed["rocm-vllm-llama70b-r0-node-a"]).toEqual(["command"]);
    expect(changedOf(x, REMOTE_IMAGE)).toEqual([]);
    expect(changedOf(x, NODE_COMMAND)).toEqual(["rocm-vllm-llama70b-r0-ready", "rocm-vllm-llama70b-r0-smoke"]);
  });

  it("a vLLM option of a Ray deployment restarts head and workers together, not the weight downloads", async () => {
    const base = rayExample();
    const x = await diff(base, edit(base, { deployment: { maxNumSeqs: 128 } }));
    expect(changedOf(x, CONTAINER)).toEqual(["rocm-vllm-llama405b-r0-node-a", "rocm-vllm-llama405b-r0-node-b"]);
    // The worker's own settings did not change: its generation did (label and ROCM_VLLM_GENERATION).
    expect(x.d.changed["rocm-vllm-llama405b-r0-node-b"]).toEqual(["envs", "labels"]);
    expect(changedOf(x, NODE_COMMAND)).toEqual(["rocm-vllm-llama405b-r0-ready", "rocm-vllm-llama405b-r0-smoke"]);
    expect(changedOf(x, REMOTE_IMAGE)).toEqual([]);
  });

  it("a vLLM option of a native multi-node deployment re-forms every rank, not the weight downloads", async () => {
    const base = example("llama405b-2node");
    const x = await diff(base, edit(base, { deployment: { maxNumSeqs: 128 } }));
    expect(changedOf(x, CONTAINER)).toEqual(["rocm-vllm-llama405b-r0-node-a", "rocm-vllm-llama405b-r0-node-b"]);
    // The generation changed: its label, and ROCM_VLLM_GENERATION in the environment.
    for (const c of changedOf(x, CONTAINER)) expect(x.d.changed[c]).toEqual(["command", "envs", "labels"]);
    expect(changedOf(x, NODE_COMMAND)).toEqual(["rocm-vllm-llama405b-r0-ready", "rocm-vllm-llama405b-r0-smoke"]);
    expect(changedOf(x, REMOTE_IMAGE)).toEqual([]);
  });

  it("switching the executor (Ray on 0.11.0 → native on 0.11.1) replaces each node's container in place", async () => {
    const ray = rayExample();
    const x = await diff(ray, example("llama405b-2node"));
    expect(x.d.added.filter((n) => x.types.get(n) === CONTAINER)).toEqual([]);
    expect(x.d.removed.filter((n) => x.types.get(n) === CONTAINER)).toEqual([]);
    for (const c of ["rocm-vllm-llama405b-r0-node-a", "rocm-vllm-llama405b-r0-node-b"]) {
      expect(x.d.changed[c]).toEqual(expect.arrayContaining(["command", "image", "labels", "name"]));
    }
    const after = await runProgram(example("llama405b-2node"));
    for (const node of ["node-a", "node-b"]) {
      const c = after.resources.find((r) => r.name === `rocm-vllm-llama405b-r0-${node}`);
      expect(c?.type).toBe(CONTAINER);
      expect(JSON.stringify(c?.aliases)).toContain("rocm-vllm:index:RayCluster::rocm-vllm-llama405b");
    }
  });

  it("a new image is pulled on every node and restarts every container; downloads and gates run again", async () => {
    const base = example("llama405b-2node");
    const x = await diff(base, edit(base, { cluster: { image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251124" } }));
    expect(changedOf(x, REMOTE_IMAGE)).toEqual(["rocm-vllm-node-a-image", "rocm-vllm-node-b-image"]);
    expect(changedOf(x, CONTAINER)).toHaveLength(2);
    for (const c of changedOf(x, CONTAINER)) expect(x.d.changed[c]).toContain("image");
    expect(changedOf(x, NODE_COMMAND).filter((n) => n.includes("-weights-"))).toHaveLength(2);
  });

  it("more replicas add containers and leave the running ones alone (beyond 2)", async () => {
    const base: StackInput = {
      cluster: {
        gpu: "mi300x",
        image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
        nodes: [{ name: "n0", host: "10.2.0.10" }],
      },
      deployments: [{ name: "llama8b", model: "meta-llama/Llama-3.1-8B-Instruct", replicas: 2 }],
    };
    const x = await diff(base, edit(base, { deployment: { replicas: 3 } }));
    expect(changedOf(x, CONTAINER)).toEqual([]);
    expect(x.d.added.filter((n) => x.types.get(n) === CONTAINER)).toEqual(["rocm-vllm-llama8b-r2-n0"]);
    expect(x.d.removed).toEqual([]);
    // 1 → 2 renames replica 0's container: a replace of the same resource, not a second container beside it.
    const y = await diff(edit(base, { deployment: { replicas: 1 } }), base);
    expect(y.d.changed["rocm-vllm-llama8b-r0-n0"]).toContain("name");
    expect(y.d.added.filter((n) => y.types.get(n) === CONTAINER)).toEqual(["rocm-vllm-llama8b-r1-n0"]);
  });

  it("rotating the HF token re-runs the downloads but restarts no pre-downloading container", async () => {
    const base = example("llama405b-2node");
    const x = await diff(base, { ...base, hfToken: `${FAKE_SECRETS.hfToken}-rotated` });
    expect(changedOf(x, CONTAINER)).toEqual([]);
    expect(changedOf(x, NODE_COMMAND)).toEqual([
      "rocm-vllm-llama405b-weights-node-a",
      "rocm-vllm-llama405b-weights-node-b",
    ]);
    for (const n of changedOf(x, NODE_COMMAND)) expect(x.d.changed[n]).toEqual(["stdin"]);
  });

  it("a new known_hosts file re-runs every step with the new ssh options and restarts no container", async () => {
    const base = example("llama405b-2node");
    const x = await diff(base, edit(base, { cluster: { ssh: { knownHostsFile: "/etc/rocm-vllm/known_hosts" } } }));
    expect(changedOf(x, CONTAINER)).toEqual([]);
    expect(changedOf(x, REMOTE_IMAGE)).toEqual([]);
    // Host-key checks, preflights, downloads and gates of both nodes: their ssh command line changed.
    expect(changedOf(x, NODE_COMMAND)).toHaveLength(8);
    for (const n of changedOf(x, NODE_COMMAND)) expect(x.d.changed[n]).toEqual(["create"]);
  });

  it("changing kind keeps the container's identity on its node, so it is replaced, not doubled", async () => {
    const single: StackInput = {
      cluster: {
        gpu: "mi300x",
        image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
        network: { interface: "ens50f0np0" },
        nodes: [
          { name: "node-a", host: "10.0.0.11" },
          { name: "node-b", host: "10.0.0.12" },
        ],
      },
      deployments: [{ name: "llama70b", model: "meta-llama/Llama-3.3-70B-Instruct", parallelism: { tensor: 8 } }],
    };
    const ray = edit(single, {
      cluster: { image: "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251006" },
      deployment: { parallelism: { tensor: 8, pipeline: 2 } },
    });
    const x = await diff(single, ray);
    expect(x.d.changed["rocm-vllm-llama70b-r0-node-a"]).toEqual(expect.arrayContaining(["command", "name"]));
    expect(x.d.added.filter((n) => x.types.get(n) === CONTAINER)).toEqual(["rocm-vllm-llama70b-r0-node-b"]);
    const after = await runProgram(ray);
    const head = after.resources.find((r) => r.name === "rocm-vllm-llama70b-r0-node-a");
    expect(JSON.stringify(head?.aliases)).toContain("rocm-vllm:index:VllmDeployment::rocm-vllm-llama70b");
  });
});

describe("what rolls when", () => {
  const packed: StackInput = {
    cluster: {
      gpu: "mi300x",
      image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
      nodes: [{ name: "n0", host: "10.2.0.10" }],
      preflight: false,
    },
    deployments: [
      {
        name: "llama8b",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        replicas: 4,
        parallelism: { tensor: 2 },
        loadBalancer: { port: 8080 },
      },
    ],
  };

  it("a vLLM option of a deployment behind a balancer re-runs every wave's drain and undrain, and nothing else changes", async () => {
    const x = await diff(packed, edit(packed, { deployment: { maxNumSeqs: 64 } }));
    expect(changedOf(x, CONTAINER)).toEqual([0, 1, 2, 3].map((r) => `rocm-vllm-llama8b-r${r}-n0`));
    const steps = changedOf(x, NODE_COMMAND).filter((n) => /-w\d+-/.test(n));
    expect(steps).toEqual(
      [0, 1, 2, 3].flatMap((w) => [`rocm-vllm-llama8b-w${w}-drain-n0`, `rocm-vllm-llama8b-w${w}-undrain-n0`]).sort(),
    );
    for (const s of steps) expect(x.d.changed[s]).toEqual(["triggers"]);
    // The balancer keeps running: its configuration does not depend on the serving arguments.
    expect(changedOf(x, CONTAINER).some((n) => n.includes("load-balancer"))).toBe(false);
  });

  it("the balancer keeps its resource across a switch of deployment kind (its Docker name stays taken otherwise)", async () => {
    const run = await runProgram(packed);
    const balancers = run.resources.filter((r) => r.type === CONTAINER && /load-balancer/.test(r.name));
    expect(balancers.length).toBeGreaterThan(0);
    for (const b of balancers) expect(JSON.stringify(b.aliases)).toContain("rocm-vllm:index:RayCluster::");
  });

  it("switching a rolling deployment to all at once starts a fresh balancer: no replica a failed wave left drained stays out", async () => {
    const x = await diff(packed, edit(packed, { deployment: { rollout: { strategy: "all-at-once" } } }));
    expect(changedOf(x, CONTAINER)).toEqual(["rocm-vllm-llama8b-load-balancer-n0"]);
    expect(x.d.changed["rocm-vllm-llama8b-load-balancer-n0"]).toEqual(["labels"]);
  });

  it("an unchanged stack changes nothing, drains included", async () => {
    const x = await diff(packed, packed);
    expect(Object.keys(x.d.changed)).toEqual([]);
    expect(x.d.added).toEqual([]);
    expect(x.d.removed).toEqual([]);
  });

  it("a healing setting restarts the containers it reaches (their supervisor's settings), in waves", async () => {
    const x = await diff(packed, edit(packed, { deployment: { healing: { maxRestarts: 2 } } }));
    expect(changedOf(x, CONTAINER)).toHaveLength(4);
    for (const c of changedOf(x, CONTAINER)) expect(x.d.changed[c]).toEqual(["command"]);
    expect(changedOf(x, NODE_COMMAND).filter((n) => n.includes("-drain-"))).toHaveLength(4);
  });
});
