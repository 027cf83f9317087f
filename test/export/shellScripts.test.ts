/**
 * `planner/export/shellScripts.ts`: what the exported scripts do, run with bash against fake `docker`, `ssh` and
 * node hook (test/export/fakes.ts); that they pass shellcheck; and that no value, however hostile, is run as shell.
 * The same scripts against real Docker Engines: test/e2e.
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { planStackText } from "../../cli/stackFile";
import {
  dockerJobArgv,
  dockerRunArgv,
  exportedRunArgv,
  exportScripts,
  GENERATED_MARKER,
  labelOf,
  renderNodeScript,
  SPEC_LABEL,
} from "../../planner/export/shellScripts";
import { preflightStep, readinessStep, smokeTestStep } from "../../planner/scripts/nodeSteps";
import { shellQuote } from "../../planner/scripts/shellQuote";
import { memberCommand } from "../../planner/scripts/supervisor";
import type { ContainerSpec, Plan } from "../../planner/types";
import { planOk, rawCluster, rawDeployment } from "../support/stackConfigs";
import { Fakes, removeTempDirs, shellcheck, tempDir } from "./fakes";

const ROOT = join(__dirname, "..", "..");

afterAll(removeTempDirs);

function stackPlan(file: string): Plan {
  const r = planStackText(readFileSync(join(ROOT, file), "utf8"), file);
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join("\n"));
  return r.plan;
}

function writeExport(plan: Plan): string {
  const r = exportScripts(plan, { source: "Pulumi.test.yaml" });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  const dir = tempDir("rocm-vllm-export-");
  for (const [name, text] of Object.entries(r.files)) writeFileSync(join(dir, name), text, { mode: 0o755 });
  return dir;
}

/** Two nodes on Ray, hfToken set: preflight, weight jobs, readiness and smoke test. */
const rayPlan = () => stackPlan("stacks/Pulumi.llama405b-2node.yaml");
/** One node, two replicas, load balancer and benchmark (a job after readiness). */
const lbPlan = () =>
  planOk(
    rawCluster({
      nodes: [{ name: "pack-0", host: "10.0.3.10", gpus: 8 }],
      ssh: { user: "ops", port: 2222, identityFile: "/keys/id_ed25519" },
    }),
    [
      rawDeployment({
        name: "llama8b",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        parallelism: { tensor: 1 },
        replicas: 2,
        loadBalancer: { port: 8080 },
        benchmark: { prompts: 10 },
      }),
    ],
    true,
  );

/** Strings meant to break out of quoting in every way the shell offers. */
const HOSTILE = [
  "",
  " ",
  "'",
  "''",
  '"',
  "a'b\"c",
  "$(touch CANARY)",
  "`touch CANARY`",
  "${IFS}touch${IFS}CANARY",
  "; touch CANARY",
  "&& touch CANARY",
  "| touch CANARY",
  "> CANARY",
  "\ntouch CANARY\n",
  "\\",
  "\\'",
  "*",
  "~",
  "!!",
  "-rf",
  "--privileged",
  "#comment",
  "a\tb",
  "\u00e9\u6f22\u{1F600}",
  "$'\\x41'",
];

describe("shellQuote", () => {
  /** Prints every word through the shell as one argument each; returns what the shell saw. */
  function roundTrip(shell: "bash" | "sh", words: string[], cwd: string): string[] {
    const script = words.map((w) => `printf '%s\\0' ${shellQuote(w)}`).join("\n");
    const r = spawnSync(shell, ["-c", script], { cwd, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split("\0").slice(0, -1);
  }

  it.each(["bash", "sh"] as const)("hands hostile values to %s as one literal word each", (shell) => {
    const cwd = tempDir("rocm-vllm-quote-");
    expect(roundTrip(shell, HOSTILE, cwd)).toEqual(HOSTILE);
    expect(existsSync(join(cwd, "CANARY"))).toBe(false);
  });

  it("round-trips any string without NUL through bash (property)", () => {
    const cwd = tempDir("rocm-vllm-quote-");
    const word = fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !s.includes("\0"));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 30 }), (words) => {
        expect(roundTrip("bash", words, cwd)).toEqual(words);
      }),
      { numRuns: 40 },
    );
    expect(existsSync(join(cwd, "CANARY"))).toBe(false);
  });
});

