// The shell and github-script helpers behind .ci/run and the PR workflows, run for real
// against throwaway git repositories and a fake Octokit.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const root = join(__dirname, "..");
const changedStacks = join(root, ".github/scripts/changed-stacks.sh");
const planComment = join(root, ".github/scripts/plan-comment.sh");
const { upsertPrComment } = createRequire(__filename)("../.github/scripts/upsert-pr-comment.cjs") as {
  upsertPrComment: (args: {
    github: unknown;
    context: unknown;
    marker: string;
    body: string;
  }) => Promise<{ action: "created" | "updated"; id: number }>;
};

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rocm-vllm-ci-scripts-"));
  tempDirs.push(dir);
  return dir;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  // GITHUB_* from a real Actions runner must not leak into what the scripts print.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GITHUB_")));
  const result = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...base, ...env } });
  if (result.error) throw result.error;
  return result;
}

describe("shellcheck", () => {
  it.each([".ci/run", "scripts/setup.sh", ".github/scripts/changed-stacks.sh", ".github/scripts/plan-comment.sh"])(
    "%s has no findings",
    (script) => {
      const result = run("shellcheck", ["--severity=style", script], root);
      expect(result.stdout).toBe("");
      expect(result.status).toBe(0);
    },
  );
});

describe("changed-stacks.sh", () => {
  const git = (repo: string, ...args: string[]) => {
    const result = run("git", ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid", ...args], repo);
    expect(result.status, result.stderr).toBe(0);
  };
  const write = (repo: string, path: string, text: string) => {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  };

  /** A repo whose `base` branch has stacks a, b, c and a PR branch checked out on top. */
  function repoWithBase(): string {
    const repo = tempDir();
    git(repo, "init", "-q", "-b", "base");
    for (const name of ["a", "b", "c"]) write(repo, `stacks/Pulumi.${name}.yaml`, `config: {}\n# ${name}\n`);
    write(repo, "planner/rule.ts", "export {};\n");
    git(repo, "add", ".");
    git(repo, "commit", "-qm", "base");
    git(repo, "checkout", "-qb", "pr");
    return repo;
  }

  const changed = (repo: string) => {
    const result = run("bash", [changedStacks, "base"], repo);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    return JSON.parse(result.stdout);
  };

  it("lists added and modified stacks, sorted, without deleted ones", () => {
    const repo = repoWithBase();
    write(repo, "stacks/Pulumi.c.yaml", "config: { changed: true }\n");
    // Unlike b in content, so git cannot pair the two up as a rename.
    write(repo, "stacks/Pulumi.new-mi325x.yaml", "rocm-vllm:cluster:\n  gpu: mi325x\n  nodes: 2\n");
    git(repo, "rm", "-q", "stacks/Pulumi.b.yaml");
    git(repo, "add", ".");
    git(repo, "commit", "-qm", "pr");
    expect(changed(repo)).toEqual(["c", "new-mi325x"]);
  });

  it("prints [] when only code changed, so the preview job is skipped", () => {
    const repo = repoWithBase();
    write(repo, "planner/rule.ts", "export const x = 1;\n");
    write(repo, "stacks/README.md", "not a stack\n");
    write(repo, "stacks/old/Pulumi.z.yaml", "config: {}\n");
    git(repo, "add", ".");
    git(repo, "commit", "-qm", "pr");
    expect(changed(repo)).toEqual([]);
  });

  it("treats a renamed stack as a new stack", () => {
    const repo = repoWithBase();
    git(repo, "mv", "stacks/Pulumi.a.yaml", "stacks/Pulumi.a2.yaml");
    git(repo, "commit", "-qm", "pr");
    expect(changed(repo)).toEqual(["a2"]);
  });

  it("ignores changes that landed on the base branch after the PR branched off", () => {
    const repo = repoWithBase();
    write(repo, "stacks/Pulumi.a.yaml", "config: { pr: true }\n");
    git(repo, "commit", "-qam", "pr");
    git(repo, "checkout", "-q", "base");
    write(repo, "stacks/Pulumi.b.yaml", "config: { base: true }\n");
    git(repo, "commit", "-qam", "base moved on");
    git(repo, "checkout", "-q", "pr");
    expect(changed(repo)).toEqual(["a"]);
  });

  it("fails on an unknown base ref instead of reporting no changes", () => {
    const repo = repoWithBase();
    const result = run("bash", [changedStacks, "origin/nope"], repo);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe("");
  });
});

describe("plan-comment.sh", () => {
  const comment = (output: string, code: number, env: NodeJS.ProcessEnv = {}) => {
    const dir = tempDir();
    writeFileSync(join(dir, "diff.txt"), output);
    const result = run("bash", [planComment, join(dir, "diff.txt"), String(code), "main"], dir, env);
    expect(result.status, result.stderr).toBe(0);
    return result.stdout;
  };

  it("starts with the marker and says which base it diffed against", () => {
    const body = comment("", 0);
    expect(body.split("\n")[0]).toBe("<!-- rocm-vllm:plan-diff -->");
    expect(body).toContain("### rocm-vllm plan diff against `main`");
    expect(body).toContain("No stack's plan changes.");
    expect(body).not.toContain("~~~"); // no empty code block
  });

  it("shows changes in a fence that backticks in the output cannot close", () => {
    const body = comment("stack mi300x-a\n  ~ tensorParallel: 4 -> 8\n```\n", 2);
    expect(body).toContain("The plan changes for at least one stack:");
    expect(body).toContain("~~~text\nstack mi300x-a\n  ~ tensorParallel: 4 -> 8\n```\n~~~\n");
  });

  it("closes the fence even when the output lacks a final newline", () => {
    expect(comment("no newline at end", 2)).toContain("~~~text\nno newline at end\n~~~\n");
  });

  it("says a change with a hazard (exit 3) needs two updates", () => {
    const body = comment("  hazard: GPUs 0-7 of node-a go from rocm-vllm-a to rocm-vllm-b\n", 3);
    expect(body).toContain("**The plan changes with a hazard: one update cannot apply it; split it in two");
    expect(body).toContain("hazard: GPUs 0-7");
  });

  it("reports a failed diff with its exit code and output", () => {
    const body = comment("error: stacks/Pulumi.x.yaml: gpu.count must be > 0\n", 1);
    expect(body).toContain("**`rocm-vllm diff` failed with exit code 1.**");
    expect(body).toContain("gpu.count must be > 0");
  });

  it("truncates output GitHub would reject as too long", () => {
    const body = comment(`${"x".repeat(99)}\n`.repeat(1000), 2);
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain("_Output truncated to 60000 bytes; the full diff is in the job log._");
  });

  it("links the commit and run when running on GitHub Actions", () => {
    const body = comment("", 0, {
      GITHUB_SHA: "0123456789abcdef0123",
      GITHUB_SERVER_URL: "https://github.com",
      GITHUB_REPOSITORY: "org/rocm-vllm",
      GITHUB_RUN_ID: "42",
    });
    expect(body).toContain("<sub>Commit 0123456789ab, run https://github.com/org/rocm-vllm/actions/runs/42</sub>");
  });
});

describe("upsert-pr-comment.cjs", () => {
  const marker = "<!-- rocm-vllm:plan-diff -->";
  const context = { repo: { owner: "org", repo: "rocm-vllm" }, issue: { number: 7 } };

  type Comment = { id: number; body: string; user: { type: string } };
  function fakeGithub(existing: Comment[]) {
    const calls: { method: string; params: Record<string, unknown> }[] = [];
    const issues = {
      listComments: (params: Record<string, unknown>) => calls.push({ method: "listComments", params }),
      updateComment: async (params: Record<string, unknown>) => calls.push({ method: "updateComment", params }),
      createComment: async (params: Record<string, unknown>) => {
        calls.push({ method: "createComment", params });
        return { data: { id: 99 } };
      },
    };
    const paginate = async (fn: (p: Record<string, unknown>) => unknown, params: Record<string, unknown>) => {
      fn(params);
      return existing;
    };
    return { github: { paginate, rest: { issues } }, calls };
  }

  it("creates the comment on the first run", async () => {
    const { github, calls } = fakeGithub([{ id: 1, body: "LGTM", user: { type: "User" } }]);
    const result = await upsertPrComment({ github, context, marker, body: `${marker}\nnew` });
    expect(result).toEqual({ action: "created", id: 99 });
    expect(calls.map((c) => c.method)).toEqual(["listComments", "createComment"]);
    expect(calls[0].params).toMatchObject({ owner: "org", repo: "rocm-vllm", issue_number: 7 });
    expect(calls[1].params).toEqual({ owner: "org", repo: "rocm-vllm", issue_number: 7, body: `${marker}\nnew` });
  });

  it("updates the bot's earlier comment instead of adding another", async () => {
    const { github, calls } = fakeGithub([
      { id: 3, body: `quoting ${marker} in a review`, user: { type: "User" } },
      { id: 5, body: `${marker}\nold`, user: { type: "Bot" } },
    ]);
    const result = await upsertPrComment({ github, context, marker, body: `${marker}\nnew` });
    expect(result).toEqual({ action: "updated", id: 5 });
    expect(calls[1]).toEqual({
      method: "updateComment",
      params: { owner: "org", repo: "rocm-vllm", comment_id: 5, body: `${marker}\nnew` },
    });
  });

  it("refuses a body without the marker, which the next run could not find", async () => {
    const { github, calls } = fakeGithub([]);
    await expect(upsertPrComment({ github, context, marker, body: "no marker" })).rejects.toThrow(/marker/);
    expect(calls).toEqual([]);
  });
});
