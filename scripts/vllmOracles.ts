/**
 * Reading the two vLLM oracles (machine-readable fact sheets of `vllm serve` per release, kept beside the repository
 * in the shared reference folder): `vllm-cli-oracle.json` (v0.10.2 … v0.11.1, read from main at the release points)
 * and `vllm-cli-oracle-newer.json` (v0.11.1 … v0.25.1, read at the release tags).
 *
 * Both write per-release facts either under a tag (`v0.18.0`) or under a key naming a range of the oracle's own
 * releases: `v0.11.1..v0.17.1`, `v0.10.2-v0.11.1`, `v0.15.0+`. `valueFor` resolves either. The generator
 * (`scripts/generate-vllm-catalog.ts`) and the version-table tests share this module.
 */
import { readFileSync } from "node:fs";
import { compareVersions } from "../planner/catalog/versionOrder";
import { referenceFile } from "../test/support/reference";

export interface OracleFlag {
  presentIn: string[];
  choices?: (string | number)[];
  choicesEnforcedByArgparse?: boolean;
  default?: string | null;
  differsIn?: Record<string, { choices?: (string | number)[]; choicesEnforcedByArgparse?: boolean; default?: string }>;
  negatable?: boolean;
}

export interface OracleEnv {
  presentIn?: string[];
  default?: string;
  changedIn?: Record<string, string>;
}

export interface Oracle {
  source: { versions?: string[]; anchors: Record<string, unknown> };
  allServeFlagsPresence: Record<string, string[]>;
  flags: Record<string, OracleFlag>;
  envVars: Record<string, OracleEnv>;
  speculativeConfig: { methods: Record<string, string[]> };
  kvCacheDtypes: Record<string, unknown>;
  blockSizes: Record<string, unknown>;
  rocmSupportedQuantization: Record<string, unknown>;
  attentionBackends: Record<string, unknown>;
  rocmAttentionLogLines: Record<string, Record<string, string>>;
  deprecatedQuantizationMethods?: Record<string, string[] | null>;
  rayInImages?: { source: string; rayNosetEnv: string };
  gpuVisibility?: Record<string, string>;
  dataParallelRecipes?: Record<string, string>;
  knownRegressionsForPlanner?: Record<string, string>;
  asyncScheduling?: Record<string, string>;
  rocmAttentionSelection?: Record<string, string>;
}

export const OLD_ORACLE_FILE = "vllm-cli-oracle.json";
export const NEWER_ORACLE_FILE = "vllm-cli-oracle-newer.json";

export function readOracle(file: string): Oracle {
  return JSON.parse(readFileSync(referenceFile(file), "utf8")) as Oracle;
}

/** `v0.11.1` → `0.11.1`. */
export const bare = (tag: string) => tag.replace(/^v/, "");
/** `0.11.1` → `v0.11.1`. */
export const tag = (version: string) => `v${version}`;

/** Whether an oracle key (a tag or a range of tags) covers `version`. */
export function keyCovers(key: string, version: string): boolean {
  const range = /^v(\d+\.\d+\.\d+)(?:\.\.|-)v(\d+\.\d+\.\d+)$/.exec(key);
  if (range) return compareVersions(range[1], version) <= 0 && compareVersions(version, range[2]) <= 0;
  const from = /^v(\d+\.\d+\.\d+)\+$/.exec(key);
  if (from) return compareVersions(from[1], version) <= 0;
  return key === tag(version);
}

/** The value an oracle records for `version` in a per-release record, or `undefined`. */
export function valueFor<T>(record: Record<string, T> | undefined, version: string): T | undefined {
  if (!record) return undefined;
  if (tag(version) in record) return record[tag(version)];
  const key = Object.keys(record).find((k) => keyCovers(k, version));
  return key === undefined ? undefined : record[key];
}

/**
 * Like `valueFor`, for records that list a value only where it changed (the newer oracle's speculative methods name
 * v0.14.0 but not v0.14.1): a release no key covers takes the value of the newest key that starts before it.
 */
export function valueSince<T>(record: Record<string, T>, version: string): T | undefined {
  const covered = valueFor(record, version);
  if (covered !== undefined) return covered;
  const start = (k: string) => /^v(\d+\.\d+\.\d+)/.exec(k)?.[1];
  const earlier = Object.keys(record)
    .filter((k) => start(k) !== undefined && compareVersions(start(k) as string, version) < 0)
    .sort((a, b) => compareVersions(start(a) as string, start(b) as string));
  const key = earlier[earlier.length - 1];
  return key === undefined ? undefined : record[key];
}

/** A flag attribute for `version`: the `differsIn` entry covering it, else the flag's own attribute. */
export function flagAttribute<K extends "choices" | "choicesEnforcedByArgparse" | "default">(
  flag: OracleFlag | undefined,
  version: string,
  key: K,
): OracleFlag[K] | undefined {
  if (!flag) return undefined;
  const override = valueFor(flag.differsIn, version);
  if (override && key in override) return override[key as keyof typeof override] as OracleFlag[K];
  return flag[key];
}

