/**
 * The environment variables each vLLM release reads, and how it parses their values: the keys of
 * `environment_variables` in `vllm/envs.py` at the release tag (e.g. vllm v0.11.1 vllm/envs.py), extracted by
 * `scripts/extract-vllm-envs.py` into `vllm-envs.generated.json` (oldest release in full, later ones as differences).
 */
import generated from "./vllm-envs.generated.json";

/**
 * How a release parses a variable where a value can raise or be silently ignored:
 * `choices` — `env_with_choices`: a value outside `choices` raises ValueError when read (`choices: null` = computed
 * at run time, not checked here); `choiceList` — comma-separated values, each checked the same way;
 * `int` — `int(value)`: ValueError on anything but an integer; `int01` — `bool(int(value))`: ValueError on
 * "true"/"false"; `float` — `float(value)`; `word` — `value.lower() in trueValues` (usually "true", "1"): anything else
 * means false.
 */
export type EnvParser =
  | { kind: "choices" | "choiceList"; choices: readonly string[] | null; caseSensitive: boolean }
  | { kind: "int" | "int01" | "float" }
  | { kind: "word"; trueValues: readonly string[] };

export interface EnvTable {
  /** Every variable the release reads from `vllm/envs.py` (complete, not only the ROCm ones). */
  names: ReadonlySet<string>;
  /** Value parsers of the variables whose values are checked (see `EnvParser`). */
  parsers: ReadonlyMap<string, EnvParser>;
}

interface ReleaseDiff {
  version: string;
  added: string[];
  removed: string[];
  parsers: Record<string, EnvParser>;
  parsersRemoved: string[];
}

const RELEASES = (generated as unknown as { releases: ReleaseDiff[] }).releases;

/** The variable table of a release, or `undefined` when `vllm-envs.generated.json` has no entry for it. */
export function envTableFor(version: string): EnvTable | undefined {
  const last = RELEASES.findIndex((r) => r.version === version);
  if (last < 0) return undefined;
  const names = new Set<string>();
  const parsers = new Map<string, EnvParser>();
  for (const r of RELEASES.slice(0, last + 1)) {
    for (const n of r.added) names.add(n);
    for (const n of r.removed) {
      names.delete(n);
      parsers.delete(n);
    }
    for (const n of r.parsersRemoved) parsers.delete(n);
    for (const [n, p] of Object.entries(r.parsers)) parsers.set(n, p);
  }
  return { names, parsers };
}

/** Releases the generated table covers, oldest first. */
export const ENV_TABLE_RELEASES: readonly string[] = RELEASES.map((r) => r.version);
