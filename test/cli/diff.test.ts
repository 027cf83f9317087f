/**
 * `rocm-vllm diff` as a command: two files or `--base <git-ref>` against a real git repository, exit codes 0 / 2 / 1,
 * JSON shape, validation errors one line each. Most cases call `diffCommand` in-process with captured output; two
 * run the real binary for exit codes and commander's usage errors.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DIFF_EXIT, diffCommand } from "../../cli/diff";

const ROOT = join(__dirname, "..", "..");
const STACKS = join(ROOT, "stacks");

function run(files: string[], opts: { base?: string; json?: boolean; stack?: string }, cwd: string, stdin = "") {
  let stdout = "";
  let stderr = "";
  const code = diffCommand(files, opts, {
    cwd,
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    color: false,
    stdin: () => stdin,
  });
  return { code, stdout, stderr };
}

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A git repository with three example stacks committed, and a README. */
function repo(): string {
  const dir = mkdtempSync(join(tmpdir(), "rv-diff-"));
  mkdirSync(join(dir, "stacks"));
  for (const s of ["llama70b-mi300x", "llama405b-2node", "llama8b-packed"]) {
    copyFileSync(join(STACKS, `Pulumi.${s}.yaml`), join(dir, "stacks", `Pulumi.${s}.yaml`));
  }
  writeFileSync(join(dir, "README.md"), "x\n");
  git(dir, "init", "-q");
  git(dir, "add", ".");
  git(dir, "commit", "-q", "-m", "base");
  return dir;
}

const editFile = (path: string, from: string, to: string) => {
  const text = readFileSync(path, "utf8");
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
};

