/**
 * The bad-config corpus (`test/fixtures/bad-configs/*.yaml`) against every face of the tool. Each file states the
 * problem paths it must produce (`# expect:` lines, `{file}` standing for its own name; `empty.yaml` keeps them in
 * `empty.expect`) and, when not every face can see it, the faces it applies to (`# faces:`).
 *
 * A face's `describe` is generated only when its module is in the repository, so the corpus grows with the tool:
 * `plan` (cli/main.ts), `export` (cli/export.ts), `diff` (cli/diff.ts), the Pulumi program under mocks
 * (components/program.ts with test/support/pulumiMocks.ts).
 *
 * Every face runs the whole corpus through `runCliBatch`: one child process that calls the CLI's `run(argv)` per case
 * with its own cwd, captured output and exit code (one Node start-up per face instead of ~0.6 s of CPU per case,
 * which keeps this file well under 20 s on two cores). A sample of one case per kind of refusal also runs as its own
 * `node bin/rocm-vllm.js plan` process and must print exactly what the driver recorded.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliResult, mapLimit, ROOT, runCli, runCliBatch } from "./support/runCli";

const DIR = join(__dirname, "fixtures", "bad-configs");
const FACES = ["plan", "export", "diff", "pulumi"] as const;
type Face = (typeof FACES)[number];

interface BadCase {
  file: string;
  /** Problem paths, sorted, with repeats (two problems on one path count twice). */
  expect: string[];
  faces: Face[];
}

function readCases(): BadCase[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const sidecar = join(DIR, file.replace(/\.yaml$/, ".expect"));
      const header = readFileSync(existsSync(sidecar) ? sidecar : join(DIR, file), "utf8");
      const expected = [...header.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1].replace("{file}", file)).sort();
      const faces = (header
        .match(/^# faces: (.+)$/m)?.[1]
        .trim()
        .split(/\s+/) ?? [...FACES]) as Face[];
      return { file, expect: expected, faces };
    });
}

const CASES = readCases();
const present = (...files: string[]) => files.every((f) => existsSync(join(ROOT, f)));
const casesFor = (face: Face) => CASES.filter((c) => c.faces.includes(face));

/** `path: message (got value). Fix: fix`, as `planner/problems.ts` formats a problem. */
const PROBLEM_LINE = /^(?<path>\S(?:.*?\S)?): (?<message>.+) \(got (?<value>.*)\)\. Fix: (?<fix>.*\S.*)$/;

function problemPaths(stderr: string): string[] {
  return stderr
    .trimEnd()
    .split("\n")
    .map((line) => line.match(PROBLEM_LINE)?.groups?.path ?? `(not a problem line) ${line}`)
    .sort();
}

/** A refusal: exit 1, nothing on stdout, one well-formed line per problem, the expected paths, no stack trace. */
function expectRefusal(r: CliResult, c: BadCase): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  // Corpus files use CANARY only inside secret values: none may be echoed.
  expect(r.stderr).not.toContain("CANARY");
  expect(r.stdout).toBe("");
  expect(r.code).toBe(1);
  for (const line of r.stderr.trimEnd().split("\n")) expect(line).toMatch(PROBLEM_LINE);
  expect(problemPaths(r.stderr)).toEqual(c.expect);
}

describe("the bad-config corpus", () => {
  it("has a case for every kind of bad input, each stating what it expects and for which faces", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(35);
    for (const c of CASES) {
      expect(c.expect.length, c.file).toBeGreaterThan(0);
      expect(
        c.faces.every((f) => FACES.includes(f)),
        c.file,
      ).toBe(true);
    }
    expect(readFileSync(join(DIR, "empty.yaml"), "utf8")).toBe("");
  });
});

/** Plan results are the reference every other face must match line for line. */
const planResults = new Map<string, CliResult>();
beforeAll(async () => {
  const results = await runCliBatch(CASES.map((c) => ({ args: ["plan", c.file], cwd: DIR })));
  CASES.forEach((c, i) => {
    planResults.set(c.file, results[i]);
  });
}, 120_000);