describe("dockerRunArgv", () => {
  const spec: ContainerSpec = {
    name: "c",
    role: "serve",
    deployment: "d",
    replica: 0,
    image: "repo/img:tag",
    env: { A: "1", HF_TOKEN: "must-not-appear", B: "x y" },
    secretEnv: ["HF_TOKEN"],
    entrypoint: ["/usr/bin/env", "-u", "X"],
    command: ["bash", "-c", "echo $A"],
    devices: ["/dev/kfd", "/dev/dri"],
    groupAdd: ["video", "render"],
    ipcMode: "private",
    networkMode: "host",
    shmSizeMb: 16384,
    sharedMemory: "16 GiB /dev/shm",
    securityOpt: ["seccomp=unconfined"],
    capAdd: ["SYS_PTRACE"],
    ulimits: [{ name: "memlock", soft: -1, hard: -1 }],
    volumes: [
      { hostPath: "/data/hf", containerPath: "/root/.cache/huggingface", readOnly: false },
      { hostPath: "/etc/x", containerPath: "/x", readOnly: true },
    ],
    restart: "unless-stopped",
    init: true,
    stopGraceSeconds: 150,
    ports: [8000],
    labels: { "rocm-vllm.managed": "true" },
  };

  it("is one flag per ContainerSpec field; secrets by name only; a long entry point continues in the command", () => {
    expect(dockerRunArgv(spec)).toEqual([
      "run",
      "--detach",
      "--name",
      "c",
      "--label",
      "rocm-vllm.managed=true",
      "--restart",
      "unless-stopped",
      "--init",
      "--stop-timeout",
      "150",
      "--network",
      "host",
      "--ipc",
      "private",
      "--shm-size",
      "16384m",
      "--device",
      "/dev/kfd",
      "--device",
      "/dev/dri",
      "--group-add",
      "video",
      "--group-add",
      "render",
      "--cap-add",
      "SYS_PTRACE",
      "--security-opt",
      "seccomp=unconfined",
      "--ulimit",
      "memlock=-1:-1",
      "--volume",
      "/data/hf:/root/.cache/huggingface",
      "--volume",
      "/etc/x:/x:ro",
      "--env",
      "A=1",
      "--env",
      "B=x y",
      "--env",
      "HF_TOKEN",
      "--entrypoint",
      "/usr/bin/env",
      "repo/img:tag",
      "-u",
      "X",
      "bash",
      "-c",
      "echo $A",
    ]);
  });

  it("runs jobs in the foreground and removes them: --rm instead of --detach, nothing else changed", () => {
    const run = dockerRunArgv(spec);
    expect(dockerJobArgv(spec)).toEqual(["run", "--rm", ...run.slice(2)]);
  });
});

describe("exported scripts", () => {
  const examples = [
    "llama70b-mi300x",
    "llama405b-2node",
    "deepseek-r1-mla",
    "gpt-oss-mi355x",
    "llama8b-packed",
    "deepseek-r1-dp8-ep",
  ];
  const e2eStacks = ["e2e-2node", "e2e-2node-short", "e2e-packed", "e2e-preflight"];
  const plans: [string, () => Plan][] = [
    ...examples.map((s): [string, () => Plan] => [s, () => stackPlan(`stacks/Pulumi.${s}.yaml`)]),
    ...e2eStacks.map((s): [string, () => Plan] => [s, () => stackPlan(`test/e2e/stacks/Pulumi.${s}.yaml`)]),
    ["load balancer + benchmark", lbPlan],
  ];

  it.each(plans)("pass shellcheck, every one of them: %s", (_name, plan) => {
    const p = plan();
    const dir = writeExport(p);
    const r = exportScripts(p, { source: "x" });
    const files = r.ok ? Object.keys(r.files) : [];
    expect(files).toContain("deploy.sh");
    expect(files.length).toBe(p.nodes.length + 2);
    for (const f of files) expect(shellcheck(join(dir, f)), f).toBe("");
  });

  it.each(plans)(
    "embed plan scripts that pass shellcheck too (preflight, readiness, smoke tests, launch scripts): %s",
    (_name, plan) => {
      const p = plan();
      const dir = tempDir("rocm-vllm-embedded-");
      const scripts: [string, string, "sh" | "bash"][] = [];
      for (const n of p.nodes) {
        if (n.preflight) scripts.push([`preflight-${n.name}`, n.preflight.script, "sh"]);
        for (const c of [...n.containers, ...n.services, ...n.jobs.map((j) => j.container)]) {
          const [shell, flag, text] = memberCommand(c.command);
          if ((shell === "bash" || shell === "sh") && flag === "-c" && text !== undefined)
            scripts.push([c.name, text, shell]);
        }
      }
      for (const d of p.deployments) {
        for (const [i, r] of d.readiness.entries()) scripts.push([`ready-${d.name}-${i}`, r.script, "sh"]);
        for (const [i, t] of d.smokeTests.entries()) scripts.push([`smoke-${d.name}-${i}`, t.script, "sh"]);
      }
      expect(scripts.length).toBeGreaterThan(0);
      for (const [name, text, shell] of scripts) {
        const file = join(dir, name);
        writeFileSync(file, text);
        expect(shellcheck(file, shell), name).toBe("");
      }
    },
  );

  it("start with the marker export uses to recognise its own files, and are deterministic", () => {
    const a = exportScripts(rayPlan(), { source: "s.yaml" });
    const b = exportScripts(rayPlan(), { source: "s.yaml" });
    expect(a).toEqual(b);
    if (!a.ok) throw new Error("export failed");
    expect(Object.keys(a.files).sort()).toEqual(["deploy.sh", "node-a.sh", "node-b.sh", "teardown.sh"]);
    for (const text of Object.values(a.files)) expect(text.split("\n")[1]).toBe(GENERATED_MARKER);
  });

  it("refuse node names that would clash with deploy.sh or that are not DNS labels", () => {
    const plan = rayPlan();
    const renamed = (name: string): Plan => ({
      ...plan,
      nodes: plan.nodes.map((n, i) => (i === 0 ? { ...n, name } : n)),
    });
    const clash = exportScripts(renamed("deploy"), { source: "s" });
    expect(clash.ok).toBe(false);
    if (!clash.ok) expect(clash.problems[0]?.message).toBe("clashes with the exported deploy.sh");
    const evil = exportScripts(renamed("a$(reboot)"), { source: "s" });
    expect(evil.ok).toBe(false);
    if (!evil.ok) expect(evil.problems[0]?.message).toBe("is not a DNS label");
  });
});

