/**
 * Inputs that used to plan and then fail at deploy time (issue 15 § 4): IPv6 data-plane addresses, values read as
 * flags, unbounded free text, ports Ray opens by default, system directories as the model cache, and numbers YAML
 * has but no setting takes. Each is refused in one line that says why, or, where it can run, plans correctly.
 */
import { describe, expect, it } from "vitest";
import { parseStackYaml } from "../../planner/config/load";
import { isSystemPath, MAX_LENGTH } from "../../planner/config/schema";
import { formatProblem } from "../../planner/problems";
import { RAY_DEFAULT_PORTS } from "../../planner/rules/rayPorts";
import type { Plan } from "../../planner/types";
import { toStackYaml } from "../support/arbitraries";
import {
  planOk,
  planRaw,
  type RawCluster,
  type RawDeployment,
  rawCluster,
  rawDeployment,
} from "../support/stackConfigs";

const lines = (cluster: RawCluster, deployments: RawDeployment[]) =>
  planRaw(cluster, deployments).problems.map(formatProblem);

/** vLLM 0.10.2: its image ships Ray, and TP × PP across nodes runs on a Ray cluster. */
const RAY_IMAGE = "rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006";
const TWO_NODES = {
  image: RAY_IMAGE,
  nodes: [
    { name: "node-a", host: "10.0.0.11" },
    { name: "node-b", host: "10.0.0.12" },
  ],
};
const RAY_405B: RawDeployment = {
  name: "llama405b",
  model: "meta-llama/Llama-3.1-405B-Instruct",
  parallelism: { tensor: 8, pipeline: 2 },
  maxModelLen: 8192,
};

/** Every string a plan writes anywhere: argv, env, scripts, endpoints, nginx configs. */
const planText = (plan: Plan) => JSON.stringify(plan);

