/**
 * Property tests: for every generated valid config the plan satisfies the invariants the rest of the tool relies
 * on, and every generated invalid config is refused cleanly (no exception, at least one problem, paths in the
 * user's terms, a fix on each).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import generatedFlags from "../../planner/catalog/vllm-serve-flags.generated.json";
import { parseStackConfig, parseStackYaml } from "../../planner/config/load";
import { buildPlan } from "../../planner/plan";
import { formatProblem } from "../../planner/problems";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { Plan, Problem } from "../../planner/types";
import { invalidStackArb, type RawStack, toStackYaml, validStackArb } from "../support/arbitraries";

const RUNS = 60;

function load(stack: RawStack) {
  return parseStackConfig({
    stack: "prop",
    cluster: stack.cluster,
    deployments: stack.deployments,
    hasHfToken: stack.hasHfToken,
  });
}

function planValid(stack: RawStack): Plan {
  const loaded = load(stack);
  if (!loaded.ok)
    throw new Error(`generated config refused by the loader:\n${loaded.problems.map(formatProblem).join("\n")}`);
  const { plan, problems } = buildPlan(loaded.config);
  if (problems.length > 0)
    throw new Error(`generated config refused by the planner:\n${problems.map(formatProblem).join("\n")}`);
  return plan;
}

const serveFlags = generatedFlags.serveFlags as Record<string, string[]>;

/** `--flag`, `--flag=value` and `--no-flag` forms reduced to the flag name vLLM defines. */
function flagName(token: string, known: ReadonlySet<string>): string {
  const flag = token.split("=")[0];
  if (!known.has(flag) && flag.startsWith("--no-") && known.has(`--${flag.slice(5)}`)) return `--${flag.slice(5)}`;
  return flag;
}

/** Every `vllm serve` argv of the plan: instances, and the command of every container that runs vLLM directly. */
function serveArgvs(plan: Plan): string[][] {
  const fromInstances = plan.deployments.flatMap((d) => d.instances.map((i) => i.argv));
  const fromContainers = plan.nodes.flatMap((n) =>
    n.containers.map((c) => memberCommand(c.command)).filter((command) => command[0] === "vllm"),
  );
  return [...fromInstances, ...fromContainers];
}

function nonFiniteNumbers(value: unknown, path = "plan"): string[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFiniteNumbers(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => nonFiniteNumbers(v, `${path}.${k}`));
  }
  return [];
}

const without = (env: Record<string, string>, keys: string[]) =>
  Object.fromEntries(Object.entries(env).filter(([k]) => !keys.includes(k)));

