/**
 * The version table against the two oracles in the shared reference folder (`vllm-cli-oracle.json` for 0.10.2 …
 * 0.11.1, `vllm-cli-oracle-newer.json` for 0.11.2 … 0.25.1): the generated lists are current, and every hand-written
 * difference (knobs, log lines, defaults, Ray, data parallelism) says what the oracle of its release says.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ATTENTION_BACKEND_NAMES,
  compareVersions,
  findVllmVersion,
  flagAbsence,
  matchVllmVersion,
  NEWEST_VLLM_VERSION,
  OLDEST_VLLM_VERSION,
  QUANTIZATION_CHANGES,
  quantizationAbsence,
  REMOVED_FLAGS,
  VLLM_VERSIONS,
  type VllmVersionSpec,
  vllmVersionFromImage,
} from "../../planner/catalog/vllmVersions";
import { CATALOG_PATH, catalogText } from "../../scripts/generate-vllm-catalog";
import {
  flagAttribute,
  NEWER_ORACLE_FILE,
  OLD_ORACLE_FILE,
  type Oracle,
  oracleVersions,
  presentIn,
  readOracle,
  sourceOracles,
  tag,
  valueFor,
} from "../../scripts/vllmOracles";

const old = readOracle(OLD_ORACLE_FILE);
const newer = readOracle(NEWER_ORACLE_FILE);
const owner = new Map(sourceOracles(old, newer).map((r) => [r.version, r.oracle]));
const oracleOf = (v: string): Oracle => {
  const o = owner.get(v);
  if (!o) throw new Error(`no oracle speaks for ${v}`);
  return o;
};
/** The first release named in a sentence of the oracle, e.g. "absent from v0.18.0 on" → 0.18.0. */
const releaseIn = (text: string | undefined, pattern: RegExp): string => {
  const m = text ? pattern.exec(text) : null;
  if (!m) throw new Error(`the oracle no longer says ${pattern}`);
  return m[1];
};
const atOrAfter = (v: string, since: string) => compareVersions(v, since) >= 0;

describe("the generated catalog", () => {
  it("is what scripts/generate-vllm-catalog.ts writes from the oracles today", () => {
    expect(readFileSync(CATALOG_PATH, "utf8")).toBe(catalogText());
  });
  it("covers every release of both oracles, and the table lists exactly those", () => {
    const all = [...new Set([...oracleVersions(old), ...oracleVersions(newer)])].sort(compareVersions);
    expect(VLLM_VERSIONS.map((s) => s.version)).toEqual(all);
    expect(all).toContain("0.23.0");
    expect(all[all.length - 1]).toBe("0.25.1");
  });
  it("takes 0.12.0 from its release tag (newer oracle), whose flags equal the old oracle's approximate anchor", () => {
    const spec = findVllmVersion("0.12.0") as VllmVersionSpec;
    expect([...spec.serveFlags].sort()).toEqual(presentIn(newer.allServeFlagsPresence, "0.12.0"));
    expect([...spec.serveFlags].sort()).toEqual(presentIn(old.allServeFlagsPresence, "0.12.0"));
    expect([...spec.envVars].sort()).toEqual(presentIn(newer.envVars, "0.12.0"));
    expect(spec.envVars.has("VLLM_USE_V2_MODEL_RUNNER")).toBe(true);
  });
  it("keeps 0.10.2, 0.11.0 and 0.11.1 from the old oracle, as before", () => {
    for (const v of ["0.10.2", "0.11.0", "0.11.1"]) {
      const spec = findVllmVersion(v) as VllmVersionSpec;
      expect([...spec.serveFlags].sort()).toEqual(presentIn(old.allServeFlagsPresence, v));
      expect([...spec.envVars].sort()).toEqual(presentIn(old.envVars, v));
    }
  });
  it("records removals and additions the release notes name", () => {
    const has = (v: string, f: string) => findVllmVersion(v)?.serveFlags.has(f);
    expect([has("0.17.1", "--swap-space"), has("0.18.0", "--swap-space")]).toEqual([true, false]);
    expect([has("0.16.0", "--disable-log-requests"), has("0.17.0", "--disable-log-requests")]).toEqual([true, false]);
    expect([has("0.12.0", "--task"), has("0.13.0", "--task")]).toEqual([true, false]);
    expect([has("0.12.0", "--attention-backend"), has("0.13.0", "--attention-backend")]).toEqual([false, true]);
    expect([has("0.17.1", "--shutdown-timeout"), has("0.18.0", "--shutdown-timeout")]).toEqual([false, true]);
    const env = (v: string, n: string) => findVllmVersion(v)?.envVars.has(n);
    expect([env("0.14.1", "VLLM_ATTENTION_BACKEND"), env("0.15.0", "VLLM_ATTENTION_BACKEND")]).toEqual([true, false]);
    expect([env("0.15.1", "VLLM_ALL2ALL_BACKEND"), env("0.16.0", "VLLM_ALL2ALL_BACKEND")]).toEqual([true, false]);
    const custom = "VLLM_ROCM_CUSTOM_PAGED_ATTN";
    expect([env("0.18.1", custom), env("0.19.0", custom)]).toEqual([true, false]);
    const prefill = "VLLM_V1_USE_PREFILL_DECODE_ATTENTION";
    expect([env("0.14.1", prefill), env("0.15.0", prefill)]).toEqual([true, false]);
    expect(findVllmVersion("0.17.1")?.blockSizes).toEqual([1, 8, 16, 32, 64, 128, 256]);
    expect(findVllmVersion("0.18.0")?.blockSizes).toBe("any");
    const ptpc = (v: string) => [
      findVllmVersion(v)?.rocmQuantization.has("ptpc_fp8"),
      findVllmVersion(v)?.deprecatedQuantization.has("ptpc_fp8"),
    ];
    expect([ptpc("0.13.0"), ptpc("0.14.0"), ptpc("0.18.1"), ptpc("0.19.0")]).toEqual([
      [true, false],
      [true, true],
      [true, true],
      [false, false],
    ]);
  });
});

