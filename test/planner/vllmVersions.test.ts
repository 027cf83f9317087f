/**
 * The version table against the oracle (`shared/reference/vllm-cli-oracle.json`), and every argv and env variable the
 * example stacks emit against the release they target.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import generated from "../../planner/catalog/vllm-serve-flags.generated.json";
import { findVllmVersion, VLLM_VERSIONS, vllmVersionFromImage } from "../../planner/catalog/vllmVersions";
import { buildPlan } from "../../planner/plan";
import { referenceFile } from "../support/reference";
import { exampleConfig, exampleStacks } from "../support/stackConfigs";

const ORACLE_PATH = referenceFile("vllm-cli-oracle.json");
const NEWER_ORACLE_PATH = referenceFile("vllm-cli-oracle-newer.json");

interface OracleFlag {
  presentIn: string[];
  aliases?: string[];
  choices?: (string | number)[];
  choicesEnforcedByArgparse?: boolean;
  differsIn?: Record<string, { choices?: (string | number)[]; aliases?: string[] }>;
  type?: string;
}
interface Oracle {
  allServeFlagsPresence: Record<string, string[]>;
  flags: Record<string, OracleFlag>;
  envVars: Record<
    string,
    { presentIn?: string[]; parse?: string; changes?: Record<string, { choices?: string[]; caseSensitive?: boolean }> }
  >;
  speculativeConfig: { methods: Record<string, string[]> };
  kvCacheDtypes: Record<string, string[]>;
  blockSizes: Record<string, number[]>;
  rocmAttentionLogLines: Record<string, Record<string, string>>;
  rocmSupportedQuantization: Record<string, string[]>;
}

// CI clones the repo with shared/ beside it; the oracle is required, not optional.
const oracle: Oracle = JSON.parse(readFileSync(ORACLE_PATH, "utf8"));
const newerOracle: { flagAliasesByVersion: Record<string, Record<string, string[]>> } = JSON.parse(
  readFileSync(NEWER_ORACLE_PATH, "utf8"),
);

/** Short aliases of a release per the oracles: the newer one from v0.11.1 on, the older one (with its differences) before. */
function oracleAliases(t: string): Record<string, string> {
  const out: Record<string, string> = {};
  const fromNewer = Object.entries(newerOracle.flagAliasesByVersion).flatMap(([flag, byAlias]) =>
    Object.entries(byAlias)
      .filter(([alias, versions]) => alias !== "(none)" && versions.includes(t))
      .map(([alias]) => [alias, flag] as const),
  );
  if (fromNewer.length > 0) return Object.fromEntries(fromNewer);
  for (const [flag, spec] of Object.entries(oracle.flags)) {
    if (!spec.presentIn.includes(t)) continue;
    for (const alias of spec.differsIn?.[t]?.aliases ?? spec.aliases ?? []) out[alias] = flag;
  }
  return out;
}
const tag = (v: string) => `v${v}`;