describe("IPv6", () => {
  it("an IPv6 data-plane address is refused in one line that says so", () => {
    const out = lines(rawCluster({ nodes: [{ name: "node-a", host: "10.0.0.11", ip: "fd00::11" }] }), [
      rawDeployment(),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(
      /^rocm-vllm:cluster\.nodes\[0\]\.ip: is an IPv6 address; .*IPv4 only .*ray-project\/ray#54660/,
    );
  });

  it("an IPv6 SSH host without an IPv4 ip is refused: it would become the data-plane address", () => {
    const out = lines(rawCluster({ nodes: [{ name: "node-a", host: "fd00::11" }] }), [rawDeployment()]);
    expect(out).toEqual([
      expect.stringMatching(/^rocm-vllm:cluster\.nodes\[0\]\.ip: host fd00::11 is an IPv6 address/),
    ]);
  });

  it.each([":::", "fd00:::11", "1.2.3.4:22", "[fd00::11]"])("%s is not an address", (host) => {
    const out = lines(rawCluster({ nodes: [{ name: "node-a", host }] }), [rawDeployment()]);
    expect(out).toEqual([expect.stringMatching(/^rocm-vllm:cluster\.nodes\[0\]\.host: must be an IPv4 address/)]);
  });

  it("an IPv6 SSH host with an IPv4 ip plans, and no address is ever written unbracketed with a port", () => {
    const plan = planOk(
      rawCluster({
        image: RAY_IMAGE,
        nodes: [
          { name: "node-a", host: "fd00::11", ip: "10.0.0.11" },
          { name: "node-b", host: "fd00::12", ip: "10.0.0.12" },
        ],
      }),
      [{ ...RAY_405B, loadBalancer: { port: 8080 } }],
    );
    expect(plan.nodes.map((n) => [n.host, n.ip])).toEqual([
      ["fd00::11", "10.0.0.11"],
      ["fd00::12", "10.0.0.12"],
    ]);
    expect(plan.deployments[0].endpoints).toEqual(["http://10.0.0.11:8080"]);
    expect(plan.deployments[0].rayClusters[0].headAddress).toBe("10.0.0.11");
    // The IPv6 hosts appear only as the SSH hosts of nodes, instances and readiness gates (reached over SSH), never
    // in a URL, a Ray address, an nginx upstream or VLLM_HOST_IP.
    const text = planText(plan);
    expect(text.match(/"host":"fd00::1[12]"/g)?.length).toBeGreaterThan(2);
    expect(text.replace(/"host":"fd00::1[12]"/g, "")).not.toMatch(/fd00:/);
  });
});

describe("values that would be read as flags", () => {
  it.each<[string, RawCluster, RawDeployment]>([
    ["servedModelName", {}, { servedModelName: "--trust-remote-code" }],
    ["weights.revision", {}, { weights: { revision: "--help" } }],
    ["network.interface", { network: { interface: "-v" } }, {}],
  ])("%s starting with '-' is refused", (key, cluster, deployment) => {
    const out = lines(rawCluster(cluster), [rawDeployment(deployment)]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(new RegExp(`\\.${key.replace(".", "\\.")}: must not start with '-'`));
  });

  it("the same values without the dash plan and reach vllm serve as values", () => {
    const plan = planOk(rawCluster(), [rawDeployment({ servedModelName: "chat", weights: { revision: "main" } })]);
    const argv = plan.deployments[0].instances[0].argv;
    expect(argv[argv.indexOf("--served-model-name") + 1]).toBe("chat");
    expect(argv[argv.indexOf("--revision") + 1]).toBe("main");
  });
});

describe("free-text lengths", () => {
  it("a 200 KB servedModelName is one bounded line, not an 'Argument list too long' at deploy", () => {
    const loaded = parseStackYaml(
      toStackYaml({
        cluster: rawCluster(),
        deployments: [rawDeployment({ servedModelName: "m".repeat(200_000) })],
        hasHfToken: false,
      }),
    );
    expect(loaded.ok).toBe(false);
    const out = loaded.ok ? [] : loaded.problems.map(formatProblem);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^rocm-vllm:deployments\[0\]\.servedModelName: must have at most 256 character\(s\)/);
    expect(out[0]).toContain("[200000 characters]");
    expect(out[0].length).toBeLessThan(300);
  });

  it.each<[string, RawDeployment]>([
    ["one extraArgs item", { extraArgs: [`--chat-template=${"x".repeat(MAX_LENGTH.extraArgItem)}`] }],
    ["extraArgs in all", { extraArgs: Array.from({ length: 5 }, () => `--seed=${"1".repeat(16_000)}`) }],
    [
      "too many extraArgs",
      { extraArgs: Array.from({ length: MAX_LENGTH.extraArgsItems + 1 }, () => "--enforce-eager") },
    ],
    ["one extraEnv value", { extraEnv: { MY_VAR: "x".repeat(MAX_LENGTH.extraEnvValue + 1) } }],
    ["extraEnv in all", { extraEnv: Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`V${i}`, "x".repeat(16_000)])) }],
    ["model", { model: `org/${"m".repeat(MAX_LENGTH.model)}` }],
  ])("%s beyond its bound is refused in one line", (_what, deployment) => {
    const out = lines(rawCluster(), [rawDeployment(deployment)]);
    expect(out).toHaveLength(1);
    expect(out[0].length).toBeLessThan(400);
  });

  it("at the bounds, every container argument stays under Linux's MAX_ARG_STRLEN (131072 bytes)", () => {
    const item = (flag: string) => `${flag}=${"x".repeat(MAX_LENGTH.extraArgItem - flag.length - 1)}`;
    const plan = planOk(rawCluster(TWO_NODES), [
      {
        ...RAY_405B,
        servedModelName: "s".repeat(MAX_LENGTH.servedModelName),
        extraArgs: ["--chat-template", "--hf-overrides", "--override-generation-config", "--additional-config"].map(
          item,
        ),
        extraEnv: Object.fromEntries(
          [1, 2, 3, 4].map((i) => [`MY_VAR_${i}`, "x".repeat(MAX_LENGTH.extraEnvValue - 10)]),
        ),
      },
    ]);
    const args = plan.nodes.flatMap((n) => n.containers.flatMap((c) => c.command));
    const longest = Math.max(...args.map((a) => Buffer.byteLength(a)));
    expect(longest).toBeGreaterThan(MAX_LENGTH.extraArgsTotal - 100);
    expect(longest).toBeLessThan(131_072);
  });
});

