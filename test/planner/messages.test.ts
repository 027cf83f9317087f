/**
 * Messages a new user meets in the first hour: one clear line each, no parser codes, nothing refused that could be
 * accepted, and no problem hidden behind another.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planStackText } from "../../cli/stackFile";
import { parseStackYaml } from "../../planner/config/load";
import { sshOptions } from "../../planner/scripts/sshOptions";
import { planOk, problemsOf, rawCluster, rawDeployment, STACKS_DIR } from "../support/stackConfigs";

const example = readFileSync(join(STACKS_DIR, "Pulumi.llama70b-mi300x.yaml"), "utf8");
const problemsOfText = (text: string) => {
  const r = planStackText(text, "Pulumi.t.yaml");
  return r.ok ? [] : r.problems;
};

describe("messages", () => {
  it("a port clash inside one container names it once and says what clashed", () => {
    const ray = rawDeployment({
      name: "big",
      model: "meta-llama/Llama-3.1-405B-Instruct",
      parallelism: { tensor: 8, pipeline: 2 },
      port: 6379,
    });
    // vLLM 0.10.2: TP × PP across nodes runs on Ray, whose head opens 6379.
    const cluster = rawCluster({
      image: "rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006",
      nodes: [
        { name: "node-a", host: "10.0.0.11" },
        { name: "node-b", host: "10.0.0.12" },
      ],
    });
    const [p, ...rest] = problemsOf(cluster, [ray]);
    expect(rest).toEqual([]);
    expect(p?.path).toBe("rocm-vllm:deployments[0].port");
    expect(p?.message).toBe(
      "rocm-vllm-big-ray-head (big) would listen on port 6379 twice on node node-a: it is its serving port and also a port it opens for its own cluster (Ray, data-parallel RPC)",
    );
    expect(p?.fix).toBe("choose another port for big");
  });

  it("one tab in the YAML is one line: file, line, column and what to do, without parser codes", () => {
    const text = example.replace("      parallelism: { tensor: 8 }", "\tparallelism: { tensor: 8 }");
    const loaded = parseStackYaml(text, "stacks/Pulumi.x.yaml");
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.problems).toEqual([
      {
        path: expect.stringMatching(/^stacks\/Pulumi\.x\.yaml:\d+:1$/),
        value: '"\\t"',
        message: "is not valid YAML: Tabs are not allowed as indentation",
        fix: "indent with spaces: YAML does not allow tabs for indentation",
      },
    ]);
  });

  it("accepts the GPU in any case, as plan prints it", () => {
    const plan = planOk(rawCluster({ gpu: "MI300X" }), [rawDeployment()], true);
    expect(plan.cluster.gpu).toBe("MI300X");
    expect(problemsOf(rawCluster({ gpu: "MI301X" }), [rawDeployment()])[0]?.fix).toContain("mi300x");
  });

  it("accepts ssh.identityFile under ~/ and hands it to ssh, which expands it; says so when refusing a relative path", () => {
    const plan = planOk(rawCluster({ ssh: { identityFile: "~/.ssh/id_ed25519" } }), [rawDeployment()], true);
    expect(plan.nodes[0]?.ssh.identityFile).toBe("~/.ssh/id_ed25519");
    expect(sshOptions(plan.nodes[0]?.ssh ?? { user: "root", port: 22 }).slice(0, 2)).toEqual([
      "-i",
      "~/.ssh/id_ed25519",
    ]);
    const [p] = problemsOf(rawCluster({ ssh: { identityFile: ".ssh/id_ed25519" } }), [rawDeployment()]);
    expect(p?.path).toBe("rocm-vllm:cluster.ssh.identityFile");
    expect(p?.message).toContain("must be an absolute path or start with ~/");
  });

  it("reports the guide's rule errors next to shape errors, on the config with the refused keys removed", () => {
    const text = example.replace(
      "parallelism: { tensor: 8 }",
      "parallelism: { tensor: 3 }\n      quickReduce: int4\n      profle: latency",
    );
    expect(problemsOfText(text).map((p) => p.path)).toEqual([
      "rocm-vllm:deployments[0].quickReduce",
      "rocm-vllm:deployments[0].profle",
      "rocm-vllm:deployments[0].parallelism.tensor",
    ]);
    // A rule problem on a key that is itself refused is not repeated.
    const typed = example.replace("parallelism: { tensor: 8 }", 'parallelism: { tensor: "8" }');
    expect(problemsOfText(typed).map((p) => p.path)).toEqual(["rocm-vllm:deployments[0].parallelism.tensor"]);
  });
});
