/**
 * `rocm-vllm diff` agrees with the Pulumi program: for each change, the real program runs under mocks on the base and
 * the head config, and the resources whose inputs differ (plus those added and removed) must be exactly what the
 * diff's impact says: every replaced, started or stopped container is listed under its deployment and node, every
 * image pull, provider, preflight, job and gate that changes is explained by an action on its node or deployment,
 * and no action is reported without a resource behind it.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { CLUSTER_COMPONENT_NAME } from "../components/program";
import { planDiff } from "../planner/diff/planDiff";
import { loadStackSide } from "../planner/diff/stackSide";
import type { StackDiff, StackSide } from "../planner/diff/types";
import {
  CONTAINER,
  commandHost,
  FAKE_SECRETS,
  type ProgramRun,
  type RecordedResource,
  readStackFile,
  runProgram,
  type StackInput,
} from "./support/pulumiMocks";

type Raw = Record<string, unknown>;
const example = (name: string): StackInput => readStackFile(join(__dirname, "..", "stacks", `Pulumi.${name}.yaml`));
const IMAGE_B = "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251124";

/** A copy of `input` with the cluster and the first deployment edited (`undefined` values delete keys). */
function edit(input: StackInput, change: { cluster?: Raw; deployment?: Raw; deployments?: Raw[] }): StackInput {
  const [first, ...rest] = input.deployments as Raw[];
  const merged = (a: Raw, b: Raw | undefined) =>
    Object.fromEntries(Object.entries({ ...a, ...b }).filter(([, v]) => v !== undefined));
  return {
    ...input,
    cluster: merged(input.cluster as Raw, change.cluster),
    deployments: [merged(first, change.deployment), ...rest, ...(change.deployments ?? [])],
  };
}

/** The stack file the CLI would read for `input`, loaded like the CLI loads it (secrets as opaque `secure` values). */
function side(input: StackInput | undefined): StackSide | undefined {
  if (!input) return undefined;
  const config: Raw = { "rocm-vllm:cluster": input.cluster, "rocm-vllm:deployments": input.deployments };
  if (input.hfToken) config["rocm-vllm:hfToken"] = { secure: input.hfToken };
  for (const [key, value] of Object.entries(input.secretConfig ?? {})) config[key] = { secure: value };
  const loaded = loadStackSide(stringify({ config }), "Pulumi.test.yaml");
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return loaded.side;
}

type How = "changed" | "added" | "removed";

/** A resource that differs between the runs, placed on its node and deployment by its parent component. */
interface Touched {
  how: How;
  name: string;
  kind: "container" | "service" | "image" | "provider" | "preflight" | "job" | "gate" | "rollout step";
  node: string;
  deployment?: string;
  /** Docker name, for containers and services. */
  docker?: string;
  role?: string;
  replica?: number;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Raw)[k])]),
    );
  }
  return value;
}

function classify(r: RecordedResource, how: How, run: Run, hosts: Map<string, string>): Touched {
  const urns = new Map(run.resources.map((x) => [x.urn, x]));
  const parent = urns.get(r.parent ?? "");
  if (!parent) throw new Error(`${r.name} has no recorded parent`);
  const owner = parent.name.slice(CLUSTER_COMPONENT_NAME.length + 1);
  const suffix = r.name.slice(parent.name.length + 1);
  if (parent.type === "rocm-vllm:index:Node") {
    // The host-key check runs with the node's SSH settings, like its Docker provider.
    const kind =
      suffix === "docker" || suffix === "ssh-check" ? "provider" : suffix.startsWith("image") ? "image" : "preflight";
    if (kind === "preflight" && suffix !== "preflight") throw new Error(`unknown node resource ${r.name}`);
    return { how, name: r.name, kind, node: owner };
  }
  const gate = /^r(\d+)-(ready|smoke)$/.exec(suffix);
  if (gate) {
    const host = String(commandHost(r));
    return { how, name: r.name, kind: "gate", node: hosts.get(host) ?? host, deployment: owner, replica: +gate[1] };
  }
  const step = /^w\d+-(drain|undrain)-(.+)$/.exec(suffix);
  if (step) return { how, name: r.name, kind: "rollout step", node: step[2], deployment: owner };
  const container = /^r(\d+)-(.+)$/.exec(suffix);
  if (container && r.type === CONTAINER) {
    return {
      how,
      name: r.name,
      kind: "container",
      node: container[2],
      deployment: owner,
      docker: String(r.inputs.name),
      replica: +container[1],
    };
  }
  const role = /^(weights|benchmark|load-balancer)-(.+)$/.exec(suffix);
  if (role) {
    const kind = r.type === CONTAINER ? "service" : "job";
    return { how, name: r.name, kind, node: role[2], deployment: owner, role: role[1], docker: String(r.inputs.name) };
  }
  throw new Error(`unknown resource ${r.type} ${r.name}`);
}

