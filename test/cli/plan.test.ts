import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCliSync } from "../support/runCli";

const cli = runCliSync;
const tmpStack = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), "rv-cli-")), "Pulumi.bad.yaml");
  writeFileSync(file, text);
  return file;
};

describe("rocm-vllm plan", () => {
  it("prints a readable report with the exact vllm serve line and exits 0", () => {
    const r = cli("plan", "stacks/Pulumi.llama70b-mi300x.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("vllm serve meta-llama/Llama-3.3-70B-Instruct --tensor-parallel-size 8");
    expect(r.stdout).toMatch(/Node node-a/);
    expect(r.stdout).toMatch(/KV cache .* tokens per engine/);
    expect(r.stdout).toMatch(
      /NCCL_MIN_NCHANNELS=112 +\(rcclChannels; guide § Performance environment variables https:\/\/rocm\.docs\.amd\.com\/\S+#performance-environment-variables\)/,
    );
  });
  it("shows weights, gates, jobs and preflight checks in the report", () => {
    const r = cli("plan", "stacks/Pulumi.llama405b-2node.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("weights     pre-downloaded on every node by rocm-vllm-llama405b-weights");
    expect(r.stdout).toContain("gates       readiness (/health, /v1/models, 3600s), then one completion per instance");
    expect(r.stdout).toContain("rocm-vllm-llama405b-weights  one-shot weights after image · secrets HF_TOKEN");
    expect(r.stdout).toMatch(/preflight {3}\/dev\/kfd exists .* interface ens50f0np0 exists and carries 10\.0\.0\.12/);
    expect(r.stdout).toContain(
      "native      node rank 0 node-a serves and holds the store at 10.0.0.11:29501; headless node ranks 1 node-b",
    );
  });
  it("--json prints one object with nodes, deployments and warnings", () => {
    const r = cli("plan", "stacks/Pulumi.llama405b-2node.yaml", "--json");
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.nodes.map((n: { name: string }) => n.name)).toEqual(["node-a", "node-b"]);
    const c = plan.nodes[0].containers[0];
    for (const key of [
      "name",
      "role",
      "image",
      "env",
      "command",
      "devices",
      "groupAdd",
      "ipcMode",
      "networkMode",
      "securityOpt",
      "capAdd",
      "ulimits",
      "volumes",
    ]) {
      expect(c).toHaveProperty(key);
    }
    const inst = plan.deployments[0].instances[0];
    expect(inst.argv.slice(0, 3)).toEqual(["vllm", "serve", "meta-llama/Llama-3.1-405B-Instruct"]);
    expect(inst.env.VLLM_HOST_IP).toBe("10.0.0.11");
    expect(plan.deployments[0].memory.checked).toBe(true);
    expect(plan.warnings).toEqual([]);
  });
  it("is deterministic: same input, same bytes", () => {
    expect(cli("plan", "stacks/Pulumi.llama8b-packed.yaml", "--json").stdout).toBe(
      cli("plan", "stacks/Pulumi.llama8b-packed.yaml", "--json").stdout,
    );
  });
  it("refuses an invalid config with one line per problem naming path, value and fix; exit 1, no stack trace", () => {
    const file = tmpStack(`config:
  rocm-vllm:cluster:
    gpu: mi300x
    image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024
    nodes: [{ name: node-a, host: 10.0.0.11 }]
  rocm-vllm:deployments:
    - name: llama70b
      model: meta-llama/Llama-3.3-70B-Instruct
      parallelism: { tensor: 3 }
      quickReduce: int4
      profle: latency
`);
    const r = cli("plan", file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toEqual([
      'rocm-vllm:deployments[0].quickReduce: is not one of the accepted values (got "int4"). Fix: write it in upper case: "INT4" (vLLM rejects lower case)',
      'rocm-vllm:deployments[0].profle: unknown key "profle" (got "latency"). Fix: did you mean "profile"?',
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it("reports semantic problems the same way", () => {
    const file = tmpStack(`config:
  rocm-vllm:cluster:
    gpu: mi300x
    image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024
    nodes: [{ name: node-a, host: 10.0.0.11 }]
  rocm-vllm:deployments:
    - { name: llama70b, model: meta-llama/Llama-3.3-70B-Instruct, parallelism: { tensor: 3 } }
`);
    const r = cli("plan", file);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "rocm-vllm:deployments[0].parallelism.tensor: tensor must divide the model's 64 attention heads (got 3). Fix: use tensor 1, 2, 4, 8",
    );
  });
  it("exits 2 on usage errors and unreadable files", () => {
    expect(cli("plan").code).toBe(2);
    expect(cli("frobnicate").code).toBe(2);
    const missing = cli("plan", "stacks/Pulumi.nope.yaml");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read stacks\/Pulumi.nope.yaml: ENOENT/);
  });
});