describe("version table matches the oracles", () => {
  for (const spec of VLLM_VERSIONS) {
    const v = spec.version;
    const t = tag(v);
    const oracle = oracleOf(v);
    describe(`vLLM ${v}`, () => {
      it("knobs name flags and variables that exist in this release", () => {
        expect(spec.envVars.has(spec.aiterUnifiedAttentionEnv)).toBe(true);
        for (const knob of [spec.all2allBackend, spec.disableNcclForDpSync]) {
          if (knob.kind === "flag") expect(oracle.allServeFlagsPresence[knob.flag]).toContain(t);
          if (knob.kind === "env") expect(oracle.envVars[knob.name].presentIn).toContain(t);
        }
        if (spec.all2allBackend.kind === "flag") {
          const choices = flagAttribute(oracle.flags["--all2all-backend"], v, "choices");
          expect(choices).toContain("allgather_reducescatter");
        }
        if (spec.disableNcclForDpSync.kind === "absent") {
          expect(oracle.allServeFlagsPresence["--disable-nccl-for-dp-synchronization"]).not.toContain(t);
          expect(oracle.envVars.VLLM_DISABLE_NCCL_FOR_DP_SYNCHRONIZATION.presentIn).not.toContain(t);
        }
        for (const name of Object.keys(spec.rayNoSetVisibilityEnv)) expect(name).toMatch(/^RAY_EXPERIMENTAL_NOSET_/);
        if (spec.deprecatedQuantization.size > 0)
          expect(spec.serveFlags.has("--allow-deprecated-quantization")).toBe(true);
      });
      it("choice lists equal the oracle's", () => {
        expect(spec.kvCacheDtypes).toEqual(valueFor(oracle.kvCacheDtypes as Record<string, unknown>, v));
        const sizes = valueFor(oracle.blockSizes as Record<string, unknown>, v);
        expect(spec.blockSizes).toEqual(Array.isArray(sizes) ? sizes : "any");
        const enforced = flagAttribute(oracle.flags["--block-size"], v, "choicesEnforcedByArgparse");
        expect(spec.blockSizes === "any").toBe(enforced !== true);
        expect([...spec.speculativeMethods].sort()).toEqual(
          [...(valueFor(oracle.speculativeConfig.methods, v) ?? spec.speculativeMethods)].sort(),
        );
      });
      it("attention is selected the way the release reads it, and logs the oracle's line", () => {
        expect(spec.attentionSelection.via === "flag").toBe(spec.serveFlags.has("--attention-backend"));
        const logs = valueFor(oracle.rocmAttentionLogLines, v) as Record<string, string>;
        if (spec.attentionSelection.via === "flag") {
          for (const name of Object.values(ATTENTION_BACKEND_NAMES)) expect(spec.attentionBackends).toContain(name);
        }
        for (const [backend, line] of Object.entries(spec.attentionLogLines)) {
          if (v === "0.10.2" && (backend === "aiter-unified" || backend === "triton-prefill-decode")) continue;
          const name = ATTENTION_BACKEND_NAMES[backend as keyof typeof ATTENTION_BACKEND_NAMES];
          if (logs.explicit) {
            // An explicit `--attention-backend` logs the explicit line; 0.18.x renders the enum member with %s.
            const explicit = logs.explicit.split("  (")[0];
            expect(line).toBe(explicit.replace("<NAME>", name).replace("%s", `AttentionBackendEnum.${name}`));
          } else {
            expect(Object.values(logs), backend).toContain(line);
          }
        }
        const rocmAttnFirst = Object.keys(newer.rocmAttentionSelection ?? {}).find((k) =>
          /ROCM_ATTN\]/.test(newer.rocmAttentionSelection?.[k] ?? ""),
        );
        const since = releaseIn(rocmAttnFirst, /^v(\d+\.\d+\.\d+)/);
        const source = spec.attentionSelection.via === "flag" ? spec.attentionSelection.source : "";
        expect(source.includes("vllm#36702")).toBe(atOrAfter(v, since));
      });
      it("defaults (memory, async scheduling, API servers) are the release's", () => {
        const util = flagAttribute(oracle.flags["--gpu-memory-utilization"], v, "default");
        expect(spec.defaultGpuMemoryUtilization).toBe(Number(util));
        const asyncDefault = flagAttribute(oracle.flags["--async-scheduling"], v, "default");
        expect(spec.asyncSchedulingDefaultOn).toBe(asyncDefault === "None");
        const servers = flagAttribute(oracle.flags["--api-server-count"], v, "default");
        expect(spec.apiServersDefault).toBe(servers === "1" ? "one" : "one-per-data-parallel-rank");
        expect(servers === "1" || servers === "None").toBe(true);
      });
      it("async scheduling limits and the Ray executor follow the oracle", () => {
        const v2 = oracle.envVars.VLLM_USE_RAY_V2_EXECUTOR_BACKEND;
        const v2Default = Object.keys(v2?.changedIn ?? {}).find((k) => v2?.changedIn?.[k].includes("'1'"));
        const expected = !v2?.presentIn?.includes(t)
          ? "absent"
          : atOrAfter(v, releaseIn(v2Default, /^v(\d+\.\d+\.\d+)/))
            ? "default"
            : "opt-in";
        expect(spec.rayExecutorV2).toBe(expected);
        expect(spec.asyncSchedulingRejects.ray).toBe(spec.rayExecutorV2 !== "default");
        const limits = newer.asyncScheduling ?? {};
        const pipelineSince = releaseIn(
          Object.keys(limits).find((k) => /PP>1 now supported/.test(limits[k])),
          /^v(\d+\.\d+\.\d+)/,
        );
        expect(spec.asyncSchedulingRejects.pipeline).toBe(!atOrAfter(v, pipelineSince));
        const since = (pattern: RegExp) =>
          releaseIn(
            Object.keys(limits).find((k) => pattern.test(limits[k])),
            /^v(\d+\.\d+\.\d+)/,
          );
        const methods = spec.asyncSchedulingSpeculativeMethods;
        // The newer oracle's async table starts at v0.11.2; v0.11.1 already accepts EAGLE/MTP (vllm#24799, read in
        // vllm v0.11.1 vllm/config/vllm.py), which the oracle of 0.10.2 … 0.11.1 does not record.
        const eagleSince = since(/other than EAGLE\/MTP/);
        expect(eagleSince).toBe("0.11.2");
        expect(methods.includes("eagle")).toBe(atOrAfter(v, "0.11.1"));
        expect(methods.includes("draft_model")).toBe(atOrAfter(v, since(/draft_model spec allowed/)));
      });
      it("Ray in the image, Ray across nodes, visibility and data parallelism follow the oracle", () => {
        const rayGone = releaseIn(newer.rayInImages?.source, /absent from v(\d+\.\d+\.\d+) on/);
        expect(spec.rayInOfficialImage).toBe(!atOrAfter(v, rayGone));
        const broken = Object.keys(newer.knownRegressionsForPlanner ?? {}).find((k) => /Ray multi-node$/.test(k));
        expect(spec.rayAcrossNodesBroken !== undefined).toBe(v === releaseIn(broken, /^v(\d+\.\d+\.\d+)/));
        const nosetGone = releaseIn(newer.rayInImages?.rayNosetEnv, /removed in v(\d+\.\d+\.\d+)/);
        expect(Object.keys(spec.rayNoSetVisibilityEnv).length === 0).toBe(atOrAfter(v, nosetGone));
        const check = Object.keys(newer.gpuVisibility ?? {}).find((k) =>
          /Inconsistent/.test(newer.gpuVisibility?.[k] ?? ""),
        );
        expect(spec.visibilityMismatch === "value-error").toBe(atOrAfter(v, releaseIn(check, /^v(\d+\.\d+\.\d+)/)));
        const dense = Object.keys(newer.dataParallelRecipes ?? {}).find((k) => /^denseModels/.test(k));
        expect(spec.externalDataParallelMoeOnly).toBe(atOrAfter(v, releaseIn(dense, /v(\d+\.\d+\.\d+)\+/)));
      });
    });
  }
});

