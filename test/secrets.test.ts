/**
 * The HF token, vLLM's API key and the registry password never appear in plaintext: not in `plan` (text or JSON), not in `diff`, not in exported
 * scripts (which take the token from the environment when they run and hand it to nodes on stdin only), and not in
 * any Pulumi resource input or stack output that is not a secret.
 *
 * Every example stack is run with both secrets set. The CLI only ever sees ciphertext (`{secure: ...}`), so it must
 * print neither the ciphertext nor a token it might find in its own environment; the Pulumi program sees the
 * plaintext canaries, which may appear only inside values Pulumi treats as secret.
 *
 * Secrets put in the wrong place (`MISPLACED`: a token under an unknown key, a private key in an SSH field, a flag and
 * its token in one extraArgs item, a multi-line token in extraEnv, extraArgs as one string, a random-looking key under
 * an innocent name, a Pulumi secret inside structured config) are refused on every face, `plan`, `plan --json`,
 * `diff` (either side), `diff --json`, `export` and the program's error, with the line naming where the secret is and
 * never the secret.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import type { Plan } from "../planner/types";
import { mixedCluster, type RawStack, toStackYaml } from "./support/arbitraries";
import { type CliResult, ROOT, runCliBatch } from "./support/runCli";
import { exampleStacks, rawCluster, rawDeployment } from "./support/stackConfigs";

const HF_CANARY = "hf_CANARY_1234";
const REGISTRY_CANARY = "dckr_pat_REGISTRY_CANARY_5678";
const API_CANARY = "sk-API_CANARY_4242";
/** Ciphertexts as `pulumi config set --secret` writes them; one per side of a diff. */
const CIPHER = ["v1:CIPHER_CANARY_A:aGZfQ0FOQVJZXzEyMzQ=", "v1:CIPHER_CANARY_B:aGZfQ0FOQVJZXzk5OTk="];
/** Any of these in an output is a leak. */
const LEAKS = /CANARY/;

const DIR = mkdtempSync(join(tmpdir(), "rv-secrets-"));
const STACKS = exampleStacks().map((s) => s.name);

/** The stack file with both secrets set, encrypted with ciphertext `side`. */
function withSecrets(text: string, side: 0 | 1): string {
  const doc = parseDocument(text);
  doc.setIn(["config", "rocm-vllm:hfToken"], { secure: CIPHER[side] });
  doc.setIn(["config", "rocm-vllm:registryPassword"], { secure: CIPHER[side] });
  doc.setIn(["config", "rocm-vllm:apiKey"], { secure: CIPHER[side] });
  doc.setIn(["config", "rocm-vllm:cluster", "registry"], { address: "docker.io", username: "bot" });
  return doc.toString();
}

/** The CLI's environment: a token of its own to tempt it, as a CI job or a shell may have. */
const CLI_ENV = {
  PATH: process.env.PATH,
  NO_COLOR: "1",
  HF_TOKEN: HF_CANARY,
  ROCM_VLLM_REGISTRY_PASSWORD: REGISTRY_CANARY,
  VLLM_API_KEY: API_CANARY,
};

/** Runs CLI invocations in one batch (cwd DIR, the tempting environment), by key. */
async function runKeyed(jobs: { key: string; args: string[] }[]): Promise<Map<string, CliResult>> {
  const rs = await runCliBatch(
    jobs.map((j) => ({ args: j.args, cwd: DIR })),
    CLI_ENV,
  );
  return new Map(jobs.map((j, i) => [j.key, rs[i]]));
}

const files = (name: string, side: 0 | 1) => join(DIR, `Pulumi.${name}.${side === 0 ? "a" : "b"}.yaml`);
const results = new Map<string, CliResult>();

beforeAll(async () => {
  for (const stack of exampleStacks()) {
    writeFileSync(files(stack.name, 0), withSecrets(stack.text, 0));
    writeFileSync(files(stack.name, 1), withSecrets(stack.text, 1));
  }
  const jobs = STACKS.flatMap((name) => [
    { key: `plan ${name}`, args: ["plan", files(name, 0)] },
    { key: `plan --json ${name}`, args: ["plan", files(name, 0), "--json"] },
    { key: `diff ${name}`, args: ["diff", files(name, 0), files(name, 1)] },
    { key: `diff --json ${name}`, args: ["diff", files(name, 0), files(name, 1), "--json"] },
    { key: `export ${name}`, args: ["export", files(name, 0), "--out", join(DIR, `out-${name}`)] },
  ]);
  for (const [key, r] of await runKeyed(jobs)) results.set(key, r);
}, 120_000);

