/**
 * A machine without a program the unit tests run gets one line from `npm test` naming it and the command that
 * installs it (test/support/requiredTools.ts, the unit suite's globalSetup), and `scripts/setup.sh` installs from
 * the same list.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { missingTools, missingToolsLine, requiredTools } from "./support/requiredTools";
import { ROOT } from "./support/runCli";

const dir = mkdtempSync(join(tmpdir(), "rocm-vllm-tools-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("required tools", () => {
  it("lists shellcheck, nginx and git with the packages that provide them", () => {
    expect(requiredTools().map((t) => `${t.command}:${t.pkg}`)).toEqual([
      "shellcheck:shellcheck",
      "nginx:nginx",
      "git:git",
    ]);
  });

  it("finds what is on PATH and reports what is not", () => {
    const tsv = join(dir, "tools.tsv");
    writeFileSync(tsv, "# comment\nsh\tdash\tshell\nno-such-tool-4711\tno-such-package\tnothing\n");
    const tools = requiredTools(tsv);
    expect(missingTools(tools, "/usr/bin:/bin").map((t) => t.command)).toEqual(["no-such-tool-4711"]);
    expect(missingTools(tools, dir).map((t) => t.command)).toEqual(["sh", "no-such-tool-4711"]);
  });

  it("says in one line what is missing and how to install it", () => {
    const [shellcheck, nginx] = requiredTools();
    const line = missingToolsLine([shellcheck, nginx], false) ?? "";
    expect(line.split("\n")).toHaveLength(1);
    expect(line).toMatch(/^npm test: shellcheck \(.+\), nginx \(.+\) are not installed\. /);
    expect(line).toContain("Install with: sudo apt-get install -y shellcheck nginx");
    expect(line).toContain("bash scripts/setup.sh");
    expect(missingToolsLine([shellcheck], true)).toContain(
      "shellcheck (lint every exported and generated shell script) is not installed. Install with: apt-get install -y shellcheck",
    );
    expect(missingToolsLine([], true)).toBeUndefined();
  });

  it("npm test stops with that line (and nothing else) when a tool is missing", () => {
    // The globalSetup in a child whose PATH holds only node: nothing of the list can be found there.
    const nodeOnly = join(dir, "bin");
    mkdirSync(nodeOnly);
    symlinkSync(process.execPath, join(nodeOnly, "node"));
    const r = spawnSync(
      process.execPath,
      ["--require", "tsx/cjs", "-e", 'require("./test/support/requiredTools.ts").default()'],
      { cwd: ROOT, encoding: "utf8", env: { PATH: nodeOnly } },
    );
    const missing = missingTools(requiredTools(), nodeOnly);
    if (missing.length === 0) throw new Error("every tool is in an sbin directory: nothing to check");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`${missingToolsLine(missing, process.getuid?.() === 0)}\n`);
  });

  it("scripts/setup.sh installs from the same list", () => {
    const setup = readFileSync(join(ROOT, "scripts", "setup.sh"), "utf8");
    expect(setup).toContain("done <test/required-tools.tsv");
    expect(readFileSync(join(ROOT, "vitest.config.mts"), "utf8")).toContain(
      'globalSetup: ["test/support/requiredTools.ts"]',
    );
  });
});