/** Releases an oracle describes, oldest first (the old oracle lists them as anchors). */
export function oracleVersions(oracle: Oracle): string[] {
  const tags = oracle.source.versions ?? Object.keys(oracle.source.anchors);
  return tags.map(bare).sort(compareVersions);
}

/**
 * Which oracle speaks for which release. The old oracle for v0.10.2, v0.11.0 and v0.11.1; the newer one for every
 * later release. v0.12.0 is in both: the old oracle read it at an approximate main commit (about 12 commits off, low
 * confidence), the newer one at the release tag, so the newer one wins (their flag lists agree exactly).
 */
export function sourceOracles(old: Oracle, newer: Oracle): { version: string; oracle: Oracle; name: string }[] {
  const fromOld = oracleVersions(old).filter((v) => compareVersions(v, "0.11.1") <= 0);
  const fromNewer = oracleVersions(newer).filter((v) => compareVersions(v, "0.11.1") > 0);
  return [
    ...fromOld.map((version) => ({ version, oracle: old, name: OLD_ORACLE_FILE })),
    ...fromNewer.map((version) => ({ version, oracle: newer, name: NEWER_ORACLE_FILE })),
  ];
}

/** Names present in `version` according to a presence record (flag → tags, or variable → { presentIn }). */
export function presentIn(record: Record<string, string[] | OracleEnv>, version: string): string[] {
  return Object.entries(record)
    .filter(([, p]) => (Array.isArray(p) ? p : (p.presentIn ?? [])).includes(tag(version)))
    .map(([name]) => name)
    .sort();
}

/** `--block-size` choices: a list, or `"any"` where any positive integer is accepted. */
export function blockSizesFor(oracle: Oracle, version: string): number[] | "any" {
  const v = valueFor(oracle.blockSizes as Record<string, unknown>, version);
  if (Array.isArray(v)) return v as number[];
  if (typeof v === "string" && /^any/.test(v)) return "any";
  throw new Error(`no --block-size choices for ${version}`);
}

/** ROCm's `supported_quantization` for a release (the old oracle writes v0.12.0's as a sentence; it is not used). */
export function rocmQuantizationFor(oracle: Oracle, version: string): string[] {
  const v = valueFor(oracle.rocmSupportedQuantization as Record<string, unknown>, version);
  if (!Array.isArray(v)) throw new Error(`no ROCm quantization list for ${version}`);
  return [...(v as string[])].sort();
}

/** Attention backend enum names of a release. */
export function attentionBackendsFor(oracle: Oracle, version: string): string[] {
  const v = valueFor(oracle.attentionBackends as Record<string, unknown>, version);
  if (!Array.isArray(v)) throw new Error(`no attention backends for ${version}`);
  return [...(v as string[])].sort();
}

/** Per-release lists the catalog carries, read from the oracle that speaks for the release. */
export function releaseLists(oracle: Oracle, version: string) {
  const kv = valueFor(oracle.kvCacheDtypes as Record<string, unknown>, version);
  const spec = valueSince(oracle.speculativeConfig.methods, version);
  if (!Array.isArray(kv) || !Array.isArray(spec)) throw new Error(`incomplete oracle entry for ${version}`);
  return {
    serveFlags: presentIn(oracle.allServeFlagsPresence, version),
    envVars: presentIn(oracle.envVars, version),
    kvCacheDtypes: kv as string[],
    blockSizes: blockSizesFor(oracle, version),
    speculativeMethods: [...spec].sort(),
    rocmQuantization: rocmQuantizationFor(oracle, version),
    deprecatedQuantization: [...(valueFor(oracle.deprecatedQuantizationMethods, version) ?? [])].sort(),
    attentionBackends: attentionBackendsFor(oracle, version),
  };
}

export type ReleaseLists = ReturnType<typeof releaseLists>;

/** The whole generated catalog, from both oracles. */
export function buildCatalog(old: Oracle, newer: Oracle) {
  const releases = sourceOracles(old, newer);
  const lists = releases.map(({ version, oracle }) => [version, releaseLists(oracle, version)] as const);
  const pick = <K extends keyof ReleaseLists>(k: K) => Object.fromEntries(lists.map(([v, l]) => [v, l[k]]));
  return {
    _source: `Generated by scripts/generate-vllm-catalog.ts from the shared reference oracles (${OLD_ORACLE_FILE} for ${releases
      .filter((r) => r.name === OLD_ORACLE_FILE)
      .map((r) => r.version)
      .join(
        ", ",
      )}; ${NEWER_ORACLE_FILE} for the rest, v0.12.0 included: read at its release tag). test/planner/vllmVersions.test.ts checks it is current. Environment lists hold the variables the oracles track (ROCm, distributed and the planner's), not all of vllm/envs.py.`,
    versions: releases.map((r) => r.version),
    serveFlags: pick("serveFlags"),
    envVars: pick("envVars"),
    kvCacheDtypes: pick("kvCacheDtypes"),
    blockSizes: pick("blockSizes"),
    speculativeMethods: pick("speculativeMethods"),
    rocmQuantization: pick("rocmQuantization"),
    deprecatedQuantization: pick("deprecatedQuantization"),
    attentionBackends: pick("attentionBackends"),
  };
}