describe("rocm-vllm diff <base> <head>", () => {
  it("prints changes, impact and summary, and exits 2; identical files exit 0", () => {
    const dir = mkdtempSync(join(tmpdir(), "rv-diff-"));
    const head = join(dir, "head.yaml");
    writeFileSync(
      head,
      readFileSync(join(STACKS, "Pulumi.llama70b-mi300x.yaml"), "utf8").replace("maxNumSeqs: 256", "maxNumSeqs: 128"),
    );
    const r = run(["stacks/Pulumi.llama70b-mi300x.yaml", head], {}, ROOT);
    expect(r.code).toBe(DIFF_EXIT.changed);
    expect(r.stdout).toBe(
      [
        `stacks/Pulumi.llama70b-mi300x.yaml → ${head}`,
        "  changes:",
        "    rocm-vllm:deployments[0].maxNumSeqs: 256 → 128",
        "    llama70b argv: --max-num-seqs 256 → 128",
        "  impact:",
        "    node-a:          no change",
        "    llama70b@node-a: restart serving process [rocm-vllm-llama70b] — vllm serve arguments changed",
        "  summary: llama70b: restart serving process on 1 node (model reload), one replica: cannot roll; 0 image pulls",
        "",
      ].join("\n"),
    );
    const same = run(["stacks/Pulumi.llama70b-mi300x.yaml", "stacks/Pulumi.llama70b-mi300x.yaml"], {}, ROOT);
    expect(same.code).toBe(DIFF_EXIT.same);
    expect(same.stdout).toContain("  changes:\n    (none)\n");
    expect(same.stdout).toContain("summary: no change\n");
  });

  it("--json prints {stacks: [{file, changes: [{path, before, after}], impact: [{target, action}]}]}", () => {
    const r = run(["stacks/Pulumi.llama70b-mi300x.yaml", "stacks/Pulumi.llama8b-packed.yaml"], { json: true }, ROOT);
    expect(r.code).toBe(DIFF_EXIT.changed);
    const out = JSON.parse(r.stdout) as {
      stacks: { file: string; changes: { path: string }[]; impact: { target: string; action: string }[] }[];
    };
    expect(out.stacks).toHaveLength(1);
    expect(out.stacks[0].file).toBe("stacks/Pulumi.llama8b-packed.yaml");
    expect(out.stacks[0].changes[0]).toEqual({
      path: "rocm-vllm:cluster.nodes[0]",
      before: expect.any(Object),
      after: expect.any(Object),
    });
    expect(out.stacks[0].impact.map((i) => `${i.target}: ${i.action}`)).toEqual([
      "pack-0: node added",
      "node-a: node removed",
      "llama8b@pack-0: deployment added",
      "llama70b@node-a: deployment removed",
    ]);
  });

  it("exits 1 with one line per problem, no stack trace, when a config no longer validates", () => {
    const dir = mkdtempSync(join(tmpdir(), "rv-diff-"));
    const head = join(dir, "head.yaml");
    writeFileSync(
      head,
      readFileSync(join(STACKS, "Pulumi.llama70b-mi300x.yaml"), "utf8")
        .replace("parallelism: { tensor: 8 }", "parallelism: { tensor: 3 }")
        .replace("profile: balanced", "profile: fast"),
    );
    const r = run(["stacks/Pulumi.llama70b-mi300x.yaml", head], {}, ROOT);
    expect(r.code).toBe(DIFF_EXIT.error);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`rocm-vllm diff: ${head} does not validate:`);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^rocm-vllm:deployments\[0\]\.profile: /),
      expect.stringMatching(/^rocm-vllm:deployments\[0\]\.parallelism\.tensor: tensor must divide/),
    ]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const missing = run(["stacks/Pulumi.llama70b-mi300x.yaml", join(dir, "nope.yaml")], {}, ROOT);
    expect(missing).toMatchObject({ code: DIFF_EXIT.error, stderr: expect.stringContaining("nope.yaml: ENOENT") });
    expect(run(["one.yaml"], {}, ROOT)).toMatchObject({
      code: DIFF_EXIT.usage,
      stderr: expect.stringContaining("two stack files"),
    });
  });

  it("--json lists a stack that does not validate with its problems instead of dropping it", () => {
    const dir = mkdtempSync(join(tmpdir(), "rv-diff-"));
    const head = join(dir, "Pulumi.llama70b-mi300x.yaml");
    const text = readFileSync(join(STACKS, "Pulumi.llama70b-mi300x.yaml"), "utf8");
    writeFileSync(head, text.replace("parallelism: { tensor: 8 }", "parallelism: { tensor: 3 }"));
    const r = run(["stacks/Pulumi.llama70b-mi300x.yaml", head], { json: true }, ROOT);
    expect(r.code).toBe(DIFF_EXIT.error);
    const out = JSON.parse(r.stdout) as { stacks: { file: string; changed: unknown; problems: unknown[] }[] };
    expect(out.stacks).toEqual([
      expect.objectContaining({
        file: head,
        changed: null,
        changes: [],
        problems: [
          expect.objectContaining({
            where: head,
            path: "rocm-vllm:deployments[0].parallelism.tensor",
            value: "3",
            message: expect.stringContaining("attention heads"),
            fix: expect.any(String),
          }),
        ],
      }),
    ]);
  });

  it("reads one side from stdin (-), naming the stack with --stack", () => {
    const text = readFileSync(join(STACKS, "Pulumi.llama70b-mi300x.yaml"), "utf8");
    const edited = text.replace("maxNumSeqs: 256", "maxNumSeqs: 128");
    const r = run(["stacks/Pulumi.llama70b-mi300x.yaml", "-"], { stack: "llama70b-mi300x" }, ROOT, edited);
    expect(r.code, r.stderr).toBe(DIFF_EXIT.changed);
    expect(r.stdout).toContain("stacks/Pulumi.llama70b-mi300x.yaml → stdin\n");
    expect(r.stdout).toContain("llama70b argv: --max-num-seqs 256 → 128");
    expect(run(["stacks/Pulumi.llama70b-mi300x.yaml", "-"], {}, ROOT, edited)).toMatchObject({
      code: DIFF_EXIT.usage,
      stderr: "rocm-vllm diff: reading a stack from stdin (-): name the stack with --stack <name>\n",
    });
    expect(run(["-", "-"], { stack: "s" }, ROOT, edited).code).toBe(DIFF_EXIT.usage);
  });
});