const result = (key: string): CliResult => {
  const r = results.get(key);
  if (!r) throw new Error(`no result for ${key}`);
  return r;
};

describe("secrets in the CLI's output", () => {
  for (const name of STACKS) {
    it(`plan ${name}: neither ciphertext nor the environment's token in text or JSON; HF_TOKEN only by name`, () => {
      const text = result(`plan ${name}`);
      const json = result(`plan --json ${name}`);
      expect([text.code, json.code]).toEqual([0, 0]);
      for (const r of [text, json]) expect(`${r.stdout}${r.stderr}`).not.toMatch(LEAKS);
      const plan = JSON.parse(json.stdout) as Plan;
      const specs = plan.nodes.flatMap((n) => [...n.containers, ...n.services, ...n.jobs.map((j) => j.container)]);
      // Every stack downloads its model from the Hub here, so the token is wanted, by name only.
      expect(specs.some((c) => c.secretEnv.includes("HF_TOKEN"))).toBe(true);
      for (const c of specs) expect(Object.keys(c.env)).not.toContain("HF_TOKEN");
      // The API key: by name, in every serving container and every step that calls the API.
      for (const d of plan.deployments) {
        for (const check of [...d.readiness, ...d.smokeTests]) expect(check.secretEnv).toEqual(["VLLM_API_KEY"]);
      }
      for (const c of plan.nodes.flatMap((n) => n.containers)) expect(c.secretEnv).toContain("VLLM_API_KEY");
      for (const c of specs) expect(Object.keys(c.env)).not.toContain("VLLM_API_KEY");
      expect(JSON.stringify(plan)).not.toMatch(/--api-key/);
    });

    it(`diff ${name}: a changed secret is reported without either ciphertext`, () => {
      const text = result(`diff ${name}`);
      const json = result(`diff --json ${name}`);
      expect([text.code, json.code]).toEqual([2, 2]);
      for (const r of [text, json]) expect(`${r.stdout}${r.stderr}`).not.toMatch(LEAKS);
      expect(text.stdout).toMatch(/hfToken/);
      expect(json.stdout).toMatch(/hfToken/);
      expect(text.stdout).toMatch(/apiKey/);
      expect(json.stdout).toMatch(/apiKey/);
    });

    it(`export ${name}: scripts hold no secret and read HF_TOKEN from the environment when they run`, () => {
      const r = result(`export ${name}`);
      expect(r.code).toBe(0);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(LEAKS);
      const out = join(DIR, `out-${name}`);
      const scripts = readdirSync(out).map((f) => readFileSync(join(out, f), "utf8"));
      expect(scripts.length).toBeGreaterThan(2);
      for (const text of scripts) {
        expect(text).not.toMatch(LEAKS);
        // The token is passed through by name (`docker run --env HF_TOKEN`), never assigned in a script.
        expect(text).not.toMatch(/(HF_TOKEN|VLLM_API_KEY)=[^$'"%\s]/);
      }
      expect(readFileSync(join(out, "deploy.sh"), "utf8")).toMatch(/\$\{HF_TOKEN:-\}/);
      expect(readFileSync(join(out, "deploy.sh"), "utf8")).toMatch(/\$\{VLLM_API_KEY:-\}/);
    });
  }

  it("deploy.sh hands the token to nodes on stdin only and never prints it", () => {
    const name = "llama405b-2node";
    const out = join(DIR, `out-${name}`);
    const captured = join(DIR, "captured");
    mkdirSync(captured, { recursive: true });
    // Stands in for ssh: records what a node would receive on stdin, and its arguments.
    const stub = join(DIR, "on-node.sh");
    // One file pair per invocation (node name and pid): nodes are reached in parallel.
    writeFileSync(stub, `#!/bin/sh\nprintf '%s\\n' "$@" > "${captured}/$1.$$.args"\ncat > "${captured}/$1.$$.stdin"\n`);
    chmodSync(stub, 0o755);
    const r = spawnSync("bash", [join(out, "deploy.sh")], {
      cwd: DIR,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        HF_TOKEN: HF_CANARY,
        ROCM_VLLM_REGISTRY_PASSWORD: REGISTRY_CANARY,
        VLLM_API_KEY: API_CANARY,
        ROCM_VLLM_ON_NODE: stub,
      },
      timeout: 60_000,
    });
    expect(r.stderr).not.toMatch(LEAKS);
    expect(r.stdout).not.toMatch(LEAKS);
    expect(r.status).toBe(0);
    const sent = readdirSync(captured).map((f) => ({ f, text: readFileSync(join(captured, f), "utf8") }));
    const withToken = sent.filter((s) => s.text.includes(HF_CANARY));
    // Both nodes got the token (on stdin, for their pulls and downloads and to start their containers), as a
    // shell-quoted export, and nothing else carried it.
    expect([...new Set(withToken.map((s) => s.f.split(".")[0]))].sort()).toEqual(["node-a", "node-b"]);
    for (const s of withToken) {
      expect(s.f).toMatch(/\.stdin$/);
      expect(s.text).toContain(`export HF_TOKEN=${HF_CANARY}`);
    }
    // The registry password too: to both nodes' `up` (their pulls), on stdin only.
    const withPassword = sent.filter((s) => s.text.includes(REGISTRY_CANARY));
    expect(withPassword.map((s) => s.f.split(".")[0]).sort()).toEqual(["node-a", "node-b"]);
    for (const s of withPassword) expect(s.f).toMatch(/\.stdin$/);
    // The API key: to both nodes (their containers), and to the readiness gate and smoke test, on stdin only.
    const withKey = sent.filter((s) => s.text.includes(API_CANARY));
    expect([...new Set(withKey.map((s) => s.f.split(".")[0]))].sort()).toEqual(["node-a", "node-b"]);
    for (const s of withKey) {
      expect(s.f).toMatch(/\.stdin$/);
      expect(s.text).toContain(`export VLLM_API_KEY=${API_CANARY}`);
    }
    expect(withKey.some((s) => s.text.includes("Authorization: Bearer") && s.text.includes("readiness"))).toBe(true);
    expect(withKey.some((s) => s.text.includes("Authorization: Bearer") && s.text.includes("smoke test"))).toBe(true);
  });
});

describe("secrets in the Pulumi program under mocks", () => {
  const cases = [
    ...STACKS.map((name) => ({ name, file: join(ROOT, "stacks", `Pulumi.${name}.yaml`) })),
    { name: "mixed-8-nodes", file: join(DIR, "Pulumi.mixed-8-nodes.yaml") },
  ];
  for (const c of cases) {
    it(`${c.name}: the canaries appear only inside secret inputs, never in names or outputs`, async () => {
      const mocks = await import("./support/pulumiMocks");
      if (c.name === "mixed-8-nodes") writeFileSync(c.file, toStackYaml(mixedCluster(8)));
      const base = mocks.readStackFile(c.file);
      const stack = {
        ...base,
        cluster: { ...(base.cluster as object), registry: { address: "docker.io", username: "bot" } },
        hfToken: HF_CANARY,
        secretConfig: { "rocm-vllm:registryPassword": REGISTRY_CANARY, "rocm-vllm:apiKey": API_CANARY },
      };
      const run = await mocks.runProgram(stack);
      let seenHf = 0;
      let seenRegistry = 0;
      let seenApi = 0;
      for (const r of run.resources) {
        expect(`${r.urn} ${r.name}`).not.toMatch(LEAKS);
        for (const [key, value] of Object.entries(r.inputs)) {
          const text = JSON.stringify(value) ?? "";
          if (!LEAKS.test(text)) continue;
          expect(r.secretInputs, `${r.type} ${r.name}.${key} holds a canary but is not secret`).toContain(key);
          if (text.includes(HF_CANARY)) seenHf++;
          if (text.includes(REGISTRY_CANARY)) seenRegistry++;
          if (text.includes(API_CANARY)) seenApi++;
        }
      }
      // The secrets did reach the resources that need them (else this test would prove nothing).
      expect(seenHf).toBeGreaterThan(0);
      expect(seenRegistry).toBeGreaterThan(0);
      // The key reached the containers and the gates (readiness, smoke test: command stdin), always as secrets.
      expect(seenApi).toBeGreaterThan(0);
      const gates = run.resources.filter((r) => /-r\d+-(ready|smoke)$/.test(r.name));
      expect(gates.length).toBeGreaterThan(0);
      for (const g of gates) {
        expect(JSON.stringify(g.inputs.stdin)).toContain(API_CANARY);
        expect(g.secretInputs).toContain("stdin");
      }
      for (const [key, value] of Object.entries(run.outputs)) {
        if (LEAKS.test(JSON.stringify(value) ?? "")) expect(run.secretOutputs).toContain(key);
      }
      expect(JSON.stringify(run.outputs)).not.toMatch(LEAKS);
    });
  }
});

/** Credentials in the formats people paste, each carrying CANARY so a leak of any part of it is seen. */
const MISPLACED_HF = "hf_CANARYaBcDeFgHiJkLmNoPqRsTuVwXy01";
const MISPLACED_API = "sk-CANARYproj8f7e6d5c4b3a2910ZyXwVu";
const MISPLACED_PEM =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQCANARY\n-----END OPENSSH PRIVATE KEY-----\n";
/** No known prefix, an innocent key name: only its randomness gives it away. */
const MISPLACED_RANDOM = "Zq8Xw3CANARYv7Lp2Rt9Kd4Mn6Bh1Fj5";

interface Misplaced {
  name: string;
  stack: RawStack;
  /** The path the refusal names, so the user finds the line. */
  path: string;
}

const misplaced = (
  name: string,
  path: string,
  cluster: Record<string, unknown>,
  deployment: Record<string, unknown> = {},
): Misplaced => ({
  name,
  path,
  stack: { cluster: rawCluster(cluster), deployments: [rawDeployment(deployment)], hasHfToken: false },
});

const MISPLACED: Misplaced[] = [
  misplaced("hf-token-under-cluster", "rocm-vllm:cluster.hfToken", { hfToken: MISPLACED_HF }),
  misplaced("hf-token-under-deployment", "rocm-vllm:deployments[0].hfToken", {}, { hfToken: MISPLACED_HF }),
  misplaced("private-key-as-ssh-privateKey", "rocm-vllm:cluster.ssh.privateKey", {
    ssh: { privateKey: MISPLACED_PEM },
  }),
  misplaced("private-key-in-identityFile", "rocm-vllm:cluster.ssh.identityFile", {
    ssh: { identityFile: MISPLACED_PEM },
  }),
  misplaced(
    "hf-token-flag-and-value-in-one-item",
    "rocm-vllm:deployments[0].extraArgs[0]",
    {},
    {
      extraArgs: [`--hf-token ${MISPLACED_HF}`],
    },
  ),
  misplaced(
    "api-key-flag-and-value-in-one-item",
    "rocm-vllm:deployments[0].extraArgs[0]",
    {},
    {
      extraArgs: [`--api-key ${MISPLACED_API}`],
    },
  ),
  // vLLM's API key has its own secret (rocm-vllm:apiKey): as a flag and its value, inline, or in extraEnv it is refused.
  misplaced(
    "api-key-flag-then-value",
    "rocm-vllm:deployments[0].extraArgs[0]",
    {},
    {
      extraArgs: ["--api-key", MISPLACED_API],
    },
  ),
  misplaced(
    "api-key-flag-equals-value",
    "rocm-vllm:deployments[0].extraArgs[0]",
    {},
    {
      extraArgs: [`--api-key=${MISPLACED_API}`],
    },
  ),
  misplaced(
    "api-key-in-extra-env",
    "rocm-vllm:deployments[0].extraEnv.VLLM_API_KEY",
    {},
    {
      extraEnv: { VLLM_API_KEY: MISPLACED_API },
    },
  ),
  misplaced(
    "extra-args-as-a-string",
    "rocm-vllm:deployments[0].extraArgs",
    {},
    {
      extraArgs: `--api-key ${MISPLACED_API}`,
    },
  ),
  misplaced(
    "multi-line-hf-token-in-extra-env",
    "rocm-vllm:deployments[0].extraEnv.HF_TOKEN",
    {},
    {
      extraEnv: { HF_TOKEN: `${MISPLACED_HF}\n` },
    },
  ),
  misplaced(
    "multi-line-random-value-in-extra-env",
    "rocm-vllm:deployments[0].extraEnv.MY_SETTING",
    {},
    {
      extraEnv: { MY_SETTING: `${MISPLACED_RANDOM}\n` },
    },
  ),
  misplaced("random-value-under-unknown-key", "rocm-vllm:cluster.extra", { extra: MISPLACED_RANDOM }),
  // `pulumi config set --secret --path 'deployments[0].extraArgs[1]'`: the CLI sees the secure value, the program the
  // plaintext (the mocks' encryption is the identity) in a key marked secret as a whole.
  misplaced(
    "pulumi-secret-inside-deployments",
    "rocm-vllm:deployments",
    {},
    {
      extraArgs: ["--api-key", { secure: MISPLACED_API }],
    },
  ),
];

describe("secrets put in the wrong place are never echoed", () => {
  const good = join(ROOT, "stacks", "Pulumi.llama70b-mi300x.yaml");
  const file = (m: Misplaced) => join(DIR, `Pulumi.misplaced-${m.name}.yaml`);
  const faces = (m: Misplaced) => [
    { face: "plan", args: ["plan", file(m)] },
    { face: "plan --json", args: ["plan", file(m), "--json"] },
    { face: "diff (new side)", args: ["diff", good, file(m)] },
    { face: "diff (old side)", args: ["diff", file(m), good] },
    { face: "diff --json", args: ["diff", good, file(m), "--json"] },
    { face: "export", args: ["export", file(m), "--out", join(DIR, `out-misplaced-${m.name}`)] },
  ];
  const cli = new Map<string, CliResult>();

  beforeAll(async () => {
    for (const m of MISPLACED) writeFileSync(file(m), toStackYaml(m.stack));
    const jobs = MISPLACED.flatMap((m) => faces(m).map((f) => ({ key: `${m.name} ${f.face}`, args: f.args })));
    for (const [key, r] of await runKeyed(jobs)) cli.set(key, r);
  }, 120_000);

  it("the corpus holds every shape, each with the secret really in its stack file", () => {
    expect(MISPLACED.length).toBe(14);
    for (const m of MISPLACED) expect(readFileSync(file(m), "utf8"), m.name).toMatch(LEAKS);
  });

  for (const m of MISPLACED) {
    it(`${m.name}: refused on every CLI face, naming ${m.path}, never the secret`, () => {
      for (const f of faces(m)) {
        const r = cli.get(`${m.name} ${f.face}`) as CliResult;
        expect(r.code, `${f.face}: ${r.stderr}`).toBe(1);
        expect(`${r.stdout}${r.stderr}`, f.face).not.toMatch(LEAKS);
        // plan --json prints the problems as JSON on stdout (so scripts can parse them); the others one per line.
        if (f.face === "plan --json") {
          const paths = (JSON.parse(r.stdout) as { problems: { path: string }[] }).problems.map((p) => p.path);
          expect(paths, f.face).toContain(m.path);
        } else expect(r.stderr, f.face).toContain(`${m.path}: `);
      }
      expect(existsSync(join(DIR, `out-misplaced-${m.name}`))).toBe(false);
    });

    it(`${m.name}: the program refuses it with the plan's lines, never the secret, and registers nothing`, async () => {
      const mocks = await import("./support/pulumiMocks");
      const failure = await mocks.runProgram({ cluster: m.stack.cluster, deployments: m.stack.deployments }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(mocks.ProgramFailure);
      const { message, resources } = failure as InstanceType<typeof mocks.ProgramFailure>;
      expect(message).not.toMatch(LEAKS);
      expect(message.trim()).toBe(cli.get(`${m.name} plan`)?.stderr.trim());
      expect(resources.filter((r) => r.type !== mocks.STACK_TYPE)).toEqual([]);
    });
  }
});