describe("what the table says about flags and methods that come and go", () => {
  it("every removed flag it explains was removed, and what replaces it exists in that release", () => {
    for (const [flag, { instead }] of Object.entries(REMOVED_FLAGS)) {
      const why = flagAbsence(flag, NEWEST_VLLM_VERSION);
      expect(why?.kind, flag).toBe("removed");
      const replacement = instead?.match(/--[\w-]+/g) ?? [];
      for (const r of replacement)
        expect(findVllmVersion(why?.in ?? "")?.serveFlags.has(r), `${flag} → ${r}`).toBe(true);
    }
    expect(flagAbsence("--swap-space", "0.23.0")).toEqual({ kind: "removed", in: "0.18.0" });
    expect(flagAbsence("--shutdown-timeout", "0.11.1")).toEqual({ kind: "added", in: "0.18.0" });
    expect(flagAbsence("--tensor-parallel-size", "0.23.0")).toBeUndefined();
    expect(flagAbsence("--no-such-flag", "0.23.0")).toBeUndefined();
  });
  it("ptpc_fp8: deprecated in 0.14.0, removed in 0.19.0, with the pull requests", () => {
    expect(quantizationAbsence("ptpc_fp8", "0.19.0")).toEqual({ kind: "removed", in: "0.19.0" });
    expect(QUANTIZATION_CHANGES.ptpc_fp8).toEqual({ deprecated: "vllm#31688", removed: "vllm#32700" });
  });
});