describe("rocm-vllm diff --base <git-ref>", () => {
  it("diffs every stack file changed since the ref, added and deleted ones included, in path order", () => {
    const dir = repo();
    try {
      editFile(join(dir, "stacks", "Pulumi.llama405b-2node.yaml"), "maxNumSeqs: 256", "maxNumSeqs: 128");
      rmSync(join(dir, "stacks", "Pulumi.llama8b-packed.yaml"));
      copyFileSync(join(STACKS, "Pulumi.deepseek-r1-mla.yaml"), join(dir, "stacks", "Pulumi.deepseek-r1-mla.yaml"));
      writeFileSync(join(dir, "README.md"), "changed\n");
      const r = run([], { base: "HEAD", json: true }, join(dir, "stacks"));
      expect(r.stderr).toBe("");
      expect(r.code).toBe(DIFF_EXIT.changed);
      const { stacks } = JSON.parse(r.stdout) as { stacks: { file: string; summary: string }[] };
      expect(stacks.map((s) => s.file)).toEqual([
        "stacks/Pulumi.deepseek-r1-mla.yaml",
        "stacks/Pulumi.llama405b-2node.yaml",
        "stacks/Pulumi.llama8b-packed.yaml",
      ]);
      expect(stacks[0].summary).toMatch(/^mla-0 added; deepseek-r1: added on 1 node \(model load\); 1 image pull$/);
      expect(stacks[1].summary).toBe(
        "llama405b: re-form native multi-node group on 2 nodes (model reload); 0 image pulls",
      );
      expect(stacks[2].summary).toBe("pack-0 removed; llama8b: removed from 1 node; 0 image pulls");
      const text = run([], { base: "HEAD" }, dir);
      expect(text.stdout).toContain("stacks/Pulumi.llama405b-2node.yaml (HEAD → working tree)\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints the README example byte for byte", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Reviewing changes: rocm-vllm diff"));
    const example = /Example: `maxNumSeqs: 256 → 128` on `llama405b-2node`:\n\n```text\n([^`]*)```/.exec(section)?.[1];
    expect(example).toMatch(/^stacks\/Pulumi\.llama405b-2node\.yaml/);
    const dir = repo();
    try {
      git(dir, "update-ref", "refs/remotes/origin/main", "HEAD");
      editFile(join(dir, "stacks", "Pulumi.llama405b-2node.yaml"), "maxNumSeqs: 256", "maxNumSeqs: 128");
      expect(run([], { base: "origin/main" }, dir)).toEqual({ code: DIFF_EXIT.changed, stdout: example, stderr: "" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 0 when the named stacks did not change, 1 for an unknown ref or a stack that fails validation", () => {
    const dir = repo();
    try {
      const same = run(["stacks/Pulumi.llama70b-mi300x.yaml"], { base: "HEAD" }, dir);
      expect(same).toMatchObject({ code: DIFF_EXIT.same, stderr: "" });
      expect(run([], { base: "HEAD" }, dir)).toEqual({
        code: DIFF_EXIT.same,
        stdout: "no stack file differs between HEAD and the working tree\n",
        stderr: "",
      });
      const bad = run([], { base: "origin/nope" }, dir);
      expect(bad.code).toBe(DIFF_EXIT.error);
      expect(bad.stderr).toBe(
        "rocm-vllm diff: --base origin/nope is not a commit git knows (fetch it, e.g. git fetch origin)\n",
      );
      editFile(join(dir, "stacks", "Pulumi.llama70b-mi300x.yaml"), "gpu: mi300x", "gpu: mi999x");
      const invalid = run([], { base: "HEAD" }, dir);
      expect(invalid.code).toBe(DIFF_EXIT.error);
      expect(invalid.stderr).toMatch(
        /^rocm-vllm diff: stacks\/Pulumi\.llama70b-mi300x\.yaml does not validate:\nrocm-vllm:cluster\.gpu: /,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the rocm-vllm binary", () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, "bin", "rocm-vllm.js"), ...args], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });

  it("exits 2 for a change, 3 for a change with a hazard, and 64 (never 2) for a usage error", () => {
    const dir = mkdtempSync(join(tmpdir(), "rv-diff-"));
    const head = join(dir, "Pulumi.llama70b-mi300x.yaml");
    const text = readFileSync(join(STACKS, "Pulumi.llama70b-mi300x.yaml"), "utf8");
    writeFileSync(head, text.replace("maxNumSeqs: 256", "maxNumSeqs: 128"));
    expect(cli("diff", "stacks/Pulumi.llama70b-mi300x.yaml", head).status).toBe(2);
    // llama405b takes over node-a's GPUs and port 8000 from llama70b: a container of another identity.
    const hazard = cli("diff", "stacks/Pulumi.llama70b-mi300x.yaml", "stacks/Pulumi.llama405b-2node.yaml");
    expect(hazard.status).toBe(3);
    expect(hazard.stdout).toContain("hazard");
    expect(hazard.stdout).toMatch(
      /summary: node-b added; llama405b: added on 2 nodes \(model load\); llama70b: removed from 1 node; 1 image pull\n$/,
    );
    const usage = cli("diff", "--bogus");
    expect(usage.status).toBe(64);
    expect(usage.stderr).toContain("unknown option '--bogus'");
  });
});
