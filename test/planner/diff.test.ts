/**
 * The pure diff (`planner/diff/`) and its text rendering: config-key paths, planned argv and env changes, secrets that
 * never show, deterministic output. What the impact says is checked against the Pulumi program in
 * `test/diffAgreement.test.ts`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderStackDiff, showDiffValue } from "../../cli/renderDiff";
import { argvFlags } from "../../planner/diff/planChanges";
import { planDiff } from "../../planner/diff/planDiff";
import { loadStackSide, secretFingerprints } from "../../planner/diff/stackSide";
import type { StackDiff, StackSide } from "../../planner/diff/types";

const STACKS = join(__dirname, "..", "..", "stacks");
const text = (name: string) => readFileSync(join(STACKS, `Pulumi.${name}.yaml`), "utf8");

function load(yaml: string): StackSide {
  const r = loadStackSide(yaml, "Pulumi.test.yaml");
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return r.side;
}

/** Diff of a stack file against a copy with `from` replaced by `to` (each must occur). */
function diffEdit(name: string, ...edits: [string, string][]): StackDiff {
  const before = text(name);
  let after = before;
  for (const [from, to] of edits) {
    expect(after).toContain(from);
    after = after.replace(from, to);
  }
  return planDiff(load(before), load(after));
}

const render = (d: StackDiff) => renderStackDiff({ title: "t", diff: d });

describe("planDiff: changed settings", () => {
  it("names config keys and the resulting vllm serve flag, and renders them as old → new", () => {
    const d = diffEdit("llama70b-mi300x", ["maxNumSeqs: 256", "maxNumSeqs: 128"]);
    expect(d.changes).toEqual([
      { path: "rocm-vllm:deployments[0].maxNumSeqs", before: 256, after: 128 },
      { path: "llama70b argv", before: "--max-num-seqs 256", after: "--max-num-seqs 128" },
    ]);
    expect(render(d)).toContain(
      "    rocm-vllm:deployments[0].maxNumSeqs: 256 → 128\n    llama70b argv: --max-num-seqs 256 → 128\n",
    );
    expect(d.changed).toBe(true);
  });

  it("shows env changes per deployment, on Ray heads and workers alike", () => {
    const d = diffEdit("llama405b-2node", ["debug: { rccl: false }", "debug: { rccl: true }"]);
    expect(d.changes).toEqual([
      { path: "rocm-vllm:cluster.debug.rccl", before: false, after: true },
      { path: "llama405b env NCCL_DEBUG", before: null, after: "INFO" },
      { path: "llama405b env NCCL_DEBUG_SUBSYS", before: null, after: "INIT,GRAPH" },
    ]);
    expect(render(d)).toContain("llama405b env NCCL_DEBUG: (unset) → INFO\n");
  });

  it("matches nodes and deployments by name: inserting one does not shift the others", () => {
    const d = diffEdit("llama405b-2node", [
      "      - { name: node-a, host: 10.0.0.11, gpus: 8 }\n",
      "      - { name: node-a, host: 10.0.0.11, gpus: 8 }\n      - { name: node-c, host: 10.0.0.13, gpus: 8 }\n",
    ]);
    expect(d.changes).toEqual([
      { path: "rocm-vllm:cluster.nodes[1]", before: null, after: { name: "node-c", host: "10.0.0.13", gpus: 8 } },
    ]);
    // The deployment uses all nodes in order, so its headless rank moves from node-b to node-c.
    expect(d.impact.filter((i) => i.action !== "no change").map((i) => `${i.target}: ${i.action}`)).toEqual([
      "node-c: node added",
      "node-b: release image",
      "node-b: re-run preflight checks",
      "llama405b@node-a: re-form the native multi-node group",
      "llama405b@node-c: re-form the native multi-node group",
      "llama405b@node-c: run weights download",
      "llama405b@node-b: re-form the native multi-node group",
      "llama405b@node-b: drop weights download",
    ]);
  });

  it("reports a changed order of deployments, which changes placement", () => {
    const yaml = (deployments: unknown[]) =>
      `config:\n  rocm-vllm:cluster: ${JSON.stringify({ ...rawCluster(), nodes: [{ name: "n", host: "10.0.0.1" }] })}\n  rocm-vllm:deployments: ${JSON.stringify(deployments)}\n`;
    const base = load(yaml([dep("a", 0), dep("b", 1)]));
    expect(planDiff(base, base).changed).toBe(false);
    const d = planDiff(base, load(yaml([dep("b", 1), dep("a", 0)])));
    expect(d.changes[0]).toEqual({ path: "rocm-vllm:deployments order", before: ["a", "b"], after: ["b", "a"] });
    // Placement follows the order: each deployment now gets the other's GPU, so both restart.
    expect(d.impact.filter((i) => i.action === "restart serving process").map((i) => i.target)).toEqual(["b@n", "a@n"]);
  });

  it("applies defaults on both sides: writing out a default changes nothing and exits 0", () => {
    const d = diffEdit("llama70b-mi300x", [
      "      port: 8000\n",
      "      port: 8000\n      replicas: 1\n      aiter: true\n",
    ]);
    expect(d).toEqual({ changes: [], impact: expect.any(Array), hazards: [], summary: "no change", changed: false });
    expect(d.impact.map((i) => i.action)).toEqual(["no change", "no change"]);
  });

  it("lists new and resolved warnings", () => {
    const d = diffEdit("llama70b-mi300x", ["maxNumSeqs: 256", "maxNumSeqs: 4096"]);
    expect(d.changes.map((c) => c.path)).toContain(
      "warning max-num-seqs-unreachable at rocm-vllm:deployments[0].maxNumSeqs",
    );
  });
});

