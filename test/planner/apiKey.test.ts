/**
 * `rocm-vllm:apiKey`: the plan names the key (`VLLM_API_KEY` in `secretEnv`), never holds it; every step that calls a
 * server's `/v1` API sends `Authorization: Bearer` with it, from its environment, never on a command line. The gate
 * and smoke test scripts run here against a stub `curl` that answers `/v1` only with the right header, as vLLM does.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planStackText } from "../../cli/stackFile";
import { ENV_TABLE_RELEASES, envTableFor } from "../../planner/catalog/vllmEnv";
import { parseStackConfig } from "../../planner/config/load";
import { buildPlan } from "../../planner/plan";
import type { Plan } from "../../planner/types";
import { rawCluster, rawDeployment } from "../support/stackConfigs";

const KEY = "sk-unit-key-0123";

function planWith(hasApiKey: boolean, deployment: Record<string, unknown> = {}): Plan {
  const r = parseStackConfig({
    stack: "unit",
    cluster: rawCluster(),
    deployments: [rawDeployment({ benchmark: { input: 8, output: 4, prompts: 4, concurrency: 2 }, ...deployment })],
    hasHfToken: true,
    hasApiKey,
  });
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join("\n"));
  const planned = buildPlan(r.config);
  expect(planned.problems).toEqual([]);
  return planned.plan;
}

/** A bin directory with `docker` (the container runs) and `curl` answering /v1 only with `Bearer $EXPECTED_KEY`. */
function stubs(model: string): string {
  const bin = mkdtempSync(join(tmpdir(), "rv-apikey-"));
  writeFileSync(join(bin, "docker"), '#!/bin/sh\n[ "$1" = inspect ] && echo true\nexit 0\n');
  writeFileSync(
    join(bin, "curl"),
    [
      "#!/bin/sh",
      "hdr='' prev='' url=''",
      'for a in "$@"; do',
      '  if [ "$prev" = -H ] && [ "$a" = @- ]; then hdr=$(cat); fi',
      '  case "$a" in http*) url=$a ;; esac',
      "  prev=$a",
      "done",
      'case "$url" in',
      '  */v1/*) [ "$hdr" = "Authorization: Bearer $EXPECTED_KEY" ] || { echo \'{"error":"Unauthorized"}\'; exit 22; } ;;',
      "esac",
      'case "$url" in',
      `  */v1/models) echo '{"data":[{"id":"${model}"}]}' ;;`,
      `  */v1/completions) echo '{"choices":[{"text":"hi"}]}' ;;`,
      "esac",
      "exit 0",
    ].join("\n"),
  );
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "curl"), 0o755);
  return bin;
}

function run(script: string, bin: string, env: Record<string, string>) {
  return spawnSync("timeout", ["20", "sh", "-c", script], {
    encoding: "utf8",
    env: { PATH: `${bin}:${process.env.PATH}`, EXPECTED_KEY: KEY, ...env },
  });
}

describe("rocm-vllm:apiKey", () => {
  it("is read as VLLM_API_KEY by every vLLM release of the environment table", () => {
    for (const v of ENV_TABLE_RELEASES) expect(envTableFor(v)?.names.has("VLLM_API_KEY"), v).toBe(true);
  });

  it("puts the key's name, never a value or --api-key, in every serving container, gate and smoke test", () => {
    const plan = planWith(true);
    const d = plan.deployments[0];
    expect(d.readiness.length).toBeGreaterThan(0);
    for (const c of [...d.readiness, ...d.smokeTests]) expect(c.secretEnv).toEqual(["VLLM_API_KEY"]);
    for (const c of plan.nodes.flatMap((n) => n.containers)) {
      expect(c.secretEnv).toContain("VLLM_API_KEY");
      expect(c.env.VLLM_API_KEY).toBeUndefined();
      expect(c.command.join(" ")).not.toContain("--api-key");
    }
    const without = planWith(false);
    for (const c of [...without.deployments[0].readiness, ...without.deployments[0].smokeTests]) {
      expect(c.secretEnv).toEqual([]);
      expect(c.script).not.toContain("Authorization");
    }
  });

  it("the readiness gate and the smoke test send the key from their environment and pass", () => {
    const d = planWith(true).deployments[0];
    const bin = stubs(d.servedModelName);
    const gate = run(d.readiness[0].script, bin, { VLLM_API_KEY: KEY });
    expect(gate.status, gate.stderr + gate.stdout).toBe(0);
    expect(gate.stdout).toContain("ready");
    const smoke = run(d.smokeTests[0].script, bin, { VLLM_API_KEY: KEY });
    expect(smoke.status, smoke.stderr + smoke.stdout).toBe(0);
    expect(smoke.stdout).toContain("passed");
    // The key is never an argument: the scripts name the variable only.
    for (const s of [d.readiness[0].script, d.smokeTests[0].script]) expect(s).not.toContain(KEY);
  });

  it("a gate or smoke test started without the key stops with one line naming VLLM_API_KEY", () => {
    const d = planWith(true).deployments[0];
    const bin = stubs(d.servedModelName);
    for (const script of [d.readiness[0].script, d.smokeTests[0].script]) {
      const r = run(script, bin, {});
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("needs VLLM_API_KEY in its environment");
    }
  });

  it("the benchmark gives vllm bench serve the key as OPENAI_API_KEY inside its shell, and the supervisor sends it", () => {
    const plan = planWith(true);
    const bench = plan.nodes.flatMap((n) => n.jobs).find((j) => j.container.role === "benchmark");
    expect(bench?.container.secretEnv).toContain("VLLM_API_KEY");
    expect(bench?.container.command.join(" ")).toContain('export OPENAI_API_KEY="$VLLM_API_KEY"');
    const serving = plan.nodes.flatMap((n) => n.containers)[0];
    expect(serving.command.join(" ")).toContain('"Bearer " + os.environ["VLLM_API_KEY"]');
    const without = planWith(false)
      .nodes.flatMap((n) => n.jobs)
      .find((j) => j.container.role === "benchmark");
    expect(without?.container.command.join(" ")).not.toContain("OPENAI_API_KEY");
  });
});

describe("rocm-vllm plan/export --api-key", () => {
  it("plans as if rocm-vllm:apiKey were set: the key is required by name, never given", () => {
    const file = "stacks/Pulumi.llama70b-mi300x.yaml";
    const text = readFileSync(join(__dirname, "..", "..", file), "utf8");
    const withKey = planStackText(text, file, { apiKey: true });
    const without = planStackText(text, file);
    if (!withKey.ok || !without.ok) throw new Error("example stack does not plan");
    expect(withKey.plan.deployments[0].readiness[0].secretEnv).toEqual(["VLLM_API_KEY"]);
    expect(without.plan.deployments[0].readiness[0].secretEnv).toEqual([]);
  });
});
