import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GENERATED_MARKER } from "../../planner/export/shellScripts";
import { runCliSync, runCliSyncWith } from "../support/runCli";

const cli = runCliSync;
const made: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), "rv-export-"));
  made.push(dir);
  return dir;
};
const outDir = () => join(tmp(), "out");

afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("rocm-vllm export", () => {
  it("writes an executable script per node plus deploy.sh and teardown.sh, and says how to run them", () => {
    const out = outDir();
    const r = cli("export", "stacks/Pulumi.llama405b-2node.yaml", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["deploy.sh", "node-a.sh", "node-b.sh", "teardown.sh"]);
    for (const f of readdirSync(out)) expect(statSync(join(out, f)).mode & 0o777).toBe(0o755);
    expect(r.stdout).toContain(`wrote 4 scripts for stack llama405b-2node to ${out}`);
    expect(r.stdout).toContain("No warnings.");
    expect(r.stdout).toContain(`HF_TOKEN=... ${join(out, "deploy.sh")}`);
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("# Stack file: Pulumi.llama405b-2node.yaml.");
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("\n# Stack: llama405b-2node\n");
  });

  it("exits 1 with one line per problem for an invalid stack, and writes nothing", () => {
    const dir = tmp();
    const stack = join(dir, "Pulumi.bad.yaml");
    writeFileSync(
      stack,
      "config:\n  rocm-vllm:cluster:\n    gpu: mi300x\n    image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024\n    nodes: [{ name: n, host: 10.0.0.1 }]\n  rocm-vllm:deployments:\n    - { name: d, model: org/m, parallelism: { tensor: 16 } }\n",
    );
    const out = join(dir, "out");
    const r = cli("export", stack, "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tensor/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });

  it("exits 64 without --out, and 1 for a stack file that cannot be read", () => {
    const usage = cli("export", "stacks/Pulumi.llama70b-mi300x.yaml");
    expect(usage.code).toBe(64);
    expect(usage.stderr).toContain("required option '--out <dir>' not specified");
    const missing = cli("export", "stacks/Pulumi.nope.yaml", "--out", outDir());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read stacks/Pulumi.nope.yaml");
  });

  it("replaces its own earlier scripts, removes those of nodes that are gone, and never touches other files", () => {
    const out = outDir();
    expect(cli("export", "stacks/Pulumi.llama405b-2node.yaml", "--out", out).code).toBe(0);
    writeFileSync(join(out, "notes.sh"), "#!/bin/sh\necho mine\n");
    // The same stack, now on one node (the stack's name given, as the file is another example's).
    const oneNode = cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--stack", "llama405b-2node", "--out", out);
    expect(oneNode.code, oneNode.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["deploy.sh", "node-a.sh", "notes.sh", "teardown.sh"]);
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("Pulumi.llama70b-mi300x.yaml");
    expect(readFileSync(join(out, "notes.sh"), "utf8")).toBe("#!/bin/sh\necho mine\n");
  });

  it("refuses to overwrite a file it did not write", () => {
    const out = outDir();
    expect(cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out).code).toBe(0);
    writeFileSync(join(out, "deploy.sh"), "#!/bin/sh\n# my own deploy script\n");
    const r = cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("exists and was not written by rocm-vllm export");
    expect(readFileSync(join(out, "deploy.sh"), "utf8")).not.toContain(GENERATED_MARKER);
  });

  it("refuses a directory holding another stack's export, naming that stack, unless --force", () => {
    const out = outDir();
    expect(cli("export", "stacks/Pulumi.llama405b-2node.yaml", "--out", out).code).toBe(0);
    const before = readFileSync(join(out, "teardown.sh"), "utf8");
    const r = cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `rocm-vllm: --out ${out} holds the export of stack llama405b-2node (deploy.sh, node-a.sh, node-b.sh, teardown.sh), not of stack llama70b-mi300x: export into another directory, or pass --force to replace it (its teardown.sh goes too)\n`,
    );
    expect(readFileSync(join(out, "teardown.sh"), "utf8")).toBe(before);
    // An export written before files named their stack is recognised by its stack file's name.
    writeFileSync(join(out, "node-b.sh"), before.replace("\n# Stack: llama405b-2node\n", "\n"));
    expect(cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out).stderr).toContain(
      "holds the export of stack llama405b-2node",
    );
    const forced = cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out, "--force");
    expect(forced.code, forced.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["deploy.sh", "node-a.sh", "teardown.sh"]);
    expect(readFileSync(join(out, "teardown.sh"), "utf8")).toContain("# Stack: llama70b-mi300x");
  });

  it("prints the plan's warnings as plan does", () => {
    const dir = tmp();
    const stack = join(dir, "Pulumi.warned.yaml");
    const text = readFileSync("stacks/Pulumi.llama70b-mi300x.yaml", "utf8").replace(
      "profile: balanced",
      "profile: latency\n      maxNumBatchedTokens: 32768",
    );
    expect(text).toContain("maxNumBatchedTokens: 32768");
    writeFileSync(stack, text);
    const planned = cli("plan", stack);
    const warnings = planned.stdout.slice(planned.stdout.indexOf("Warnings ("));
    expect(warnings).toMatch(
      /^Warnings \(1\)\n {2}- rocm-vllm:deployments\[0\]\.maxNumBatchedTokens: .+\[latency-batched-tokens\]\n$/,
    );
    const r = cli("export", stack, "--out", join(dir, "out"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.endsWith(warnings)).toBe(true);
  });

  it("--hf-token: deployments need HF_TOKEN, and deploy.sh requires it, without rocm-vllm:hfToken in the stack", () => {
    const out = outDir();
    // The example without its rocm-vllm:hfToken, as a script user without Pulumi has it.
    const stack = join(tmp(), "Pulumi.scripts-only.yaml");
    const text = readFileSync("stacks/Pulumi.llama70b-mi300x.yaml", "utf8");
    writeFileSync(stack, text.slice(0, text.indexOf("  # Meta models are gated")));
    const plain = cli("export", stack, "--out", out);
    expect(plain.stdout).toContain(`deploy:   ${join(out, "deploy.sh")}`);
    expect(plain.stdout).toContain("[gated-model-without-token]");
    expect(readFileSync(join(out, "deploy.sh"), "utf8")).not.toContain("HF_TOKEN");
    const r = cli("export", stack, "--hf-token", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`deploy:   HF_TOKEN=... ${join(out, "deploy.sh")}`);
    expect(r.stdout).toContain("No warnings.");
    expect(readFileSync(join(out, "deploy.sh"), "utf8")).toContain(
      "rocm-vllm: HF_TOKEN must be set in the environment",
    );
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("--env HF_TOKEN");
  });

  it("reads the stack from stdin with -, named by --stack", () => {
    const out = outDir();
    const text = readFileSync("stacks/Pulumi.llama70b-mi300x.yaml", "utf8");
    const r = runCliSyncWith({ input: text }, "export", "-", "--stack", "piped", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("# Stack file: stdin.");
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("\n# Stack: piped\n");
    const unnamed = runCliSyncWith({ input: text }, "export", "-", "--out", outDir());
    expect(unnamed.code).toBe(64);
    expect(unnamed.stderr).toBe("rocm-vllm: reading the stack from stdin (-): name the stack with --stack <name>\n");
  });

  it("--help says --out is required and lists the exit codes", () => {
    const r = cli("export", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: rocm-vllm export <stack-file> --out <dir> [options]");
    expect(r.stdout).toMatch(/--out <dir> +\(required\) directory/);
    expect(r.stdout).toContain("64  usage error");
  });
});