describe("Ray's default ports on Ray nodes", () => {
  it("the table holds the ports Ray documents as opened by default", () => {
    expect(RAY_DEFAULT_PORTS.map((p) => [p.from, p.to, p.on])).toEqual([
      [6379, 6379, "head"],
      [8265, 8265, "head"],
      [10001, 10001, "head"],
      [10002, 19999, "every"],
      [52365, 52365, "every"],
    ]);
  });

  it.each([8265, 10001, 10002, 15000, 19999, 52365])("a serving port %i on the Ray head is refused", (port) => {
    const out = lines(rawCluster(TWO_NODES), [{ ...RAY_405B, port }]);
    expect(out).toEqual([
      expect.stringMatching(new RegExp(`^rocm-vllm:deployments\\[0\\]\\.port: port ${port} on node node-a is Ray's`)),
    ]);
  });

  it.each([
    [6379, "node-a"],
    [8265, "node-a"],
    [10001, "node-a"],
    [12345, "node-b"],
    [52365, "node-b"],
  ])("a load balancer at %i on %s (a Ray node) is refused once", (port, node) => {
    const out = lines(rawCluster(TWO_NODES), [{ ...RAY_405B, loadBalancer: { port, nodes: [node] } }]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^rocm-vllm:deployments\[0\]\.loadBalancer\.port: port \d+ on node node-[ab] is /);
  });

  it("head-only ports are free on a worker node, and every port is free on nodes without Ray", () => {
    planOk(rawCluster(TWO_NODES), [{ ...RAY_405B, loadBalancer: { port: 8265, nodes: ["node-b"] } }]);
    planOk(rawCluster(), [rawDeployment({ port: 15000, loadBalancer: { port: 8265 } })]);
  });

  it("the default ports 8000 and 8080 plan next to Ray", () => {
    planOk(rawCluster(TWO_NODES), [{ ...RAY_405B, loadBalancer: { port: 8080 } }]);
  });
});

describe("system directories as the model cache", () => {
  it.each([
    "/",
    "/etc",
    "/etc/huggingface",
    "/usr",
    "/usr/share/hf",
    "/var",
    "/home",
    "/root",
    "/tmp",
    "/proc/1",
    "/sys",
    "/dev/shm",
    "/boot",
    "/var/lib/docker/volumes",
    "/run",
    "//etc/",
    "/./etc",
    "/data/../etc",
  ])("%s is refused", (modelCache) => {
    const out = lines(rawCluster({ modelCache }), [rawDeployment()]);
    expect(out).toEqual([expect.stringMatching(/^rocm-vllm:cluster\.modelCache: /)]);
  });

  it("system paths are recognised after normalisation", () => {
    expect(["/", "//", "/etc/", "/./usr/lib", "/var/lib/docker"].every(isSystemPath)).toBe(true);
  });

  it.each([
    "/data/huggingface",
    "/mnt/models/hf-cache",
    "/var/cache/huggingface",
    "/home/ml/hf",
    "/opt/hf",
    "/srv/models",
    "/scratch/hf",
  ])("%s plans", (modelCache) => {
    planOk(rawCluster({ modelCache }), [rawDeployment()]);
  });
});

describe("numbers YAML has but no setting takes", () => {
  const yamlWith = (gpus: string) =>
    `config:\n  rocm-vllm:cluster:\n    gpu: mi300x\n    image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024\n    nodes: [{ name: node-a, host: 10.0.0.11, gpus: ${gpus} }]\n  rocm-vllm:deployments:\n    - { name: llama70b, model: meta-llama/Llama-3.3-70B-Instruct, parallelism: { tensor: 8 } }\n`;
  const problemLines = (gpus: string) => {
    const r = parseStackYaml(yamlWith(gpus));
    return r.ok ? [] : r.problems.map(formatProblem);
  };

  it.each([
    [".nan", ".nan"],
    [".NaN", ".nan"],
    [".inf", ".inf"],
    ["-.inf", "-.inf"],
  ])("gpus: %s is reported as %s, one line, asking for a finite number", (written, shown) => {
    expect(problemLines(written)).toEqual([
      `rocm-vllm:cluster.nodes[0].gpus: must be a finite number (got ${shown}). Fix: write a number (not .nan or .inf) here`,
    ]);
  });

  it("gpus: 1e308 is one line with the schema's bound, not two", () => {
    expect(problemLines("1e308")).toEqual([
      "rocm-vllm:cluster.nodes[0].gpus: must be at most 64 (got 1e+308). Fix: use a value at most 64",
    ]);
  });
});