/** The resources of a run; a stack file that does not exist has none. */
type Run = Pick<ProgramRun<unknown>, "resources">;
const EMPTY_RUN: Run = { resources: [] };

/** Custom resources whose inputs differ between the runs, or that only one run has. */
function touchedResources(a: Run, b: Run, base?: StackSide, head?: StackSide): Touched[] {
  const hosts = new Map([...(base?.plan.nodes ?? []), ...(head?.plan.nodes ?? [])].map((n) => [n.host, n.name]));
  const key = (r: RecordedResource) => `${r.type}::${r.name}`;
  const before = new Map(a.resources.filter((r) => r.custom).map((r) => [key(r), r]));
  const after = new Map(b.resources.filter((r) => r.custom).map((r) => [key(r), r]));
  const out: Touched[] = [];
  for (const [k, r] of after) {
    const old = before.get(k);
    if (!old) out.push(classify(r, "added", b, hosts));
    else if (JSON.stringify(sortKeys(old.inputs)) !== JSON.stringify(sortKeys(r.inputs))) {
      out.push(classify(r, "changed", b, hosts));
    }
  }
  for (const [k, r] of before) if (!after.has(k)) out.push(classify(r, "removed", a, hosts));
  return out;
}

const JOB_WORDS: Record<string, string> = { weights: "weights download", benchmark: "benchmark" };

/** Why `t` is explained by the diff's impact, or a message saying it is not. */
function explained(t: Touched, diff: StackDiff, touched: Touched[]): string | undefined {
  const at = (target: string, actions: string[]) =>
    diff.impact.some((i) => i.target === target && actions.includes(i.action));
  const dep = `${t.deployment}@${t.node}`;
  const ok = (() => {
    switch (t.kind) {
      case "container":
      case "service":
        return diff.impact.some((i) => i.target === dep && i.containers.includes(t.docker ?? ""));
      case "provider":
        return at(t.node, [{ changed: "in place", added: "node added", removed: "node removed" }[t.how]]);
      case "image":
        return at(
          t.node,
          t.how === "removed" ? ["release image", "node removed"] : ["re-pull image", "pull image", "node added"],
        );
      case "preflight":
        return at(
          t.node,
          {
            changed: ["re-run preflight checks"],
            added: ["run preflight checks", "node added"],
            removed: ["drop preflight checks", "node removed"],
          }[t.how],
        );
      case "job": {
        const words = JOB_WORDS[t.role ?? ""];
        return at(
          dep,
          {
            changed: [`re-run ${words}`],
            added: [`run ${words}`, "deployment added"],
            removed: [`drop ${words}`, "deployment removed"],
          }[t.how],
        );
      }
      case "gate":
        // A gate runs again in place, or because a container of its replica is replaced (its triggers are their IDs).
        return (
          at(dep, ["in place", "deployment added", "deployment removed"]) ||
          touched.some((c) => c.kind === "container" && c.deployment === t.deployment && c.replica === t.replica)
        );
      case "rollout step":
        // A drain or undrain runs again when a container of its wave changes (its trigger hashes their inputs), and
        // comes and goes with waves when replicas or the balancer do.
        return touched.some((c) => (c.kind === "container" || c.kind === "service") && c.deployment === t.deployment);
    }
  })();
  return ok ? undefined : `${t.how} ${t.kind} ${t.name} (${dep}) is not in the impact`;
}

