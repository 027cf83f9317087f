/**
 * Every example stack against every release the table knows (and against releases it does not): the plan either
 * refuses with a reason the release's source supports, or emits only flags, choices and VLLM_* variables that exist
 * in the release it was checked against.
 */
import { describe, expect, it } from "vitest";
import { NEWEST_VLLM_VERSION, VLLM_VERSIONS } from "../../planner/catalog/vllmVersions";
import type { StackConfig } from "../../planner/config/schema";
import { buildPlan } from "../../planner/plan";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { Plan } from "../../planner/types";
import {
  flagAttribute,
  NEWER_ORACLE_FILE,
  OLD_ORACLE_FILE,
  type Oracle,
  readOracle,
  sourceOracles,
  tag,
} from "../../scripts/vllmOracles";
import { exampleConfig, exampleStacks } from "../support/stackConfigs";

const owner = new Map(
  sourceOracles(readOracle(OLD_ORACLE_FILE), readOracle(NEWER_ORACLE_FILE)).map((r) => [r.version, r.oracle]),
);
const oracleOf = (v: string) => owner.get(v) as Oracle;

/** Checks an argv against the release: every flag exists (or is the `--no-` form of one), enforced choices hold. */
function checkArgv(argv: readonly string[], version: string): string[] {
  const oracle = oracleOf(version);
  const t = tag(version);
  const errors: string[] = [];
  for (let i = 3; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) continue;
    const name = arg.split("=")[0];
    const positive = name.startsWith("--no-") ? `--${name.slice(5)}` : name;
    const exists = oracle.allServeFlagsPresence[name]?.includes(t);
    const negates = name !== positive && oracle.allServeFlagsPresence[positive]?.includes(t);
    if (!exists && !(negates && oracle.flags[positive]?.negatable))
      errors.push(`${name} is not a flag of vllm serve ${version}`);
    const flag = oracle.flags[name];
    const choices = flagAttribute(flag, version, "choices");
    if (
      flagAttribute(flag, version, "choicesEnforcedByArgparse") &&
      choices &&
      !choices.map(String).includes(argv[i + 1])
    )
      errors.push(`${name} ${argv[i + 1]} is not one of ${choices.join(",")}`);
    if (name === "--compilation-config" || name === "--speculative-config") JSON.parse(argv[i + 1]);
  }
  return errors;
}

/** Every `vllm serve` argv and environment of a plan checked against `version`. */
function checkPlan(plan: Plan, version: string): string[] {
  const oracle = oracleOf(version);
  const errors: string[] = [];
  for (const d of plan.deployments) {
    if (!d.attention.expectedLogLine) errors.push(`${d.name}: no expected attention log line`);
    const commands = [
      ...d.instances.map((i) => ({ argv: i.argv, env: i.env })),
      ...plan.nodes.flatMap((n) =>
        n.containers
          .filter((c) => c.deployment === d.name && ["serve", "dp-engine", "headless-rank"].includes(c.role))
          .map((c) => ({ argv: memberCommand(c.command), env: c.env })),
      ),
    ];
    for (const { argv, env } of commands) {
      if (argv.slice(0, 2).join(" ") !== "vllm serve" || argv[2] !== d.model) errors.push(`not vllm serve ${d.model}`);
      errors.push(...checkArgv(argv, version));
      for (const name of Object.keys(env).filter((n) => n.startsWith("VLLM_") && n !== "VLLM_HOST_IP")) {
        if (!oracle.envVars[name]?.presentIn?.includes(tag(version))) errors.push(`${name} is not read by ${version}`);
      }
      const qr = env.VLLM_ROCM_QUICK_REDUCE_QUANTIZATION;
      if (qr && !["FP", "INT8", "INT6", "INT4", "NONE"].includes(qr)) errors.push(`quick reduce ${qr}`);
    }
  }
  return [...new Set(errors)];
}

/** The example's config with the image of another release (the official image tag of that release). */
function onRelease(config: StackConfig, version: string): StackConfig {
  return {
    ...config,
    cluster: { ...config.cluster, image: `vllm/vllm-openai-rocm:v${version}`, vllmVersion: undefined },
  };
}

/**
 * Why a refusal is one the release's source supports, or `undefined`: the example asks for a flag the release lacks
 * (and the oracle agrees it lacks it, and has it from the release the refusal names).
 */
function unexplained(message: string, version: string): string | undefined {
  const m = /^vllm serve (\S+) has no (--[\w-]+) \(.*vLLM (\d+\.\d+\.\d+)\)\)$/.exec(message);
  const presence = m ? oracleOf(m[3]).allServeFlagsPresence[m[2]] : undefined;
  if (
    m &&
    m[1] === version &&
    !oracleOf(version).allServeFlagsPresence[m[2]]?.includes(tag(version)) &&
    presence?.includes(tag(m[3]))
  )
    return undefined;
  return message;
}

describe("every example stack as written", () => {
  for (const stack of exampleStacks()) {
    it(`${stack.name} emits only what its image's release accepts`, () => {
      const { plan, problems } = buildPlan(exampleConfig(stack.text));
      expect(problems).toEqual([]);
      expect(plan.cluster.vllmCheckedAgainst).toBeUndefined();
      expect(checkPlan(plan, plan.cluster.vllmVersion)).toEqual([]);
    });
  }
});

describe("every example stack on every known release", () => {
  for (const stack of exampleStacks()) {
    describe(stack.name, () => {
      for (const { version } of VLLM_VERSIONS) {
        it(`vLLM ${version}`, () => {
          const { plan, problems } = buildPlan(onRelease(exampleConfig(stack.text), version));
          if (problems.length > 0) {
            expect(problems.map((p) => unexplained(p.message, version)).filter(Boolean)).toEqual([]);
            return;
          }
          expect(plan.cluster.vllmVersion).toBe(version);
          expect(plan.cluster.vllmCheckedAgainst).toBeUndefined();
          expect(checkPlan(plan, version)).toEqual([]);
        });
      }
    });
  }
});

describe("releases the table does not know", () => {
  for (const stack of exampleStacks()) {
    it(`${stack.name}: a newer release plans with the newest known release's data and a warning naming it`, () => {
      const { plan, problems } = buildPlan(onRelease(exampleConfig(stack.text), "0.27.1"));
      expect(problems).toEqual([]);
      expect(plan.cluster).toMatchObject({ vllmVersion: "0.27.1", vllmCheckedAgainst: NEWEST_VLLM_VERSION });
      const warning = plan.warnings.find((w) => w.code === "vllm-newer-than-table");
      expect(warning?.message).toContain(`vLLM ${NEWEST_VLLM_VERSION}`);
      expect(warning?.path).toBe("rocm-vllm:cluster.image");
      expect(checkPlan(plan, NEWEST_VLLM_VERSION)).toEqual([]);
    });
  }
  it("a release between known ones plans with the nearest older one and says so", () => {
    const [stack] = exampleStacks().filter((s) => s.name === "llama70b-mi300x");
    const { plan, problems } = buildPlan(onRelease(exampleConfig(stack.text), "0.24.0"));
    expect(problems).toEqual([]);
    expect(plan.cluster).toMatchObject({ vllmVersion: "0.24.0", vllmCheckedAgainst: "0.23.0" });
    expect(plan.warnings.map((w) => w.code)).toContain("vllm-not-in-table");
    expect(checkPlan(plan, "0.23.0")).toEqual([]);
  });
});
