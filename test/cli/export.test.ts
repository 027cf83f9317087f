import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GENERATED_MARKER } from "../../planner/export/shellScripts";
import { runCliSync } from "../support/runCli";

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
    expect(r.stdout).toContain(`wrote 4 scripts to ${out}`);
    expect(r.stdout).toContain(`HF_TOKEN=... ${join(out, "deploy.sh")}`);
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("# Stack file: Pulumi.llama405b-2node.yaml.");
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

  it("exits 2 without --out, or for a stack file that cannot be read", () => {
    expect(cli("export", "stacks/Pulumi.llama70b-mi300x.yaml").code).toBe(2);
    const missing = cli("export", "stacks/Pulumi.nope.yaml", "--out", outDir());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read stacks/Pulumi.nope.yaml");
  });

  it("replaces its own earlier scripts, removes those of nodes that are gone, and never touches other files", () => {
    const out = outDir();
    expect(cli("export", "stacks/Pulumi.llama405b-2node.yaml", "--out", out).code).toBe(0);
    writeFileSync(join(out, "notes.sh"), "#!/bin/sh\necho mine\n");
    expect(cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["deploy.sh", "node-a.sh", "notes.sh", "teardown.sh"]);
    expect(readFileSync(join(out, "node-a.sh"), "utf8")).toContain("Pulumi.llama70b-mi300x.yaml");
    expect(readFileSync(join(out, "notes.sh"), "utf8")).toBe("#!/bin/sh\necho mine\n");
  });

  it("refuses to overwrite a file it did not write", () => {
    const out = outDir();
    expect(cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out).code).toBe(0);
    writeFileSync(join(out, "deploy.sh"), "#!/bin/sh\n# my own deploy script\n");
    const r = cli("export", "stacks/Pulumi.llama70b-mi300x.yaml", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exists and was not written by rocm-vllm export");
    expect(readFileSync(join(out, "deploy.sh"), "utf8")).not.toContain(GENERATED_MARKER);
  });
});