/** An impact entry with no resource behind it, or `undefined`. */
function witnessed(i: StackDiff["impact"][number], touched: Touched[]): string | undefined {
  if (i.action === "no change") return undefined;
  const [deployment, node] = i.target.includes("@") ? i.target.split("@") : [undefined, i.target];
  const here = touched.filter((t) => t.node === node && t.deployment === deployment);
  const kinds: Partial<Record<string, Touched["kind"][]>> = {
    "in place": deployment ? ["gate", "container"] : ["provider"],
    "node added": ["provider"],
    "node removed": ["provider"],
    "pull image": ["image"],
    "re-pull image": ["image"],
    "release image": ["image"],
    "run preflight checks": ["preflight"],
    "re-run preflight checks": ["preflight"],
    "drop preflight checks": ["preflight"],
  };
  const job = /^(run|re-run|drop) (weights download|benchmark)$/.exec(i.action);
  const ok = job
    ? here.some((t) => t.kind === "job" && JOB_WORDS[t.role ?? ""] === job[2])
    : kinds[i.action]
      ? here.some((t) => kinds[i.action]?.includes(t.kind))
      : i.containers.length > 0;
  return ok ? undefined : `${i.target}: ${i.action} has no differing resource behind it`;
}

async function compare(before: StackInput | undefined, after: StackInput | undefined) {
  const base = side(before);
  const head = side(after);
  const diff = planDiff(base, head);
  const a: Run = before ? await runProgram(before) : EMPTY_RUN;
  const b: Run = after ? await runProgram(after) : EMPTY_RUN;
  const touched = touchedResources(a, b, base, head);
  // Containers: exactly the ones the impact lists, on the node and deployment it lists them under.
  const fromRuns = touched
    .filter((t) => t.kind === "container" || t.kind === "service")
    .map((t) => `${t.deployment}@${t.node} ${t.docker}`)
    .sort();
  const fromDiff = diff.impact.flatMap((i) => i.containers.map((c) => `${i.target} ${c}`)).sort();
  expect(fromDiff).toEqual(fromRuns);
  const problems = [
    ...touched.map((t) => explained(t, diff, touched)),
    ...diff.impact.map((i) => witnessed(i, touched)),
  ].filter((p): p is string => p !== undefined);
  expect(problems).toEqual([]);
  return { diff, touched };
}

/** Impact entries other than "no change", as `target: action [containers]`. */
const acting = (d: StackDiff) =>
  d.impact.filter((i) => i.action !== "no change").map((i) => `${i.target}: ${i.action} [${i.containers.join(", ")}]`);

const llama70b = example("llama70b-mi300x");
const llama405b = example("llama405b-2node");
/** The two-node example on vLLM 0.11.0, whose images run Ray across nodes. */
const llama405bRay = edit(llama405b, { cluster: { image: "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251006" } });
const packed = example("llama8b-packed");
const nodeB = { name: "node-b", host: "10.0.0.12", gpus: 8 };
const withNodeB = edit(llama70b, { cluster: { nodes: [...((llama70b.cluster as Raw).nodes as Raw[]), nodeB] } });
const secondDeployment = {
  name: "llama8b",
  model: "meta-llama/Llama-3.1-8B-Instruct",
  nodes: ["node-b"],
  replicas: 2,
  port: 9000,
};