describe("planDiff: secrets", () => {
  const token = (secure: string) => `  rocm-vllm:hfToken:\n    secure: ${secure}\n`;
  const base = text("llama405b-2node");
  const CIPHER = "v1:vOfRmIShh/Rb6D7h:bf/wvjUvt1qelyzaGe8m6sxHTL0jLSyQZxu0MIkydP6NVMZSyBHsb4AV0huVbG4n84LBrwVlGpBynw8=";

  it("shows (secret changed) for a new ciphertext and never the ciphertext itself", () => {
    expect(base).toContain(CIPHER);
    const after = base.replace(CIPHER, "v1:NEWNEWNEW:c2VjcmV0LXZhbHVl");
    const d = planDiff(load(base), load(after));
    expect(d.changes).toEqual([{ path: "rocm-vllm:hfToken", before: "(secret)", after: "(secret changed)" }]);
    const shown = render(d) + JSON.stringify(d);
    expect(shown).toContain("rocm-vllm:hfToken: (secret) → (secret changed)");
    for (const leak of [CIPHER, "NEWNEWNEW", "c2VjcmV0LXZhbHVl"]) expect(shown).not.toContain(leak);
  });

  it("notices secrets set, removed, and written without the namespace", () => {
    const without = base.replace(/ {2}rocm-vllm:hfToken:\n.*\n/, "");
    expect(without).not.toContain("hfToken");
    expect(planDiff(load(without), load(base)).changes[0]).toEqual({
      path: "rocm-vllm:hfToken",
      before: null,
      after: "(secret set)",
    });
    expect(planDiff(load(base), load(without)).changes[0]).toEqual({
      path: "rocm-vllm:hfToken",
      before: "(secret)",
      after: null,
    });
    const bare = base.replace(token(CIPHER), `  hfToken:\n    secure: ${CIPHER}\n`);
    expect(bare).not.toBe(base);
    expect(secretFingerprints(bare)).toEqual(secretFingerprints(base));
    expect(secretFingerprints(base).hfToken).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe("planDiff: impact and output", () => {
  it("re-forms a multi-node data-parallel group whole", () => {
    const cluster = { ...rawCluster(), network: { interface: "ens50f0np0" }, nodes: nodes2() };
    const yaml = (seqs: number) =>
      `config:\n  rocm-vllm:cluster: ${JSON.stringify(cluster)}\n  rocm-vllm:deployments: ${JSON.stringify([
        {
          name: "dp",
          model: "meta-llama/Llama-3.1-8B-Instruct",
          parallelism: { data: 16 },
          maxModelLen: 8192,
          maxNumSeqs: seqs,
        },
      ])}\n`;
    const d = planDiff(load(yaml(256)), load(yaml(128)));
    expect(
      d.impact.filter((i) => i.action !== "no change").map((i) => `${i.target}: ${i.action} ${i.containers}`),
    ).toEqual([
      "dp@node-a: re-form the data-parallel group rocm-vllm-dp",
      "dp@node-b: re-form the data-parallel group rocm-vllm-dp-dp1",
    ]);
    expect(d.changes).toEqual([
      { path: "rocm-vllm:deployments[0].maxNumSeqs", before: 256, after: 128 },
      { path: "dp argv", before: "--max-num-seqs 256", after: "--max-num-seqs 128" },
    ]);
    expect(d.summary).toBe(
      "dp: re-form data-parallel group on 2 nodes (model reload), one replica: cannot roll; 0 image pulls",
    );
  });

  it("warns when GPUs or ports pass to a container of another identity (a renamed deployment)", () => {
    const d = diffEdit("llama70b-mi300x", ["- name: llama70b", "- name: llama70c"]);
    expect(d.impact.filter((i) => i.action !== "no change").map((i) => `${i.target}: ${i.action}`)).toEqual([
      "llama70c@node-a: deployment added",
      "llama70b@node-a: deployment removed",
    ]);
    expect(d.hazards).toEqual([
      "node-a: rocm-vllm-llama70c needs GPUs 0, 1, 2, 3, 4, 5, 6, 7 and port 8000 that rocm-vllm-llama70b holds until the end of the update, so it cannot start; apply this in two updates (remove, pulumi up, then add)",
    ]);
    expect(render(d)).toContain("\n  hazard: node-a: rocm-vllm-llama70c needs GPUs");
    expect(diffEdit("llama70b-mi300x", ["maxNumSeqs: 256", "maxNumSeqs: 128"]).hazards).toEqual([]);
  });

  it("is deterministic: same inputs, same bytes", () => {
    const run = () => {
      const d = diffEdit(
        "llama8b-packed",
        ["maxNumSeqs: 256", "maxNumSeqs: 64"],
        ["image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024", "image: rocm/vllm:rocm7.0.0_vllm_0.11.1_20251124"],
      );
      return render(d) + JSON.stringify(d);
    };
    const first = run();
    expect(first).toContain(
      "summary: llama8b: restart 8 serving processes on 1 node (model reload), all replicas at once; 1 image pull\n",
    );
    expect(run()).toBe(first);
  });

  it("renders values briefly and without colour by default", () => {
    expect(showDiffValue(null)).toBe("(unset)");
    expect(showDiffValue("")).toBe('""');
    expect(showDiffValue([1, "a"])).toBe('[1,"a"]');
    expect(showDiffValue({ k: "x".repeat(400) })).toHaveLength(160);
    const d = diffEdit("llama70b-mi300x", ["maxNumSeqs: 256", "maxNumSeqs: 128"]);
    expect(render(d)).not.toContain("\u001b[");
    expect(renderStackDiff({ title: "t", diff: d }, true)).toContain("\u001b[");
  });

  it("parses vllm serve argv into flags, values and repeats", () => {
    const flags = argvFlags(["vllm", "serve", "org/m", "--a", "1", "--b", "--c=x y", "--a", "2", "-O3"]);
    expect([...flags]).toEqual([
      ["(model)", "org/m"],
      ["--a", "--a 1 --a 2"],
      ["--b", "--b"],
      ["--c", "--c x y"],
      ["-O3", "-O3"],
    ]);
  });
});

function rawCluster() {
  return { gpu: "mi300x", image: "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024" };
}

function nodes2() {
  return [
    { name: "node-a", host: "10.0.0.11" },
    { name: "node-b", host: "10.0.0.12" },
  ];
}

function dep(name: string, gpu: number) {
  return { name, model: "meta-llama/Llama-3.1-8B-Instruct", port: 8000 + gpu };
}
