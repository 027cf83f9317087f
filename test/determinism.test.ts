/**
 * Same config, same bytes: `plan` (text and JSON), `export` and `diff` print the same output, and the Pulumi program
 * registers the same resource graph, whatever the order of mapping keys in the stack file (sequences keep their
 * order: node and deployment order mean something) and whatever machine runs them (cwd, HOME, TZ, LANG, CI, TERM).
 */

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type CliResult, runCli, runCliBatch } from "./support/runCli";
import { exampleStacks } from "./support/stackConfigs";

/** Deterministic PRNG (mulberry32), so a failing shuffle can be reproduced from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reorders the keys of every mapping, recursively; sequences keep their order. */
function shuffleKeys(value: unknown, rand: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, rand));
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  return Object.fromEntries(keys.map((k) => [k, shuffleKeys((value as Record<string, unknown>)[k], rand)]));
}

/** Every mapping's key order, in document order: differs between two files iff some mapping was reordered. */
function keyOrders(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keyOrders);
  if (value === null || typeof value !== "object") return [];
  const record = value as Record<string, unknown>;
  return [Object.keys(record).join(","), ...Object.values(record).flatMap(keyOrders)];
}

const STACKS = exampleStacks();
const ROOT_TMP = mkdtempSync(join(tmpdir(), "rv-determinism-"));
const VARIANTS = ["original", "shuffled-1", "shuffled-2"] as const;
type Variant = (typeof VARIANTS)[number];

/** A change every stack can take, for `diff`: a lower memory utilisation on the first deployment. */
function modified(config: unknown): unknown {
  const root = structuredClone(config) as { config: Record<string, Record<string, unknown>[]> };
  root.config["rocm-vllm:deployments"][0].gpuMemoryUtilization = 0.85;
  return root;
}

/** Two machines: different cwd depth, HOME, time zone, locale, and CI/TERM (which colour libraries read). */
const MACHINES = {
  a: {
    cwd: join(ROOT_TMP, "a"),
    env: { PATH: process.env.PATH, HOME: join(ROOT_TMP, "home-a"), TZ: "UTC", LANG: "C" },
  },
  b: {
    cwd: join(ROOT_TMP, "deeper", "work", "b"),
    env: {
      PATH: process.env.PATH,
      HOME: join(ROOT_TMP, "home-b"),
      TZ: "Pacific/Chatham",
      LANG: "de_DE.UTF-8",
      LC_ALL: "de_DE.UTF-8",
      CI: "true",
      TERM: "xterm-256color",
    },
  },
} as const;
type Machine = keyof typeof MACHINES;

/** Outputs of one variant on one machine: command → stdout/stderr/exit, export dir → file contents. */
interface Outputs {
  cli: Record<string, CliResult>;
  exported: Record<string, Record<string, string>>;
}

/** Writes each stack (and its modified version) as a variant into `dir`, under the same file names. */
function writeVariant(dir: string, variant: Variant): void {
  mkdirSync(dir, { recursive: true });
  STACKS.forEach((stack, k) => {
    const config = parse(stack.text) as unknown;
    const seed = variant === "original" ? 0 : 1000 * (k + 1) + Number(variant.split("-")[1]);
    const shape = (v: unknown) => (variant === "original" ? v : shuffleKeys(v, prng(seed)));
    writeFileSync(
      join(dir, `Pulumi.${stack.name}.yaml`),
      variant === "original" ? stack.text : stringify(shape(config)),
    );
    writeFileSync(join(dir, `Pulumi.${stack.name}.next.yaml`), stringify(shape(modified(config))));
  });
}