describe("rocm-vllm diff agrees with what the Pulumi program replaces", () => {
  it("maxNumSeqs on llama70b-mi300x: that deployment's serving container restarts and nothing else happens", async () => {
    const { diff, touched } = await compare(llama70b, edit(llama70b, { deployment: { maxNumSeqs: 128 } }));
    expect(acting(diff)).toEqual(["llama70b@node-a: restart serving process [rocm-vllm-llama70b]"]);
    expect(diff.summary).toBe(
      "llama70b: restart serving process on 1 node (model reload), one replica: cannot roll; 0 image pulls",
    );
    expect(touched.filter((t) => t.kind === "container").map((t) => t.name)).toEqual(["rocm-vllm-llama70b-r0-node-a"]);
    expect(touched.filter((t) => t.kind !== "container" && t.kind !== "gate")).toEqual([]);
  });

  it("maxNumSeqs on a Ray deployment: the Ray cluster is re-formed, head and worker, because of the generation label", async () => {
    const { diff } = await compare(llama405bRay, edit(llama405bRay, { deployment: { maxNumSeqs: 128 } }));
    expect(acting(diff)).toEqual([
      "llama405b@node-a: re-form the Ray cluster [rocm-vllm-llama405b-ray-head]",
      "llama405b@node-b: re-form the Ray cluster [rocm-vllm-llama405b-ray-worker]",
    ]);
    const worker = diff.impact.find((i) => i.target === "llama405b@node-b");
    expect(worker?.reason).toMatch(/^generation label changed/);
    expect(diff.summary).toBe(
      "llama405b: re-form Ray cluster on 2 nodes (model reload), one replica: cannot roll; 0 image pulls",
    );
  });

  it("maxNumSeqs on llama405b-2node (native multi-node): the group is re-formed, rank 0 and the headless rank", async () => {
    const { diff } = await compare(llama405b, edit(llama405b, { deployment: { maxNumSeqs: 128 } }));
    expect(acting(diff)).toEqual([
      "llama405b@node-a: re-form the native multi-node group [rocm-vllm-llama405b]",
      "llama405b@node-b: re-form the native multi-node group [rocm-vllm-llama405b-rank1]",
    ]);
    expect(diff.impact.find((i) => i.target === "llama405b@node-b")?.reason).toBe("vllm serve arguments changed");
    expect(diff.summary).toBe("llama405b: re-form native multi-node group on 2 nodes (model reload); 0 image pulls");
  });

  it("switching the executor (Ray on 0.11.0 → native on 0.11.1) re-forms the group on the same nodes", async () => {
    const { diff } = await compare(llama405bRay, llama405b);
    expect(acting(diff)).toEqual([
      "node-a: re-pull image []",
      // Node 0 now checks the master port before anything starts.
      "node-a: re-run preflight checks []",
      "node-b: re-pull image []",
      "llama405b@node-a: re-form the native multi-node group [rocm-vllm-llama405b]",
      "llama405b@node-a: re-run weights download []",
      "llama405b@node-b: re-form the native multi-node group [rocm-vllm-llama405b-rank1]",
      "llama405b@node-b: re-run weights download []",
    ]);
    const head = diff.impact.find((i) => i.target === "llama405b@node-a" && i.containers.length > 0);
    expect(head?.reason).toMatch(
      /^kind ray → native-multi-node, renamed rocm-vllm-llama405b-ray-head → rocm-vllm-llama405b, new image/,
    );
  });

  it("maxNumSeqs on multi-node data parallel: the group is re-formed, rank 0 and the headless engine", async () => {
    const dp: StackInput = {
      cluster: { ...(withNodeB.cluster as Raw), network: { interface: "ens50f0np0" } },
      deployments: [
        { name: "dp", model: "meta-llama/Llama-3.1-8B-Instruct", parallelism: { data: 16 }, maxModelLen: 8192 },
      ],
    };
    const { diff } = await compare(dp, edit(dp, { deployment: { maxNumSeqs: 64 } }));
    expect(acting(diff)).toEqual([
      "dp@node-a: re-form the data-parallel group [rocm-vllm-dp]",
      "dp@node-b: re-form the data-parallel group [rocm-vllm-dp-dp1]",
    ]);
  });

  it("a new image: every node re-pulls and every container restarts", async () => {
    for (const stack of [llama405b, packed]) {
      const { diff, touched } = await compare(stack, edit(stack, { cluster: { image: IMAGE_B } }));
      const nodes = (stack.cluster as { nodes: { name: string }[] }).nodes.map((n) => n.name);
      const pulls = diff.impact.filter((i) => i.action === "re-pull image").map((i) => i.target);
      expect(pulls).toEqual(nodes);
      const planned = side(stack)?.plan.nodes.flatMap((n) => n.containers.map((c) => c.name)) ?? [];
      expect(planned.length).toBeGreaterThan(0);
      expect(diff.impact.flatMap((i) => i.containers).sort()).toEqual([...planned].sort());
      expect(touched.filter((t) => t.kind === "image").map((t) => t.how)).toEqual(nodes.map(() => "changed"));
      expect(diff.summary).toMatch(new RegExp(`; ${nodes.length} image pulls?$`));
    }
  });

  it("a node added: only that node, idle, is added", async () => {
    const { diff } = await compare(llama70b, withNodeB);
    expect(acting(diff)).toEqual(["node-b: node added []"]);
    expect(diff.summary).toBe("node-b added; 0 image pulls");
  });

  it("tensor parallelism 8 → 4: the serving process restarts with new argv and GPUs", async () => {
    const { diff } = await compare(llama70b, edit(llama70b, { deployment: { parallelism: { tensor: 4 } } }));
    expect(acting(diff)).toEqual(["llama70b@node-a: restart serving process [rocm-vllm-llama70b]"]);
    const paths = diff.changes.map((c) => c.path);
    expect(paths).toContain("rocm-vllm:deployments[0].parallelism.tensor");
    expect(diff.changes).toContainEqual({
      path: "llama70b argv",
      before: "--tensor-parallel-size 8",
      after: "--tensor-parallel-size 4",
    });
  });

  it("an env-only change (debug.rccl) restarts single-node serving and re-forms Ray and native groups", async () => {
    const single = await compare(llama70b, edit(llama70b, { cluster: { debug: { rccl: true } } }));
    expect(acting(single.diff)).toEqual(["llama70b@node-a: restart serving process [rocm-vllm-llama70b]"]);
    expect(single.diff.changes).toContainEqual({ path: "llama70b env NCCL_DEBUG", before: null, after: "INFO" });
    expect(single.diff.impact[1].reason).toBe("env changed (NCCL_DEBUG, NCCL_DEBUG_SUBSYS)");
    const ray = await compare(llama405bRay, edit(llama405bRay, { cluster: { debug: { rccl: true } } }));
    expect(acting(ray.diff)).toEqual([
      "llama405b@node-a: re-form the Ray cluster [rocm-vllm-llama405b-ray-head]",
      "llama405b@node-b: re-form the Ray cluster [rocm-vllm-llama405b-ray-worker]",
    ]);
    const native = await compare(llama405b, edit(llama405b, { cluster: { debug: { rccl: true } } }));
    expect(acting(native.diff)).toEqual([
      "llama405b@node-a: re-form the native multi-node group [rocm-vllm-llama405b]",
      "llama405b@node-b: re-form the native multi-node group [rocm-vllm-llama405b-rank1]",
    ]);
  });

  it("a readiness timeout restarts the serving process: its supervisor and health check wait that long", async () => {
    const { diff, touched } = await compare(
      llama70b,
      edit(llama70b, { deployment: { timeouts: { readySeconds: 600 } } }),
    );
    expect(acting(diff)).toEqual(["llama70b@node-a: restart serving process [rocm-vllm-llama70b]"]);
    expect(diff.impact[1].reason).toBe(
      "member supervisor settings changed (healing, readiness time or stop grace), healthcheck changed",
    );
    expect(touched.map((t) => `${t.how} ${t.name}`).sort()).toEqual([
      "changed rocm-vllm-llama70b-r0-node-a",
      "changed rocm-vllm-llama70b-r0-ready",
      "changed rocm-vllm-llama70b-r0-smoke",
    ]);
    expect(diff.summary).toBe(
      "llama70b: restart serving process on 1 node (model reload), one replica: cannot roll; 0 image pulls",
    );
  });

  it("a vLLM option of a deployment behind a balancer rolls: each container in its wave, the summary says how", async () => {
    const lb = edit(packed, { deployment: { loadBalancer: { port: 8080 } } });
    const { diff, touched } = await compare(lb, edit(lb, { deployment: { maxNumSeqs: 128 } }));
    const restarted = diff.impact.filter((i) => i.action === "restart serving process");
    expect(restarted.flatMap((i) => i.containers)).toHaveLength(8);
    expect(restarted[0]?.reason).toContain("rocm-vllm-llama8b-0: vllm serve arguments changed; rolled in wave 1/4");
    expect(diff.summary).toContain(
      "llama8b: restart 8 serving processes on 1 node (model reload), rolling in 4 waves, at least 6 of 8 replicas serving",
    );
    expect(touched.filter((t) => t.kind === "rollout step")).toHaveLength(8);
  });

  it("rotated secrets: the HF token re-runs downloads, the registry password reconfigures providers; no container restarts", async () => {
    const token = await compare(llama405b, { ...llama405b, hfToken: `${FAKE_SECRETS.hfToken}-2` });
    expect(acting(token.diff)).toEqual([
      "llama405b@node-a: re-run weights download []",
      "llama405b@node-b: re-run weights download []",
    ]);
    expect(token.diff.changes).toEqual([{ path: "rocm-vllm:hfToken", before: "(secret)", after: "(secret changed)" }]);
    const login = edit(llama405b, { cluster: { registry: { address: "docker.io", username: "bot" } } });
    const keyed = { ...login, secretConfig: { "rocm-vllm:registryPassword": "p1" } };
    const key = await compare(keyed, { ...keyed, secretConfig: { "rocm-vllm:registryPassword": "p2" } });
    expect(key.diff.impact.flatMap((i) => i.containers)).toEqual([]);
    expect(key.touched.filter((t) => t.how === "changed").map((t) => t.name)).toEqual([
      "rocm-vllm-node-a-docker",
      "rocm-vllm-node-b-docker",
    ]);
  });

  it("SSH port, preflight off, replicas, kind change and load balancer with benchmark", async () => {
    await compare(llama70b, edit(llama70b, { cluster: { ssh: { user: "root", port: 2222 } } }));
    await compare(llama405b, edit(llama405b, { cluster: { preflight: false } }));
    const two = edit(packed, { deployment: { replicas: 2 } });
    const three = await compare(two, edit(packed, { deployment: { replicas: 3 } }));
    expect(acting(three.diff)).toEqual(["llama8b@pack-0: start serving process [rocm-vllm-llama8b-2]"]);
    const renamed = await compare(edit(packed, { deployment: { replicas: 1 } }), two);
    expect(renamed.diff.impact.find((i) => i.action === "restart serving process")?.reason).toContain(
      "renamed rocm-vllm-llama8b → rocm-vllm-llama8b-0",
    );
    const spanning = edit(withNodeB, {
      cluster: { network: { interface: "ens50f0np0" } },
      deployment: { parallelism: { tensor: 8, pipeline: 2 } },
    });
    const kind = await compare(edit(withNodeB, { cluster: { network: { interface: "ens50f0np0" } } }), spanning);
    expect(acting(kind.diff)).toEqual([
      "node-a: re-run preflight checks []",
      "node-b: pull image []",
      "node-b: re-run preflight checks []",
      "llama70b@node-a: re-form the native multi-node group [rocm-vllm-llama70b]",
      "llama70b@node-a: run weights download []",
      "llama70b@node-b: re-form the native multi-node group [rocm-vllm-llama70b-rank1]",
      "llama70b@node-b: run weights download []",
    ]);
    const onRay = (x: StackInput) => edit(x, { cluster: { image: "rocm/vllm:rocm7.0.0_vllm_0.11.0_20251006" } });
    const rayKind = await compare(
      onRay(edit(withNodeB, { cluster: { network: { interface: "ens50f0np0" } } })),
      onRay(spanning),
    );
    expect(acting(rayKind.diff)).toEqual([
      "node-b: pull image []",
      "node-b: re-run preflight checks []",
      "llama70b@node-a: re-form the Ray cluster [rocm-vllm-llama70b-ray-head]",
      "llama70b@node-a: run weights download []",
      "llama70b@node-b: re-form the Ray cluster [rocm-vllm-llama70b-ray-worker]",
      "llama70b@node-b: run weights download []",
    ]);
    const lb = edit(two, { deployment: { loadBalancer: { port: 8080 }, benchmark: { prompts: 50 } } });
    const added = await compare(two, lb);
    expect(acting(added.diff)).toContain("llama8b@pack-0: start load balancer [rocm-vllm-llama8b-lb]");
    expect(acting(added.diff)).toContain("pack-0: pull image []");
    const bench = await compare(lb, edit(lb, { deployment: { benchmark: { prompts: 100 } } }));
    expect(acting(bench.diff)).toEqual(["llama8b@pack-0: re-run benchmark []"]);
  });

  it("deployments and nodes added and removed, and whole stack files added and deleted", async () => {
    const more = edit(withNodeB, { deployments: [secondDeployment] });
    const added = await compare(withNodeB, more);
    expect(acting(added.diff)).toEqual([
      "node-b: pull image []",
      "node-b: re-run preflight checks []",
      "llama8b@node-b: deployment added [rocm-vllm-llama8b-0, rocm-vllm-llama8b-1]",
    ]);
    const removed = await compare(more, llama70b);
    expect(acting(removed.diff)).toEqual([
      "node-b: node removed []",
      "llama8b@node-b: deployment removed [rocm-vllm-llama8b-0, rocm-vllm-llama8b-1]",
    ]);
    const created = await compare(undefined, llama405b);
    expect(created.diff.summary).toBe(
      "node-a added; node-b added; llama405b: added on 2 nodes (model load); 2 image pulls",
    );
    const deleted = await compare(llama405b, undefined);
    expect(deleted.diff.summary).toBe("node-a removed; node-b removed; llama405b: removed from 2 nodes; 0 image pulls");
  });
});