describe("a node script", () => {
  it("creates exactly the planned containers, however hostile the values, and runs nothing they contain", () => {
    const plan = rayPlan();
    const node = plan.nodes[0];
    const spec = node?.containers[0];
    if (!node || !spec) throw new Error("no container");
    const fakes = new Fakes();
    const canary = join(fakes.dir, "CANARY");
    const hostile = HOSTILE.map((h) => h.replaceAll("CANARY", canary));
    const evil: ContainerSpec = {
      ...spec,
      env: { ...spec.env, ...Object.fromEntries(hostile.map((h, i) => [`EVIL_${i}`, h])) },
      labels: { ...spec.labels, "rocm-vllm.evil": hostile.join("|") },
      command: [...spec.command, ...hostile],
      volumes: [...spec.volumes, { hostPath: "/tmp/a b'c", containerPath: "/x$(id)", readOnly: true }],
    };
    const evilPlan: Plan = { ...plan, nodes: [{ ...node, containers: [evil] }, ...plan.nodes.slice(1)] };
    const script = join(fakes.dir, "node.sh");
    writeFileSync(script, renderNodeScript(evilPlan, evilPlan.nodes[0] as (typeof evilPlan.nodes)[0], { source: "s" }));
    expect(shellcheck(script)).toBe("");

    const token = "hf_'tok\"en $(touch CANARY)".replace("CANARY", canary);
    const r = fakes.run(script, ["up"], { HF_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
    const runs = fakes.calls("docker").filter((c) => c.argv[0] === "run");
    const jobRun = runs.find((c) => c.argv[1] === "--rm");
    const containerRun = runs.find((c) => c.argv[1] === "--detach");
    // The plan's docker run argv, plus the spec hash label the script compares on the next up; the compile cache keyed
    // by the image's ID on the node.
    const hash = labelOf(containerRun?.argv ?? [], SPEC_LABEL) ?? "";
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    const key = createHash("sha256").update(evil.image).digest("hex").slice(0, 12);
    expect(containerRun?.argv).toEqual(dockerRunArgv({ ...evil, labels: { ...evil.labels, [SPEC_LABEL]: hash } }, key));
    // The weight download job needs the token: it reaches docker through the environment, not the argv.
    const job = node.jobs[0];
    if (!job) throw new Error("no job");
    expect(jobRun?.argv).toEqual(dockerJobArgv(job.container));
    expect(jobRun?.hfToken).toBe(token);
    for (const c of fakes.calls("docker")) expect(c.argv.join(" ")).not.toContain("hf_");
    expect(existsSync(canary)).toBe(false);
  });

  it("up refuses to start without the secrets its containers need, before touching docker", () => {
    const fakes = new Fakes();
    const plan = rayPlan();
    const script = join(fakes.dir, "node.sh");
    writeFileSync(script, renderNodeScript(plan, plan.nodes[0] as Plan["nodes"][0], { source: "s" }));
    const r = fakes.run(script, ["up"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("rocm-vllm: node-a: HF_TOKEN must be set in the environment");
    expect(fakes.calls("docker").filter((c) => c.argv[0] === "run")).toEqual([]);
  });

  it("runs a job once per trigger, keeps unchanged containers running on every up, and removes everything on down", () => {
    const fakes = new Fakes();
    const plan = rayPlan();
    const script = join(fakes.dir, "node.sh");
    writeFileSync(script, renderNodeScript(plan, plan.nodes[0] as Plan["nodes"][0], { source: "s" }));
    const env = { HF_TOKEN: "t" };
    expect(fakes.run(script, ["up"], env).code).toBe(0);
    const firstCalls = fakes.calls("docker").length;
    const second = fakes.run(script, ["up"], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("rocm-vllm-llama405b-weights already ran for trigger");
    expect(second.stdout).toContain(`${plan.nodes[0]?.containers[0]?.name} unchanged, keeps running`);
    expect(second.stdout).toContain("0 container(s) started, 1 unchanged");
    const runs = fakes.calls("docker").filter((c) => c.argv[0] === "run");
    expect(runs.map((c) => c.argv[1])).toEqual(["--rm", "--detach"]);
    const secondCalls = fakes.calls("docker").slice(firstCalls);
    expect(secondCalls.filter((c) => ["run", "stop", "rm"].includes(c.argv[0] ?? ""))).toEqual([]);
    // The job's record is the stack's own file on the node.
    expect(existsSync(join(fakes.dir, "home/.local/state/rocm-vllm", plan.stack, "node-a"))).toBe(true);

    const down = fakes.run(script, ["down"]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain(`no container of stack ${plan.stack} left`);
    expect(fakes.containers()).toEqual({});
    const third = fakes.run(script, ["up"], env);
    expect(third.stdout).toContain("running rocm-vllm-llama405b-weights");
  });

  it("apply leaves the containers of rolling deployments to their waves, even when nothing else runs here", () => {
    const fakes = new Fakes();
    const plan = lbPlan();
    const node = plan.nodes[0];
    if (!node) throw new Error("no node");
    const rolled = node.containers.map((c) => c.name);
    expect(rolled.length).toBeGreaterThan(1);
    for (const services of [node.services, []]) {
      const script = join(fakes.dir, `node-${services.length}.sh`);
      writeFileSync(script, renderNodeScript(plan, { ...node, services }, { source: "s" }));
      const r = fakes.run(script, ["apply"], { HF_TOKEN: "t" });
      expect(r.code, r.stderr).toBe(0);
    }
    // Only the balancer started (and, once it is no longer planned, removed); no replica was started or stopped.
    const runs = fakes.calls("docker").filter((c) => c.argv[0] === "run");
    expect(runs.map((c) => c.argv[c.argv.indexOf("--name") + 1])).toEqual(node.services.map((s) => s.name));
    const stopped = fakes.calls("docker").filter((c) => c.argv[0] === "stop" || c.argv[0] === "rm");
    for (const name of rolled) expect(stopped.flatMap((c) => c.argv)).not.toContain(name);
    // The waves start them by name.
    const script = join(fakes.dir, "node-0.sh");
    const started = fakes.run(script, ["start", ...rolled], { HF_TOKEN: "t" });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toContain(`${rolled.length} container(s) started, 0 unchanged`);
    const again = fakes.run(script, ["changed", ...rolled]);
    expect(again.stdout).toBe("");
  });

  it("counts a running container whose member gave up (state=failed) as changed, so deploy.sh replaces it", () => {
    const fakes = new Fakes();
    const plan = lbPlan();
    const node = plan.nodes[0];
    const spec = node?.containers[0];
    if (!node || !spec) throw new Error("no container");
    // docker: the container runs with the planned spec; its status file says failed when FAKE_FAILED is set.
    const hash = labelOf(exportedRunArgv(spec), SPEC_LABEL);
    writeFileSync(
      join(fakes.dir, "docker"),
      `#!/bin/bash\ncase "$1" in\n  container) echo "${hash} true" ;;\n  exec) [[ -n "\${FAKE_FAILED:-}" ]] ;;\nesac\n`,
    );
    const script = join(fakes.dir, "node.sh");
    writeFileSync(script, renderNodeScript(plan, node, { source: "s" }));
    const serving = fakes.run(script, ["changed", spec.name]);
    expect(serving.code, serving.stderr).toBe(0);
    expect(serving.stdout).toBe("");
    const failed = fakes.run(script, ["changed", spec.name], { FAKE_FAILED: "1" });
    expect(failed.stdout.trim()).toBe(spec.name);
  });

  it("preflight runs the plan's preflight text verbatim with sh", () => {
    const fakes = new Fakes();
    const plan = rayPlan();
    const node = plan.nodes[0];
    if (!node?.preflight) throw new Error("no preflight");
    const script = join(fakes.dir, "node.sh");
    const marker = join(fakes.dir, "preflight-ran");
    const text = `echo "$0" >${shellQuote(marker)}\necho 'FAIL: nothing real here' >&2\nexit 1\n`;
    writeFileSync(
      script,
      renderNodeScript(plan, { ...node, preflight: { checks: [], script: text } }, { source: "s" }),
    );
    const r = fakes.run(script, ["preflight"]);
    expect(r.code).toBe(1);
    // Run by sh from the guard's own copy of the text, and reported with the node and the phase.
    expect(r.stdout).toContain("FAIL: nothing real here");
    expect(r.stderr).toContain(`rocm-vllm: ${node.name}: preflight: failed with exit status 1`);
    expect(readFileSync(marker, "utf8").trim()).toMatch(/rocm-vllm-step\.\w+\/body$/);
    expect(renderNodeScript(plan, node, { source: "s" })).toContain(preflightStep(node)?.script);
  });
});

describe("a node script and the other stacks on its node", () => {
  /** A one-node stack whose deployment `name` runs `replicas` TP 1 containers from `port` on. */
  const small = (stack: string, name: string, replicas: number, port: number, extraEnv: Record<string, string> = {}) =>
    planOk(
      rawCluster({ nodes: [{ name: "shared", host: "10.0.9.10", gpus: 8 }], preflight: false }),
      [
        rawDeployment({
          name,
          parallelism: { tensor: 1 },
          model: "meta-llama/Llama-3.1-8B-Instruct",
          replicas,
          port,
          extraEnv,
        }),
      ],
      false,
      stack,
    );
  const nodeScript = (fakes: Fakes, plan: Plan, file: string) => {
    const script = join(fakes.dir, file);
    writeFileSync(script, renderNodeScript(plan, plan.nodes[0] as Plan["nodes"][0], { source: "s" }));
    return script;
  };
  const names = (fakes: Fakes) => Object.keys(fakes.containers()).sort();
  const stackOf = (fakes: Fakes, name: string) => fakes.containers()[name]?.labels["rocm-vllm.stack"];

  it("labels every container it starts with the stack's name", () => {
    const fakes = new Fakes();
    expect(fakes.run(nodeScript(fakes, small("blue", "chat", 2, 8000), "blue.sh"), ["up"]).code).toBe(0);
    expect(names(fakes)).toEqual(["rocm-vllm-chat-0", "rocm-vllm-chat-1"]);
    for (const name of names(fakes)) expect(stackOf(fakes, name)).toBe("blue");
  });

  it("up removes the stack's containers the plan no longer has: a renamed deployment leaves no orphan", () => {
    const fakes = new Fakes();
    expect(fakes.run(nodeScript(fakes, small("blue", "chat", 2, 8000), "v1.sh"), ["up"]).code).toBe(0);
    const renamed = fakes.run(nodeScript(fakes, small("blue", "assistant", 1, 8000), "v2.sh"), ["up"]);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout).toContain("removing rocm-vllm-chat-0 rocm-vllm-chat-1");
    expect(names(fakes)).toEqual(["rocm-vllm-assistant"]);
    // The orphans were stopped before the new container started (they held its GPU and port).
    const calls = fakes.calls("docker").map((c) => c.argv.slice(0, 2).join(" "));
    expect(calls.lastIndexOf("rm --force")).toBeLessThan(calls.lastIndexOf("run --detach"));
  });

  it("two stacks with the same deployment name: up and down of one leave the other's containers alone", () => {
    const fakes = new Fakes();
    const blue = nodeScript(fakes, small("blue", "chat", 2, 8000), "blue.sh");
    const green = nodeScript(fakes, small("green", "chat", 1, 9000), "green.sh");
    expect(fakes.run(blue, ["up"]).code).toBe(0);
    const greenUp = fakes.run(green, ["up"]);
    expect(greenUp.code, greenUp.stderr).toBe(0);
    expect(greenUp.stdout).not.toContain("removing");
    expect(names(fakes)).toEqual(["rocm-vllm-chat", "rocm-vllm-chat-0", "rocm-vllm-chat-1"]);
    expect(fakes.run(blue, ["up"]).stdout).not.toContain("removing");

    const greenDown = fakes.run(green, ["down"]);
    expect(greenDown.code, greenDown.stderr).toBe(0);
    expect(names(fakes)).toEqual(["rocm-vllm-chat-0", "rocm-vllm-chat-1"]);
    expect(fakes.run(green, ["up"]).code).toBe(0);
    expect(fakes.run(blue, ["down"]).code).toBe(0);
    expect(names(fakes)).toEqual(["rocm-vllm-chat"]);
    expect(stackOf(fakes, "rocm-vllm-chat")).toBe("green");
  });

  it("never replaces or removes a container of its name that another stack (or no stack) owns", () => {
    for (const [labels, why] of [
      [{ "rocm-vllm.managed": "true", "rocm-vllm.stack": "blue" }, "it belongs to stack blue"],
      [{ maintainer: "someone" }, "it is not a rocm-vllm container"],
    ] as const) {
      const fakes = new Fakes();
      fakes.addContainer("rocm-vllm-chat", labels);
      const green = nodeScript(fakes, small("green", "chat", 1, 9000), "green.sh");
      const up = fakes.run(green, ["up"]);
      expect(up.code).toBe(1);
      expect(up.stderr).toContain(`rocm-vllm-chat is already on this node and ${why}; stack green leaves it alone`);
      const down = fakes.run(green, ["down"]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toContain(`leaving rocm-vllm-chat: ${why}`);
      expect(fakes.calls("docker").filter((c) => ["run", "stop", "rm"].includes(c.argv[0] ?? ""))).toEqual([]);
      expect(fakes.containers()["rocm-vllm-chat"]?.labels).toEqual(labels);
    }
  });

  it("up starts again only what changed or stopped; an unchanged container keeps running", () => {
    const fakes = new Fakes();
    const v1 = small("blue", "chat", 2, 8000);
    expect(fakes.run(nodeScript(fakes, v1, "v1.sh"), ["up"]).code).toBe(0);
    const stopped = fakes.containers()["rocm-vllm-chat-1"];
    if (!stopped) throw new Error("no container");
    fakes.addContainer(stopped.name, stopped.labels, false);
    const again = fakes.run(nodeScript(fakes, v1, "v1.sh"), ["up"]);
    expect(again.stdout).toContain("rocm-vllm-chat-0 unchanged, keeps running");
    expect(again.stdout).toContain("removing rocm-vllm-chat-1");
    expect(again.stdout).toContain("1 container(s) started, 1 unchanged");

    const v2 = small("blue", "chat", 2, 8000, { NCCL_DEBUG: "WARN" });
    const changed = fakes.run(nodeScript(fakes, v2, "v2.sh"), ["up"]);
    expect(changed.stdout).toContain("2 container(s) started, 0 unchanged");
    const spec = v2.nodes[0]?.containers[0];
    if (!spec) throw new Error("no container");
    expect(fakes.containers()[spec.name]?.labels[SPEC_LABEL]).toBe(labelOf(exportedRunArgv(spec), SPEC_LABEL));
  });

  it("requires the action: run without one, it says which exist and touches nothing", () => {
    const fakes = new Fakes();
    const r = fakes.run(nodeScript(fakes, small("blue", "chat", 1, 8000), "n.sh"), []);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /say what to do: .*n\.sh preflight\|prepare\|apply\|changed\|stop\|start\|up\|after-ready\|status\|down/,
    );
    expect(fakes.calls("docker")).toEqual([]);
  });
});

describe("a readiness step", () => {
  it("limits the gate beyond its deadline by more than one round of its loop, so the gate's own report wins", () => {
    const d = lbPlan().deployments[0];
    const check = d?.readiness[0];
    if (!d || !check) throw new Error("no readiness check");
    // A round that starts just before the deadline runs every curl to its limit (a hung generation) and sleeps.
    const waits = [...check.script.matchAll(/curl .*?-m (\d+) |^\s*sleep (\d+)$/gm)].map((m) => Number(m[1] ?? m[2]));
    expect(waits).toEqual([5, 5, 60, 5]);
    const round = waits.reduce((a, b) => a + b, 0);
    // Its docker calls (inspect, exec, the log it prints on failure) get 30 s more.
    expect(readinessStep(check, d.name).timeoutSeconds - check.timeoutSeconds).toBeGreaterThanOrEqual(round + 30);
  });
});

describe("deploy.sh and teardown.sh", () => {
  it("run preflight, prepare, the changed containers, a rolling update wave by wave, then after-ready, through the hook", () => {
    const plan = lbPlan();
    const dir = writeExport(plan);
    const fakes = new Fakes();
    const r = fakes.run(join(dir, "deploy.sh"), [], { ROCM_VLLM_ON_NODE: fakes.hook, HF_TOKEN: "t" });
    expect(r.code, r.stderr).toBe(0);
    const calls = fakes.calls("on-node");
    const kinds = calls.map((c) => (c.stdin?.startsWith("set -- ") ? c.stdin.split("\n")[0]?.slice(7) : "script"));
    const d = plan.deployments[0];
    if (!d) throw new Error("no deployment");
    expect(d.rollout.strategy).toBe("rolling");
    // Preflight, pulls and downloads, the containers that are not rolled (the balancer); then per wave: which of its
    // containers differ, drain, stop, start, readiness + smoke test, undrain; the benchmark last.
    const [lb] = plan.nodes[0]?.services ?? [];
    expect(kinds).toEqual([
      "preflight",
      "prepare",
      "apply",
      ...d.rollout.waves.flatMap((w) => {
        const names = w.containers.map((c) => c.name).join(" ");
        return [`changed ${names}`, "script", `stop ${names}`, `start ${names}`, "script", "script", "script"];
      }),
      "after-ready",
    ]);
    expect(lb?.name).toBe("rocm-vllm-llama8b-lb");
    const scripts = calls.filter((c) => !c.stdin?.startsWith("set -- ")).map((c) => c.stdin);
    // The drain and undrain inside the guard every step runs in (time limit on the node, progress lines).
    expect(scripts[0]).toContain(d.rollout.waves[0]?.drain);
    expect(scripts[0]).toContain("rocm-vllm step on pack-0: drain of llama8b, wave 1;");
    expect(scripts[3]).toContain(d.rollout.waves[0]?.undrain);
    expect(calls.every((c) => c.argv[0] === "pack-0" && c.argv[1] === "10.0.3.10")).toBe(true);
    // The gates are the Pulumi program's guarded steps, byte for byte.
    const sent = calls.filter((c) => !c.stdin?.startsWith("set -- ")).map((c) => c.stdin);
    for (const check of d.readiness) expect(sent).toContain(readinessStep(check, d.name).script);
    for (const test of d.smokeTests) expect(sent).toContain(smokeTestStep(test, d.name).script);
    expect(r.stdout).toContain("llama8b (meta-llama/Llama-3.1-8B-Instruct): http://10.0.3.10:8080");
  });

  it("a rerun where every wave runs as planned still puts each wave back in the balancer, touching no container", () => {
    // A run stopped between a wave's drain and its undrain (Ctrl-C, a gate timeout) left that wave's servers out.
    const plan = lbPlan();
    const d = plan.deployments[0];
    if (!d) throw new Error("no deployment");
    expect(d.rollout.waves.length).toBeGreaterThan(1);
    const dir = writeExport(plan);
    const fakes = new Fakes();
    const r = fakes.run(join(dir, "deploy.sh"), [], {
      ROCM_VLLM_ON_NODE: fakes.hook,
      HF_TOKEN: "t",
      FAKE_UNCHANGED: "1",
    });
    expect(r.code, r.stderr).toBe(0);
    const calls = fakes.calls("on-node");
    const kinds = calls.map((c) => (c.stdin?.startsWith("set -- ") ? c.stdin.split("\n")[0]?.slice(7) : "undrain"));
    expect(kinds).toEqual([
      "preflight",
      "prepare",
      "apply",
      ...d.rollout.waves.flatMap((w) => [`changed ${w.containers.map((c) => c.name).join(" ")}`, "undrain"]),
      "after-ready",
    ]);
    const undrains = calls.filter((c) => !c.stdin?.startsWith("set -- ")).map((c) => c.stdin);
    d.rollout.waves.forEach((w, i) => {
      expect(undrains[i]).toContain(w.undrain);
      expect(undrains[i]).toContain(`rocm-vllm step on pack-0: undrain of llama8b, wave ${i + 1};`);
    });
    expect(r.stdout).toContain("rocm-vllm: llama8b: wave 1/2 (replica 0) runs as planned");
  });

  it("sends secrets on stdin only, re-quoted so the node sees the exact value", () => {
    const dir = writeExport(rayPlan());
    const fakes = new Fakes();
    const canary = join(fakes.dir, "CANARY");
    const token = `hf_x'y"z $(touch ${canary}) \`touch ${canary}\`\n; touch ${canary}`;
    const r = fakes.run(join(dir, "deploy.sh"), [], { ROCM_VLLM_ON_NODE: fakes.hook, HF_TOKEN: token });
    expect(r.code, r.stderr).toBe(0);
    const ups = fakes.calls("on-node").filter((c) => c.stdin?.startsWith("set -- prepare"));
    expect(ups.map((c) => c.argv[0]).sort()).toEqual(["node-a", "node-b"]);
    for (const up of ups) {
      expect(up.argv.join(" ")).not.toContain("hf_");
      // The preamble, evaluated by bash as on the node, yields the token unchanged.
      const preamble = (up.stdin ?? "").split("#!/usr/bin/env bash")[0] ?? "";
      const seen = spawnSync("bash", ["-c", `${preamble}\nprintf %s "$HF_TOKEN"`], {
        encoding: "utf8",
        cwd: fakes.dir,
        env: {},
      });
      expect(seen.stdout).toBe(token);
    }
    const pre = fakes.calls("on-node").filter((c) => c.stdin?.startsWith("set -- preflight"));
    for (const c of pre) expect(c.stdin).not.toContain("export HF_TOKEN");
    expect(pre).toHaveLength(2);
    expect(existsSync(canary)).toBe(false);
  });

  it("refuses to start without HF_TOKEN when containers need it, before reaching any node", () => {
    const dir = writeExport(rayPlan());
    const fakes = new Fakes();
    const r = fakes.run(join(dir, "deploy.sh"), [], { ROCM_VLLM_ON_NODE: fakes.hook });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("HF_TOKEN must be set in the environment");
    expect(fakes.calls("on-node")).toEqual([]);
  });

  it("stops after a failed phase and names the node that failed", () => {
    const dir = writeExport(rayPlan());
    const fakes = new Fakes();
    const r = fakes.run(join(dir, "deploy.sh"), [], {
      ROCM_VLLM_ON_NODE: fakes.hook,
      HF_TOKEN: "t",
      FAKE_FAIL: "node-b:prepare",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("rocm-vllm: failed: node-b");
    expect(r.stdout).toContain("[node-b] fake failure on node-b");
    // The readiness gates never ran.
    expect(fakes.calls("on-node").filter((c) => !c.stdin?.startsWith("set -- "))).toEqual([]);
  });

  it("reach nodes with ssh and the stack's user, port and key when no hook is set", () => {
    const plan = lbPlan();
    const dir = writeExport(plan);
    const fakes = new Fakes();
    const r = fakes.run(join(dir, "teardown.sh"), []);
    expect(r.code, r.stderr).toBe(0);
    const [call] = fakes.calls("ssh");
    expect(call?.argv).toEqual([
      "-p",
      "2222",
      "-i",
      "/keys/id_ed25519",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UpdateHostKeys=no",
      "-o",
      "ConnectTimeout=30",
      "-o",
      "ServerAliveInterval=30",
      "-o",
      "ServerAliveCountMax=4",
      "--",
      "ops@10.0.3.10",
      "bash",
      "-s",
    ]);
    expect(call?.stdin).toMatch(/^set -- down\n#!\/usr\/bin\/env bash/);
    expect(r.stdout).toContain("rocm-vllm: torn down");
  });

  it("teardown.sh runs down on every node and forwards the stop timeout", () => {
    const dir = writeExport(rayPlan());
    const fakes = new Fakes();
    const r = fakes.run(join(dir, "teardown.sh"), [], { ROCM_VLLM_ON_NODE: fakes.hook, ROCM_VLLM_STOP_TIMEOUT: "7" });
    expect(r.code, r.stderr).toBe(0);
    const calls = fakes.calls("on-node");
    expect(calls.map((c) => c.argv[0]).sort()).toEqual(["node-a", "node-b"]);
    for (const c of calls)
      expect(c.stdin).toMatch(/^set -- down\nexport ROCM_VLLM_STOP_TIMEOUT=7\n#!\/usr\/bin\/env bash/);
  });
});