async function runVariant(machine: Machine, variant: Variant): Promise<Outputs> {
  const cwd = join(MACHINES[machine].cwd, variant);
  writeVariant(cwd, variant);
  const jobs = STACKS.flatMap(({ name }) => [
    { key: `plan ${name}`, args: ["plan", `Pulumi.${name}.yaml`] },
    { key: `plan --json ${name}`, args: ["plan", `Pulumi.${name}.yaml`, "--json"] },
    { key: `export ${name}`, args: ["export", `Pulumi.${name}.yaml`, "--out", `out-${name}`] },
    { key: `diff ${name}`, args: ["diff", `Pulumi.${name}.yaml`, `Pulumi.${name}.next.yaml`] },
    { key: `diff --json ${name}`, args: ["diff", `Pulumi.${name}.yaml`, `Pulumi.${name}.next.yaml`, "--json"] },
  ]);
  const results = await runCliBatch(
    jobs.map((j) => ({ args: j.args, cwd })),
    MACHINES[machine].env,
  );
  const cli: Record<string, CliResult> = {};
  jobs.forEach((j, i) => {
    cli[j.key] = results[i];
  });
  const exported: Record<string, Record<string, string>> = {};
  for (const { name } of STACKS) {
    const out = join(cwd, `out-${name}`);
    exported[name] = Object.fromEntries(
      readdirSync(out)
        .sort()
        .map((f) => [f, readFileSync(join(out, f), "utf8")]),
    );
  }
  return { cli, exported };
}

const outputs = new Map<string, Outputs>();
beforeAll(async () => {
  const runs: [Machine, Variant][] = [
    ["a", "original"],
    ["a", "shuffled-1"],
    ["a", "shuffled-2"],
    ["b", "original"],
  ];
  const results = await Promise.all(runs.map(([machine, variant]) => runVariant(machine, variant)));
  runs.forEach(([machine, variant], i) => {
    outputs.set(`${machine} ${variant}`, results[i]);
  });
}, 120_000);

const got = (key: string): Outputs => {
  const o = outputs.get(key);
  if (!o) throw new Error(`no outputs for ${key}`);
  return o;
};

describe("same config in any key order, same output", () => {
  it("the shuffled stack files really reorder mappings, and keep every sequence in order", () => {
    for (const stack of STACKS) {
      const original = parse(stack.text) as unknown;
      for (const variant of ["shuffled-1", "shuffled-2"] as const) {
        const shuffled = parse(readFileSync(join(MACHINES.a.cwd, variant, `Pulumi.${stack.name}.yaml`), "utf8"));
        expect(keyOrders(shuffled), `${stack.name} ${variant}`).not.toEqual(keyOrders(original));
        expect(shuffled).toEqual(original);
      }
    }
  });
  for (const { name } of STACKS) {
    it(`${name}: plan, plan --json, export and diff are byte-identical`, () => {
      const reference = got("a original");
      expect(reference.cli[`plan ${name}`].code).toBe(0);
      expect(reference.cli[`diff ${name}`].code).toBe(2);
      for (const variant of ["a shuffled-1", "a shuffled-2"]) {
        expect(got(variant).cli, variant).toEqual(reference.cli);
        expect(got(variant).exported[name], variant).toEqual(reference.exported[name]);
      }
    });
  }
  it("the Pulumi program registers the same graph for shuffled stack files", async () => {
    const mocks = await import("./support/pulumiMocks");
    for (const { name } of STACKS) {
      const graphs: string[] = [];
      for (const variant of VARIANTS) {
        const run = await mocks.runProgram(mocks.readStackFile(join(MACHINES.a.cwd, variant, `Pulumi.${name}.yaml`)));
        graphs.push(JSON.stringify({ graph: mocks.resourceGraph(run), outputs: run.outputs }));
      }
      expect(graphs[1], name).toBe(graphs[0]);
      expect(graphs[2], name).toBe(graphs[0]);
    }
  });
});

describe("same config on another machine, same output", () => {
  it("cwd, HOME, TZ, LANG, CI and TERM change nothing in plan, export or diff", () => {
    expect(got("b original").cli).toEqual(got("a original").cli);
    expect(got("b original").exported).toEqual(got("a original").exported);
  });
  it("no output names a path, the host name or the date of the machine", () => {
    const { cli, exported } = got("a original");
    const text = JSON.stringify({ cli, exported });
    for (const local of [ROOT_TMP, tmpdir(), process.cwd(), MACHINES.a.env.HOME, hostname()]) {
      expect(text).not.toContain(local);
    }
    const today = new Date().toISOString().slice(0, 10);
    expect(text).not.toContain(today);
  });
  it("a real process prints what the batch driver recorded, on either machine", async () => {
    for (const machine of ["a", "b"] as const) {
      const cwd = join(MACHINES[machine].cwd, "original");
      const r = await runCli(["plan", "Pulumi.llama405b-2node.yaml"], { cwd, env: MACHINES[machine].env });
      expect(r).toEqual(got(`${machine} original`).cli["plan llama405b-2node"]);
    }
  });
});
