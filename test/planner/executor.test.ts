/**
 * Engines spanning nodes: the executor choice (rules/executor.ts) and the native multi-node kind
 * (kinds/nativeMultiNode.ts). Each test fails when its rule is removed or changed.
 */
import { describe, expect, it } from "vitest";
import { findVllmVersion, VLLM_VERSIONS } from "../../planner/catalog/vllmVersions";
import { Decisions } from "../../planner/rules/decisions";
import { chooseExecutor, hasNativeMultiNode } from "../../planner/rules/executor";
import { resolveShape } from "../../planner/rules/parallelism";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { Plan } from "../../planner/types";
import { planOk, problemsOf, RAY_IMAGE, rawCluster, rawDeployment, stackConfig } from "../support/stackConfigs";

const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `node-${i}`, host: `10.0.0.${11 + i}` }));
const llama405b = (extra: Record<string, unknown> = {}) =>
  rawDeployment({
    name: "llama405b",
    model: "meta-llama/Llama-3.1-405B-Instruct",
    parallelism: { tensor: 8, pipeline: 2, ...((extra.parallelism as object) ?? {}) },
    maxModelLen: 8192,
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "parallelism")),
  });
const v0110 = (extra: Record<string, unknown> = {}) => rawCluster({ image: RAY_IMAGE, nodes: nodes(2), ...extra });
const v0111 = (extra: Record<string, unknown> = {}) => rawCluster({ nodes: nodes(2), ...extra });
/** The GPU containers, each with its member's own command (inside the supervisor). */
const specs = (plan: Plan) =>
  plan.nodes.flatMap((n) => n.containers).map((c) => ({ ...c, command: memberCommand(c.command) }));