describe("version table matches the oracle", () => {
  it("the oracle file is present", () => {
    expect(existsSync(ORACLE_PATH)).toBe(true);
  });
  it("the generated flag and env lists equal the oracle's", () => {
    for (const v of ["0.10.2", "0.11.0", "0.11.1", "0.12.0"]) {
      const flags = Object.entries(oracle.allServeFlagsPresence)
        .filter(([, p]) => p.includes(tag(v)))
        .map(([f]) => f)
        .sort();
      expect((generated.serveFlags as Record<string, string[]>)[v]).toEqual(flags);
      const env = Object.entries(oracle.envVars)
        .filter(([, e]) => e.presentIn?.includes(tag(v)))
        .map(([n]) => n)
        .sort();
      expect((generated.envVars as Record<string, string[]>)[v]).toEqual(env);
    }
  });
  for (const spec of VLLM_VERSIONS) {
    describe(`vLLM ${spec.version}`, () => {
      const t = tag(spec.version);
      it("knobs name flags and variables that exist in this release", () => {
        expect(spec.envVars.has(spec.aiterUnifiedAttentionEnv)).toBe(true);
        for (const knob of [spec.all2allBackend, spec.disableNcclForDpSync]) {
          if (knob.kind === "flag") expect(oracle.allServeFlagsPresence[knob.flag]).toContain(t);
          if (knob.kind === "env") expect(oracle.envVars[knob.name].presentIn).toContain(t);
        }
        if (spec.disableNcclForDpSync.kind === "absent") {
          expect(oracle.allServeFlagsPresence["--disable-nccl-for-dp-synchronization"]).not.toContain(t);
          expect(oracle.envVars.VLLM_DISABLE_NCCL_FOR_DP_SYNCHRONIZATION.presentIn).not.toContain(t);
        }
        for (const name of Object.keys(spec.rayNoSetVisibilityEnv)) expect(name).toMatch(/^RAY_EXPERIMENTAL_NOSET_/);
      });
      it("choice lists equal the oracle's", () => {
        expect(spec.blockSizes).toEqual(oracle.blockSizes[t]);
        expect(spec.kvCacheDtypes).toEqual(oracle.kvCacheDtypes[t]);
        expect([...spec.speculativeMethods].sort()).toEqual([...oracle.speculativeConfig.methods[t]].sort());
      });
      it("short aliases equal the oracles'", () => {
        expect(spec.flagAliases).toEqual(oracleAliases(t));
        for (const flag of Object.values(spec.flagAliases)) expect(spec.serveFlags.has(flag), flag).toBe(true);
      });
      it("the variable table (vllm/envs.py at the tag) holds every variable the oracle records, with its choices", () => {
        const table = spec.envTable;
        expect(table).toBeDefined();
        if (!table) return;
        for (const [name, e] of Object.entries(oracle.envVars)) {
          if (!name.startsWith("VLLM_")) continue;
          expect(table.names.has(name), `${name} in ${spec.version}`).toBe(e.presentIn?.includes(t) ?? false);
          if (!e.presentIn?.includes(t)) continue;
          const change = Object.entries(e.changes ?? {})
            .filter(([from]) => from <= t)
            .map(([, c]) => c)
            .pop();
          const parser = table.parsers.get(name);
          if (Array.isArray(change?.choices)) {
            expect(parser, name).toEqual({ kind: "choices", choices: change.choices, caseSensitive: true });
          }
          if (e.parse?.startsWith("bool(int(value))")) expect(parser, name).toEqual({ kind: "int01" });
          if (e.parse?.startsWith("value.lower() in")) {
            expect(parser, name).toEqual({ kind: "word", trueValues: ["true", "1"] });
          }
          if (e.parse === "value.lower() == 'true'")
            expect(parser, name).toEqual({ kind: "word", trueValues: ["true"] });
        }
      });
      it("attention log lines come from the oracle", () => {
        const lines = Object.values(oracle.rocmAttentionLogLines[t]);
        for (const [backend, line] of Object.entries(spec.attentionLogLines)) {
          if (spec.version === "0.10.2" && (backend === "aiter-unified" || backend === "triton-prefill-decode"))
            continue;
          expect(lines, backend).toContain(line);
        }
      });
    });
  }
  it("reads the version from rocm/vllm and vllm-openai-rocm tags, not from digests", () => {
    expect(vllmVersionFromImage("rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024")).toBe("0.11.1");
    expect(vllmVersionFromImage("vllm/vllm-openai-rocm:v0.11.1")).toBe("0.11.1");
    expect(vllmVersionFromImage(`rocm/vllm@sha256:${"a".repeat(64)}`)).toBeUndefined();
    expect(findVllmVersion("0.9.0")).toBeUndefined();
  });
});

/** Checks an argv against the release: every flag exists and enforced choices are respected. */
function checkArgv(argv: string[], version: string): string[] {
  const errors: string[] = [];
  const t = tag(version);
  for (let i = 3; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) continue;
    const name = arg.split("=")[0];
    if (!oracle.allServeFlagsPresence[name]?.includes(t)) errors.push(`${name} is not a flag of vllm serve ${version}`);
    const spec = oracle.flags[name];
    const choices = spec?.differsIn?.[t]?.choices ?? spec?.choices;
    if (spec?.choicesEnforcedByArgparse && choices && !choices.map(String).includes(argv[i + 1])) {
      errors.push(`${name} ${argv[i + 1]} is not one of ${choices.join(",")}`);
    }
    if (name === "--compilation-config" || name === "--speculative-config") JSON.parse(argv[i + 1]);
  }
  return errors;
}

describe("example stacks emit only what their vLLM release accepts", () => {
  for (const stack of exampleStacks()) {
    it(stack.name, () => {
      const { plan, problems } = buildPlan(exampleConfig(stack.text));
      expect(problems).toEqual([]);
      const version = plan.cluster.vllmVersion;
      const t = tag(version);
      for (const d of plan.deployments) {
        for (const inst of d.instances) {
          expect(inst.argv.slice(0, 3)).toEqual(["vllm", "serve", d.model]);
          expect(checkArgv(inst.argv, version)).toEqual([]);
          for (const name of Object.keys(inst.env).filter((n) => n.startsWith("VLLM_") && n !== "VLLM_HOST_IP")) {
            expect(oracle.envVars[name]?.presentIn, `${name} in ${version}`).toContain(t);
          }
          const qr = inst.env.VLLM_ROCM_QUICK_REDUCE_QUANTIZATION;
          if (qr) expect(["FP", "INT8", "INT6", "INT4", "NONE"]).toContain(qr);
        }
        for (const node of plan.nodes) {
          for (const c of node.containers.filter((x) => x.role === "serve" || x.role === "dp-engine")) {
            expect(checkArgv(c.command, version)).toEqual([]);
          }
        }
      }
    });
  }
});