describe("invariants of every plan built from a valid config", () => {
  it("plans every generated valid config without problems", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        expect(planValid(stack).deployments.length).toBe(stack.deployments.length);
      }),
      { numRuns: RUNS },
    );
  });

  it("maps /dev/kfd and /dev/dri into every GPU container and never sets HIP/ROCR_VISIBLE_DEVICES", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        const containers = plan.nodes.flatMap((n) => n.containers);
        expect(containers.length).toBeGreaterThan(0);
        for (const c of containers) {
          expect(c.devices).toEqual(expect.arrayContaining(["/dev/kfd", "/dev/dri"]));
          expect(c.groupAdd).toContain("video");
          expect(Object.keys(c.env)).not.toContain("HIP_VISIBLE_DEVICES");
          expect(Object.keys(c.env)).not.toContain("ROCR_VISIBLE_DEVICES");
        }
        for (const i of plan.deployments.flatMap((d) => d.instances)) {
          expect(Object.keys(i.env)).not.toContain("HIP_VISIBLE_DEVICES");
          expect(Object.keys(i.env)).not.toContain("ROCR_VISIBLE_DEVICES");
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("never over-commits a node's GPUs: placements are within the node's count, shared GPUs hold at most 100%", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        const gpusOf = new Map(plan.nodes.map((n) => [n.name, n.gpus]));
        const used = new Map<string, number>();
        for (const d of plan.deployments) {
          for (const inst of d.instances) {
            for (const p of inst.placement) {
              const count = gpusOf.get(p.node);
              expect(count, `placement on unknown node ${p.node}`).toBeDefined();
              for (const g of p.gpus) {
                expect(Number.isInteger(g) && g >= 0 && g < (count ?? 0), `GPU ${g} of ${p.node}`).toBe(true);
                const key = `${p.node}/${g}`;
                used.set(key, (used.get(key) ?? 0) + d.memory.gpuMemoryUtilization);
                expect(used.get(key), `GPU ${g} of ${p.node} over-committed`).toBeLessThanOrEqual(1);
              }
            }
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("gives every port on a node to one container only, and container names are unique per node", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        for (const n of plan.nodes) {
          const ports = n.containers.flatMap((c) => c.ports);
          expect(new Set(ports).size, `ports on ${n.name}: ${ports.join(",")}`).toBe(ports.length);
          for (const p of ports) expect(p >= 1 && p <= 65535, `port ${p}`).toBe(true);
          const names = n.containers.map((c) => c.name);
          expect(new Set(names).size).toBe(names.length);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("places exactly tensor × pipeline × data × replicas GPUs per deployment", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        for (const raw of stack.deployments) {
          const p = (raw.parallelism ?? {}) as { tensor?: number; pipeline?: number; data?: number };
          const want =
            (p.tensor ?? 1) * (p.pipeline ?? 1) * (p.data ?? 1) * ((raw.replicas as number | undefined) ?? 1);
          const d = plan.deployments.find((x) => x.name === raw.name);
          const placed = (d?.instances ?? []).flatMap((i) => i.placement).reduce((sum, p) => sum + p.gpus.length, 0);
          expect(placed, `deployment ${String(raw.name)}`).toBe(want);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("gives every container of a deployment the deployment env, except VLLM_HOST_IP, CUDA_VISIBLE_DEVICES and its group's generation", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        const nodeIp = new Map(plan.nodes.map((n) => [n.name, n.ip]));
        for (const d of plan.deployments) {
          const mine = plan.nodes.flatMap((n) =>
            n.containers.filter((c) => c.deployment === d.name).map((c) => ({ n, c })),
          );
          expect(mine.length).toBeGreaterThan(0);
          const perContainer = ["VLLM_HOST_IP", "CUDA_VISIBLE_DEVICES", "ROCM_VLLM_GENERATION"];
          for (const { n, c } of mine) {
            expect(without(c.env, perContainer)).toEqual(d.env);
            expect(c.env.VLLM_HOST_IP).toBe(nodeIp.get(n.name));
            expect(c.env.ROCM_VLLM_GENERATION).toBe(c.labels["rocm-vllm.generation"]);
          }
          for (const i of d.instances) expect(without(i.env, perContainer)).toEqual(d.env);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("uses only flags the image's vLLM release has, and JSON flag values parse", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        const known = new Set(serveFlags[plan.cluster.vllmVersion] ?? []);
        expect(known.size).toBeGreaterThan(0);
        for (const argv of serveArgvs(plan)) {
          expect(argv.slice(0, 2)).toEqual(["vllm", "serve"]);
          argv.slice(3).forEach((token, k, rest) => {
            if (token.startsWith("--"))
              expect(known, `vLLM ${plan.cluster.vllmVersion}`).toContain(flagName(token, known));
            else if (/^[[{]/.test(token)) expect(() => JSON.parse(token), `${rest[k - 1]} ${token}`).not.toThrow();
          });
          for (const flag of ["--compilation-config", "--speculative-config"]) {
            const at = argv.indexOf(flag);
            if (at >= 0) expect(JSON.parse(argv[at + 1])).toBeTypeOf("object");
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("has readiness checks and endpoints that point at the serving container of each instance", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        const byName = new Map(plan.nodes.map((n) => [n.name, n]));
        for (const d of plan.deployments) {
          expect(d.readiness).toHaveLength(d.instances.length);
          for (const [k, check] of d.readiness.entries()) {
            const node = byName.get(check.node);
            const served = node?.containers.find((c) => c.name === check.container);
            expect(served?.ports).toContain(check.port);
            expect(d.instances[k].endpoint).toBe(`http://${node?.ip}:${check.port}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("runs an engine spanning nodes as one group: Ray where the release runs it across nodes, else native ranks meeting at node 0", () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        const byName = new Map(plan.nodes.map((n) => [n.name, n]));
        for (const d of plan.deployments.filter((x) => x.kind === "ray" || x.kind === "native-multi-node")) {
          kinds.add(d.kind);
          // 0.10.2 and 0.11.0 images run Ray across nodes; 0.11.1 cannot (vllm#28997) and runs natively.
          expect(d.kind).toBe(plan.cluster.vllmVersion === "0.11.1" ? "native-multi-node" : "ray");
          for (const instance of d.instances) {
            const group = instance.placement.map((p) =>
              byName.get(p.node)?.containers.find((c) => c.deployment === d.name && c.replica === instance.replica),
            );
            expect(new Set(group.map((c) => c?.labels["rocm-vllm.generation"])).size).toBe(1);
            if (d.kind !== "native-multi-node") continue;
            const master = byName.get(instance.placement[0].node)?.ip;
            group.forEach((c, rank) => {
              const argv = memberCommand(c?.command ?? []);
              const at = (f: string) => argv[argv.indexOf(f) + 1];
              expect([at("--nnodes"), at("--node-rank"), at("--master-addr")]).toEqual([
                String(instance.placement.length),
                String(rank),
                master,
              ]);
              expect(argv.includes("--port")).toBe(rank === 0);
              expect(argv.includes("--headless")).toBe(rank > 0);
            });
          }
        }
      }),
      { numRuns: RUNS },
    );
    expect([...kinds].sort()).toEqual(["native-multi-node", "ray"]);
  });

  it("holds only finite numbers, so the JSON plan round-trips exactly", () => {
    fc.assert(
      fc.property(validStackArb, (stack) => {
        const plan = planValid(stack);
        expect(nonFiniteNumbers(plan)).toEqual([]);
        expect(JSON.parse(JSON.stringify(plan))).toEqual(JSON.parse(JSON.stringify(plan)));
      }),
      { numRuns: RUNS },
    );
  });
});

function expectClean(problems: Problem[], prefixes: string[]): void {
  expect(problems.length).toBeGreaterThan(0);
  for (const p of problems) {
    expect(
      prefixes.some((x) => p.path.startsWith(x)),
      `path ${p.path}`,
    ).toBe(true);
    expect(p.fix.trim()).not.toBe("");
    expect(p.message.trim()).not.toBe("");
    expect(formatProblem(p)).not.toContain("\n");
  }
}

describe("every generated invalid config is refused cleanly", () => {
  it("loader + planner never throw, return ≥ 1 problem under rocm-vllm: with a fix, naming the broken key", () => {
    fc.assert(
      fc.property(invalidStackArb, ({ stack, expectPath }) => {
        let problems: Problem[] = [];
        expect(() => {
          const loaded = load(stack);
          problems = loaded.ok ? buildPlan(loaded.config).problems : loaded.problems;
        }).not.toThrow();
        expectClean(problems, ["rocm-vllm:"]);
        expect(problems.map((p) => p.path)).toContainEqual(
          expect.stringMatching(`^${expectPath.replace(/[.[\]]/g, "\\$&")}`),
        );
      }),
      { numRuns: 120 },
    );
  });

  it("the YAML loader refuses the same mutations written as stack files", () => {
    fc.assert(
      fc.property(invalidStackArb, ({ stack }) => {
        const loaded = parseStackYaml(toStackYaml(stack), "Pulumi.prop.yaml");
        const problems = loaded.ok ? buildPlan(loaded.config).problems : loaded.problems;
        expectClean(problems, ["rocm-vllm:"]);
      }),
      { numRuns: 40 },
    );
  });

  it("truncated or corrupted stack files never throw: problems name the file or a rocm-vllm: key", () => {
    const corrupt = fc
      .tuple(validStackArb, fc.nat(), fc.constantFrom("", "\t", ": :", "- [", "{", "'", "&a *a", "\0", "]\n  -"))
      .map(([stack, at, junk]) => {
        const text = toStackYaml(stack);
        const cut = at % (text.length + 1);
        return `${text.slice(0, cut)}${junk}`;
      });
    fc.assert(
      fc.property(corrupt, (text) => {
        let problems: Problem[] = [];
        expect(() => {
          const loaded = parseStackYaml(text, "Pulumi.prop.yaml");
          problems = loaded.ok ? buildPlan(loaded.config).problems : loaded.problems;
        }).not.toThrow();
        // Cutting a valid file can leave a valid file (e.g. at the end); then there is nothing to refuse.
        if (problems.length > 0) expectClean(problems, ["rocm-vllm:", "Pulumi.prop.yaml"]);
      }),
      { numRuns: 80 },
    );
  });
});
