import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_CODES_HELP } from "../../cli/exitCodes";
import pkg from "../../package.json";
import { ROOT, runCliSync, runCliSyncWith } from "../support/runCli";

const cli = runCliSync;
const tmpStack = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), "rv-cli-")), "Pulumi.bad.yaml");
  writeFileSync(file, text);
  return file;
};

describe("usage errors never echo a credential", () => {
  // --hf-token and --api-key are switches: a value typed after `=` reaches commander's "unknown option" message.
  it.each([
    ["plan", "--hf-token=hf_CANARYabcdefghijklmnop123456"],
    ["diff", "--hf-token=hf_CANARYabcdefghijklmnop123456"],
    ["export", "--api-key=sk-CANARYabcdefghijklmnop123456"],
  ])("%s %s", (command, arg) => {
    const r = cli(command, "stacks/Pulumi.llama70b-mi300x.yaml", arg, "--out", join(tmpdir(), "rv-unused"));
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/unknown option '--(hf-token|api-key)=(hf|sk)-?_?\*\*\*'/);
    expect(r.stdout + r.stderr).not.toContain("CANARY");
  });
});

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
    expect(r.stdout).toContain(
      "gates       readiness (/health, /v1/models, a one-token generation, 3600s), then one completion per instance",
    );
    // Rollout, healing and compile caches are part of the report.
    expect(r.stdout).toContain(
      "rollout     all at once (one replica: nothing serves while it restarts, so it cannot roll)",
    );
    expect(r.stdout).toContain(
      "healing     one-token generation every 30s, 3 misses = dead; restart after 10s doubling to 300s",
    );
    expect(r.stdout).toContain("compile caches /var/cache/rocm-vllm/<container>/<image ID> (local disk)");
    expect(r.stdout).toContain("/var/cache/rocm-vllm/rocm-vllm-llama405b/<image ID> → /root/.cache/rocm-vllm");
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
      // The guide's rules still run once the refused keys are left out: the shape errors do not hide this one.
      "rocm-vllm:deployments[0].parallelism.tensor: tensor must divide the model's 64 attention heads (got 3). Fix: use tensor 1, 2, 4, 8",
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
  it("exits 64 on usage errors and 1 for a file that cannot be read", () => {
    expect(cli("plan").code).toBe(64);
    expect(cli("frobnicate").code).toBe(64);
    expect(cli("plan", "--bogus", "stacks/Pulumi.llama70b-mi300x.yaml").code).toBe(64);
    const missing = cli("plan", "stacks/Pulumi.nope.yaml");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("rocm-vllm: cannot read stacks/Pulumi.nope.yaml: ENOENT\n");
  });

  it("--json prints the problems of an invalid config as JSON on stdout, with exit 1", () => {
    const file = tmpStack(
      "config:\n  rocm-vllm:cluster:\n    gpu: mi300x\n    image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024\n    nodes: [{ name: node-a, host: 10.0.0.11 }]\n  rocm-vllm:deployments:\n    - { name: d, model: meta-llama/Llama-3.3-70B-Instruct, parallelism: { tensor: 3 } }\n",
    );
    const r = cli("plan", file, "--json");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      problems: [
        {
          path: "rocm-vllm:deployments[0].parallelism.tensor",
          value: "3",
          message: expect.stringContaining("attention heads"),
          fix: expect.stringContaining("use tensor"),
        },
      ],
    });
  });

  it("reads the stack from stdin with - and --stack; the name labels every container", () => {
    const text = readFileSync(join(ROOT, "stacks", "Pulumi.llama70b-mi300x.yaml"), "utf8");
    const r = runCliSyncWith({ input: text }, "plan", "-", "--stack", "prod-east", "--json");
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.stack).toBe("prod-east");
    expect(plan.nodes[0].containers[0].labels["rocm-vllm.stack"]).toBe("prod-east");
    const text2 = runCliSyncWith({ input: text }, "plan", "-", "--stack", "prod-east");
    expect(text2.stdout.split("\n")[0]).toBe("rocm-vllm plan · stdin · stack prod-east");
    const unnamed = runCliSyncWith({ input: text }, "plan", "-");
    expect(unnamed.code).toBe(64);
    expect(unnamed.stderr).toBe("rocm-vllm: reading the stack from stdin (-): name the stack with --stack <name>\n");
    // From a file, the stack is <stack> of Pulumi.<stack>.yaml, as Pulumi names it.
    const fromFile = JSON.parse(cli("plan", "--json", "stacks/Pulumi.llama70b-mi300x.yaml").stdout);
    expect(fromFile.stack).toBe("llama70b-mi300x");
    const bad = cli("plan", "--stack", "a b", "stacks/Pulumi.llama70b-mi300x.yaml");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^stack name: is not a Pulumi stack name .*\(got "a b"\)/);
  });

  it("--version and -V print the version", () => {
    for (const flag of ["--version", "-V"]) {
      const r = cli(flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`rocm-vllm ${pkg.version}\n`);
    }
  });

  it("--no-color turns colour off even where FORCE_COLOR turns it on", () => {
    const env = { FORCE_COLOR: "1" };
    const coloured = runCliSyncWith({ env }, "plan", "stacks/Pulumi.llama70b-mi300x.yaml");
    expect(coloured.stdout).toContain("\u001b[");
    const plain = runCliSyncWith({ env }, "plan", "--no-color", "stacks/Pulumi.llama70b-mi300x.yaml");
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain("\u001b[");
    expect(plain.stdout).toBe(cli("plan", "stacks/Pulumi.llama70b-mi300x.yaml").stdout);
  });

  it("documents the one exit-code scheme in the --help of every command", () => {
    for (const args of [["--help"], ["plan", "--help"], ["diff", "--help"], ["export", "--help"]]) {
      const r = cli(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(EXIT_CODES_HELP.trim());
    }
  });
});
