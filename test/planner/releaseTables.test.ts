/**
 * The release data issue 12 added to the version table, against the oracles: short flag aliases per release, and the
 * variable table read from `vllm/envs.py` at each tag (every variable the oracles record, with the same parsing).
 */
import { describe, expect, it } from "vitest";
import { VLLM_VERSIONS } from "../../planner/catalog/vllmVersions";
import { NEWER_ORACLE_FILE, OLD_ORACLE_FILE, readOracle, tag } from "../../scripts/vllmOracles";

interface AliasOracle {
  flags: Record<
    string,
    { presentIn: string[]; aliases?: string[]; differsIn?: Record<string, { aliases?: string[] }> }
  >;
  flagAliasesByVersion?: Record<string, Record<string, string[]>>;
  envVars: Record<
    string,
    { presentIn?: string[]; parse?: string; changes?: Record<string, { choices?: unknown; caseSensitive?: boolean }> }
  >;
}
const old = readOracle(OLD_ORACLE_FILE) as unknown as AliasOracle;
const newer = readOracle(NEWER_ORACLE_FILE) as unknown as AliasOracle;

/** Short aliases of a release: the newer oracle's `flagAliasesByVersion` where it lists the release, else the old one's. */
function oracleAliases(t: string): Record<string, string> {
  const fromNewer = Object.entries(newer.flagAliasesByVersion ?? {}).flatMap(([flag, byAlias]) =>
    Object.entries(byAlias)
      .filter(([alias, versions]) => alias !== "(none)" && versions.includes(t))
      .map(([alias]) => [alias, flag] as const),
  );
  if (fromNewer.length > 0) return Object.fromEntries(fromNewer);
  const out: Record<string, string> = {};
  for (const [flag, spec] of Object.entries(old.flags)) {
    if (!spec.presentIn.includes(t)) continue;
    for (const alias of spec.differsIn?.[t]?.aliases ?? spec.aliases ?? []) out[alias] = flag;
  }
  return out;
}

describe("release tables of issue 12", () => {
  for (const spec of VLLM_VERSIONS) {
    const t = tag(spec.version);
    it(`${spec.version}: short aliases equal the oracle's, and name flags the release has`, () => {
      expect(spec.flagAliases).toEqual(oracleAliases(t));
      for (const flag of [...Object.values(spec.flagAliases), spec.dashO])
        expect(spec.serveFlags.has(flag), flag).toBe(true);
    });
  }
  for (const spec of VLLM_VERSIONS.filter((s) => s.envTable !== undefined)) {
    const t = tag(spec.version);
    it(`${spec.version}: the variable table holds the oracle's variables of the release, parsed the same way`, () => {
      const table = spec.envTable;
      if (!table) return;
      for (const oracle of [old, newer]) {
        for (const [name, e] of Object.entries(oracle.envVars)) {
          if (!name.startsWith("VLLM_") || !e.presentIn) continue;
          if (!oracle.envVars[name].presentIn?.some((p) => p === t)) {
            // Absent per this oracle only if the oracle covers the release at all.
            const covers = Object.values(oracle.envVars).some((x) => x.presentIn?.includes(t));
            if (covers) expect(table.names.has(name), `${name} in ${spec.version}`).toBe(false);
            continue;
          }
          expect(table.names.has(name), `${name} in ${spec.version}`).toBe(true);
          const parser = table.parsers.get(name);
          if (e.parse?.startsWith("bool(int(value))")) expect(parser, name).toEqual({ kind: "int01" });
          if (e.parse?.startsWith("value.lower() in"))
            expect(parser, name).toEqual({ kind: "word", trueValues: ["true", "1"] });
          if (e.parse === "value.lower() == 'true'")
            expect(parser, name).toEqual({ kind: "word", trueValues: ["true"] });
          const change = Object.entries(e.changes ?? {})
            .filter(([from]) => from <= t)
            .map(([, c]) => c)
            .pop();
          if (Array.isArray(change?.choices))
            expect(parser, name).toEqual({ kind: "choices", choices: change.choices, caseSensitive: true });
        }
      }
    });
  }
  it("covers every release but the newest, which no tagged source was read for", () => {
    expect(VLLM_VERSIONS.filter((s) => s.envTable === undefined).map((s) => s.version)).toEqual(["0.25.1"]);
  });
});