describe("which table entry a release is planned with", () => {
  it("known releases are themselves", () => {
    expect(matchVllmVersion("0.19.1")).toMatchObject({ match: "exact", spec: { version: "0.19.1" } });
  });
  it("newer releases get the newest known release", () => {
    expect(matchVllmVersion("0.27.1")).toMatchObject({ match: "newer", spec: { version: NEWEST_VLLM_VERSION } });
    expect(matchVllmVersion("1.0.0")).toMatchObject({ match: "newer", spec: { version: NEWEST_VLLM_VERSION } });
  });
  it("releases between known ones get the nearest older known release", () => {
    expect(matchVllmVersion("0.24.0")).toMatchObject({ match: "between", spec: { version: "0.23.0" } });
    expect(matchVllmVersion("0.25.0")).toMatchObject({ match: "between", spec: { version: "0.23.0" } });
    expect(matchVllmVersion("0.12.1")).toMatchObject({ match: "between", spec: { version: "0.12.0" } });
    expect(matchVllmVersion("0.20.3")).toMatchObject({ match: "between", spec: { version: "0.20.2" } });
  });
  it("releases older than the table have no entry", () => {
    expect(matchVllmVersion("0.10.1")).toEqual({ match: "older" });
    expect(matchVllmVersion("0.9.2")).toEqual({ match: "older" });
    expect(OLDEST_VLLM_VERSION).toBe("0.10.2");
    expect(compareVersions("0.9.2", "0.10.2")).toBeLessThan(0);
  });
});

describe("image tags", () => {
  it("reads AMD's, the official and 2026 tags, and nothing from digests or version-less tags", () => {
    const cases: [string, string | undefined][] = [
      ["rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024", "0.11.1"],
      ["rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006", "0.10.2"],
      ["rocm/vllm:rocm7.13.0_gfx120X-all_ubuntu24.04_py3.13_pytorch_2.10.0_vllm_0.19.1", "0.19.1"],
      ["rocm/vllm-dev:rocm7.1.1_navi_ubuntu24.04_py3.12_pytorch_2.8_vllm_0.11.2", "0.11.2"],
      ["vllm/vllm-openai-rocm:v0.23.0", "0.23.0"],
      ["vllm/vllm-openai-rocm:v0.11.1", "0.11.1"],
      ["registry.example.com:5000/mirror/vllm-openai-rocm:v0.25.1", "0.25.1"],
      [`vllm/vllm-openai-rocm:v0.23.0@sha256:${"b".repeat(64)}`, "0.23.0"],
      [`rocm/vllm@sha256:${"a".repeat(64)}`, undefined],
      ["rocm/vllm:latest", undefined],
      ["rocm/vllm-dev:nightly", undefined],
      ["registry.example.com:5000/vllm", undefined],
    ];
    for (const [image, version] of cases) expect(vllmVersionFromImage(image), image).toBe(version);
  });
});