/** One case of each kind of refusal, run as its own `node bin/rocm-vllm.js plan <file>` process. */
const SPAWNED = [
  "empty.yaml",
  "malformed-yaml.yaml",
  "alias-bomb.yaml",
  "wrong-types.yaml",
  "inject-host-ssh-option.yaml",
  "port-clash.yaml",
  "plaintext-secret.yaml",
];

if (present("cli/main.ts")) {
  describe("face: rocm-vllm plan", () => {
    for (const c of casesFor("plan")) {
      it(`refuses ${c.file}`, () => expectRefusal(planResults.get(c.file) as CliResult, c));
    }
    it("prints, as a real process, exactly what the batch driver recorded", async () => {
      const real = await mapLimit(SPAWNED, (file) => runCli(["plan", file], { cwd: DIR }));
      expect(real).toEqual(SPAWNED.map((file) => planResults.get(file)));
    });
  });
}

if (present("cli/export.ts")) {
  describe("face: rocm-vllm export", () => {
    const outRoot = mkdtempSync(join(tmpdir(), "rv-bad-export-"));
    const results = new Map<string, CliResult>();
    beforeAll(async () => {
      const cases = casesFor("export");
      // Half the out dirs exist (empty), half do not: neither may be written to or created.
      cases.forEach((c, i) => {
        if (i % 2 === 0) mkdirSync(join(outRoot, c.file));
      });
      const rs = await runCliBatch(
        cases.map((c) => ({ args: ["export", c.file, "--out", join(outRoot, c.file)], cwd: DIR })),
      );
      cases.forEach((c, i) => {
        results.set(c.file, rs[i]);
      });
    }, 120_000);
    casesFor("export").forEach((c, i) => {
      it(`refuses ${c.file} with the plan's lines and writes nothing`, () => {
        const r = results.get(c.file) as CliResult;
        expectRefusal(r, c);
        expect(r.stderr).toBe(planResults.get(c.file)?.stderr);
        const out = join(outRoot, c.file);
        if (i % 2 === 0) expect(readdirSync(out)).toEqual([]);
        else expect(existsSync(out)).toBe(false);
      });
    });
  });
}

if (present("cli/diff.ts")) {
  describe("face: rocm-vllm diff", () => {
    const good = join(ROOT, "stacks", "Pulumi.llama70b-mi300x.yaml");
    const results = new Map<string, { head: CliResult; base: CliResult }>();
    beforeAll(async () => {
      const cases = casesFor("diff");
      // The bad file as the new version of a good stack, and as the old version.
      const rs = await runCliBatch(
        cases.flatMap((c) => [
          { args: ["diff", good, c.file], cwd: DIR },
          { args: ["diff", c.file, good], cwd: DIR },
        ]),
      );
      cases.forEach((c, i) => {
        results.set(c.file, { head: rs[2 * i], base: rs[2 * i + 1] });
      });
    }, 120_000);
    for (const c of casesFor("diff")) {
      it(`refuses ${c.file} on either side with the plan's lines (exit 1, not 2)`, () => {
        const r = results.get(c.file);
        for (const side of [r?.head, r?.base]) {
          expect(side?.stderr).not.toMatch(/\n\s+at /);
          expect(side?.stdout).toBe("");
          expect(side?.code).toBe(1);
          expect(side?.stderr).toBe(`rocm-vllm diff: ${c.file} does not validate:\n${planResults.get(c.file)?.stderr}`);
        }
      });
    }
  });
}

if (present("components/program.ts", "test/support/pulumiMocks.ts")) {
  describe("face: the Pulumi program under mocks", () => {
    for (const c of casesFor("pulumi")) {
      it(`throws the plan's lines for ${c.file} and registers nothing`, async () => {
        const mocks = await import("./support/pulumiMocks");
        // The stack file's config as the Pulumi engine passes it: {secure} values as secrets, the rest as is.
        const stack = mocks.readStackFile(join(DIR, c.file));
        const failure = await mocks.runProgram(stack).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(mocks.ProgramFailure);
        const { message, resources } = failure as InstanceType<typeof mocks.ProgramFailure>;
        expect(message.trim()).toBe(planResults.get(c.file)?.stderr.trim());
        expect(resources.filter((r) => r.type !== mocks.STACK_TYPE).map((r) => r.type)).toEqual([]);
      });
    }
  });
}