const flag = (argv: string[], name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

describe("native multi-node kind", () => {
  const plan = planOk(v0111(), [llama405b()]);
  const [rank0, rank1] = specs(plan);

  it("runs one vllm serve per node: same model and parallelism, --nnodes, node 0's address and the master port", () => {
    expect(plan.deployments[0].kind).toBe("native-multi-node");
    for (const [rank, spec] of [rank0, rank1].entries()) {
      expect(spec.command.slice(0, 3)).toEqual(["vllm", "serve", "meta-llama/Llama-3.1-405B-Instruct"]);
      expect(flag(spec.command, "--tensor-parallel-size")).toBe("8");
      expect(flag(spec.command, "--pipeline-parallel-size")).toBe("2");
      expect(flag(spec.command, "--nnodes")).toBe("2");
      expect(flag(spec.command, "--node-rank")).toBe(String(rank));
      expect(flag(spec.command, "--master-addr")).toBe("10.0.0.11");
      expect(flag(spec.command, "--master-port")).toBe("29501");
      expect(spec.command).not.toContain("--distributed-executor-backend");
    }
    // The same flags on every node but the rank, the API port and --headless.
    const common = (argv: string[]) =>
      argv.filter(
        (a, i) =>
          !["--node-rank", "--port"].includes(argv[i - 1] ?? "") &&
          !["--node-rank", "--port", "--headless"].includes(a),
      );
    expect(common(rank1.command)).toEqual(common(rank0.command));
  });

  it("node 0 serves the API and holds the master port; the other nodes are headless ranks holding no port", () => {
    expect(rank0).toMatchObject({ name: "rocm-vllm-llama405b", role: "serve", ports: [8000, 29501] });
    expect(rank0.command).toContain("--port");
    expect(rank0.command).not.toContain("--headless");
    expect(rank1).toMatchObject({ name: "rocm-vllm-llama405b-rank1", role: "headless-rank", ports: [] });
    expect(rank1.command).not.toContain("--port");
    expect(rank1.command.at(-1)).toBe("--headless");
    const [instance] = plan.deployments[0].instances;
    expect(instance).toMatchObject({
      node: "node-0",
      container: "rocm-vllm-llama405b",
      endpoint: "http://10.0.0.11:8000",
    });
    expect(instance.placement.map((p) => p.node)).toEqual(["node-0", "node-1"]);
    expect(plan.deployments[0].readiness.map((r) => r.container)).toEqual(["rocm-vllm-llama405b"]);
    expect(plan.deployments[0].rayClusters).toEqual([]);
  });

  it("gives every node the same environment except VLLM_HOST_IP, and one generation label to the group", () => {
    const { VLLM_HOST_IP: ip0, ...env0 } = rank0.env;
    const { VLLM_HOST_IP: ip1, ...env1 } = rank1.env;
    expect([ip0, ip1]).toEqual(["10.0.0.11", "10.0.0.12"]);
    expect(env1).toEqual(env0);
    expect(rank0.labels["rocm-vllm.generation"]).toMatch(/^[0-9a-f]{16}$/);
    expect(rank1.labels["rocm-vllm.generation"]).toBe(rank0.labels["rocm-vllm.generation"]);
  });

  it("each replica meets at its own node 0", () => {
    const two = planOk(rawCluster({ nodes: nodes(4) }), [llama405b({ replicas: 2 })]);
    expect(
      specs(two).map((c) => `${c.name} ${flag(c.command, "--master-addr")} ${flag(c.command, "--node-rank")}`),
    ).toEqual([
      "rocm-vllm-llama405b-0 10.0.0.11 0",
      "rocm-vllm-llama405b-0-rank1 10.0.0.11 1",
      "rocm-vllm-llama405b-1 10.0.0.13 0",
      "rocm-vllm-llama405b-1-rank1 10.0.0.13 1",
    ]);
  });

  it("plans the master port like every other port: a clash on node 0 is refused", () => {
    const problems = problemsOf(rawCluster({ nodes: nodes(3) }), [
      llama405b({ nodes: ["node-0", "node-1"] }),
      rawDeployment({ name: "small", nodes: ["node-2"], loadBalancer: { port: 29501, nodes: ["node-0"] } }),
    ]);
    expect(problems.map((p) => p.message)).toContain(
      "port 29501 on node node-0 is used by both rocm-vllm-llama405b (llama405b) and rocm-vllm-small-lb (small) (host networking)",
    );
  });

  it("refuses --nnodes and friends in extraArgs: parallelism.executor owns them", () => {
    const problems = problemsOf(v0111(), [llama405b({ extraArgs: ["--master-port", "29600"] })]);
    expect(problems.map((p) => `${p.path}: ${p.message}`).join("\n")).toMatch(/extraArgs\[0\].*parallelism\.executor/);
  });
});

describe("executor choice", () => {
  it("native is possible exactly from 0.11.1, where vllm serve gained --nnodes (vllm#23691)", () => {
    const native = VLLM_VERSIONS.filter(hasNativeMultiNode).map((v) => v.version);
    expect(native[0]).toBe("0.11.1");
    expect(native).toEqual(
      VLLM_VERSIONS.map((v) => v.version).slice(VLLM_VERSIONS.findIndex((v) => v.version === "0.11.1")),
    );
  });

  it("auto on every release: Ray from 0.11.2 to 0.17.1 (images ship Ray), native on 0.11.1 and from 0.18.0", () => {
    const kinds = new Map(
      VLLM_VERSIONS.map((v) => [
        v.version,
        planOk(rawCluster({ image: `vllm/vllm-openai-rocm:v${v.version}`, nodes: nodes(2) }), [llama405b()])
          .deployments[0].kind,
      ]),
    );
    for (const [v, kind] of [
      ["0.10.2", "ray"],
      ["0.11.0", "ray"],
      ["0.11.1", "native-multi-node"],
      ["0.11.2", "ray"],
      ["0.17.1", "ray"],
      ["0.18.0", "native-multi-node"],
      ["0.25.1", "native-multi-node"],
    ])
      expect(kinds.get(v), v).toBe(kind);
    for (const v of VLLM_VERSIONS) {
      const ray = v.rayInOfficialImage && !v.rayAcrossNodesBroken;
      expect(kinds.get(v.version), v.version).toBe(ray ? "ray" : "native-multi-node");
    }
  });

  const kindOf = (cluster: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    planOk(cluster, [llama405b(extra)]).deployments[0].kind;
  const refusal = (cluster: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    problemsOf(cluster, [llama405b(extra)]).map((p) => `${p.path}: ${p.message} Fix: ${p.fix}`);

  it("auto: Ray where the image ships it and Ray across nodes works (0.11.0), native on 0.11.1 (vllm#28997)", () => {
    expect(kindOf(v0110())).toBe("ray");
    expect(kindOf(v0111())).toBe("native-multi-node");
    const why = planOk(v0111(), [llama405b()]).deployments[0].reasons.map((r) => r.what);
    expect(why).toContain(
      "executor auto → native: Ray across nodes is broken in vLLM 0.11.1 (vllm#28997, fixed by vllm#28873 in 0.11.2)",
    );
  });

  it("refuses Ray across nodes on 0.11.1, citing the upstream bug and its fix", () => {
    const [line] = refusal(v0111(), { parallelism: { executor: "ray" } });
    expect(line).toContain("rocm-vllm:deployments[0].parallelism.executor: vLLM 0.11.1 cannot run Ray across nodes");
    expect(line).toContain("(vllm#28997, fixed by vllm#28873 in 0.11.2)");
    expect(line).toContain("Fix: use executor: native (or auto)");
  });

  it("refuses an explicit ray on an image without Ray, with the fix", () => {
    expect(refusal(v0110({ imageHasRay: false }), { parallelism: { executor: "ray" } })).toEqual([
      "rocm-vllm:deployments[0].parallelism.executor: the image has no Ray (cluster.imageHasRay: false) Fix: use an image with Ray and set cluster.imageHasRay: true",
    ]);
  });

  it("refuses native where the release has no --nnodes (0.11.0), and says Ray works there", () => {
    expect(refusal(v0110(), { parallelism: { executor: "native" } })).toEqual([
      "rocm-vllm:deployments[0].parallelism.executor: vLLM 0.11.0 has no native multi-node mode (--nnodes arrived in 0.11.1 with vllm#23691) Fix: use executor: ray (or auto), or an image with vLLM 0.11.1 or later",
    ]);
  });

  it("refuses an engine spanning nodes when the image has neither Ray nor the native flags", () => {
    const [line] = refusal(v0110({ imageHasRay: false }));
    expect(line).toMatch(
      /^rocm-vllm:deployments\[0\]\.parallelism: the image has no Ray .* and vLLM 0\.11\.0 has no native multi-node mode/,
    );
  });

  it("explicit native and explicit ray run where possible", () => {
    expect(kindOf(v0111(), { parallelism: { executor: "native" } })).toBe("native-multi-node");
    expect(kindOf(v0110(), { parallelism: { executor: "ray" } })).toBe("ray");
  });

  it("warns when executor is set but no engine spans nodes, and leaves data parallelism over nodes as it was", () => {
    const single = planOk(v0111(), [rawDeployment({ parallelism: { tensor: 8, executor: "native" } })], true);
    expect(single.deployments[0].kind).toBe("single-node");
    expect(single.warnings.map((w) => `${w.code} ${w.path}`)).toEqual([
      "executor-unused rocm-vllm:deployments[0].parallelism.executor",
    ]);
    for (const cluster of [v0110(), v0111()]) {
      const dp = planOk(cluster, [
        rawDeployment({ model: "deepseek-ai/DeepSeek-R1", parallelism: { tensor: 1, data: 16, expert: true } }),
      ]);
      expect(dp.deployments[0].kind).toBe("data-parallel");
      expect(specs(dp).map((c) => c.role)).toEqual(["serve", "dp-engine"]);
      expect(specs(dp)[1].command).not.toContain("--nnodes");
    }
  });

  it("follows the table's image facts and cluster.imageHasRay for releases whose images have no Ray", () => {
    const base = findVllmVersion("0.11.1");
    if (!base) throw new Error("no 0.11.1");
    // A release like 0.18.0: native flags, no Ray in its official image, Ray across nodes not broken.
    const noRay = { ...base, version: "0.18.0", rayInOfficialImage: false, rayAcrossNodesBroken: undefined };
    const choose = (executor: string, imageHasRay?: boolean) => {
      const config = stackConfig(v0111(imageHasRay === undefined ? {} : { imageHasRay }), [
        llama405b({ parallelism: { executor } }),
      ]);
      const out = new Decisions("d");
      const shape = resolveShape(out, config.deployments[0].parallelism, 8, undefined);
      const chosen = chooseExecutor(out, config.deployments[0], shape, noRay, config.cluster);
      return {
        chosen,
        problems: out.problems.map((p) => `${p.message} Fix: ${p.fix}`),
        notes: out.reasons.map((r) => r.what),
      };
    };
    expect(choose("auto")).toMatchObject({
      chosen: "native",
      notes: [
        expect.stringContaining(
          "executor auto → native: vLLM 0.18.0 images have no Ray (official vLLM images ship without Ray from 0.18.0, vllm#36170)",
        ),
        expect.any(String),
      ],
    });
    expect(choose("ray").problems).toEqual([
      "vLLM 0.18.0 images have no Ray (official vLLM images ship without Ray from 0.18.0, vllm#36170) Fix: use executor: native (or auto), or an image with Ray and cluster.imageHasRay: true",
    ]);
    expect(choose("ray", true).chosen).toBe("ray");
    expect(choose("auto", true).chosen).toBe("ray");
  });
});
