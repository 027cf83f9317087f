/**
 * Every citation a user sees can be opened: a section of AMD's guide with its public URL, a document of this
 * repository (with an anchor that exists), or an upstream source. Scans the plans of every example stack (JSON and
 * text), the problems of the bad-config corpus, the README and `docs/`. The reference fact sheets the developers
 * work from are not in the repository and must never be cited.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderPlan } from "../cli/renderPlan";
import { parseStackYaml } from "../planner/config/load";
import { buildPlan } from "../planner/plan";
import { FACTS, FACTS_DOC, GUIDE_SECTIONS, GUIDE_URL, guide, sectionId } from "../planner/sources";
import { referenceFile } from "./support/reference";
import { ROOT } from "./support/runCli";
import { exampleConfig, exampleStacks } from "./support/stackConfigs";

/** Names of the developers' reference material, which users do not have. */
const UNOPENABLE = /\b(?:rocm-facts|vllm-facts(?:-newer)?|anchors)\.md\b|vllm-cli-oracle[\w-]*\.json|shared\/reference/;
/** A path into this repository, optionally with an anchor (`stacks/` holds the users' own files, so it is not one). */
const REPO_PATH =
  /(?<![\w/.-])((?:docs|planner|cli|components|test|bench|\.github|\.ci)\/[\w./-]*[\w-]|README\.md)(#[\w-]+)?/g;
/** Any link into the guide. */
const GUIDE_LINK = new RegExp(`${GUIDE_URL.replace(/[.]/g, "\\.")}(#[\\w-]*)?`, "g");

/** GitHub's heading anchors for a Markdown file. */
function markdownAnchors(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), "utf8");
  return new Set(
    [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-"),
    ),
  );
}

/** Every reference in `text` a user cannot open, described. */
function brokenCitations(text: string): string[] {
  const broken: string[] = [];
  for (const m of text.matchAll(new RegExp(UNOPENABLE, "g"))) broken.push(`cites reference material: ${m[0]}`);
  for (const [, path, anchor] of text.matchAll(REPO_PATH)) {
    const file = path.replace(/\/$/, "");
    if (!existsSync(join(ROOT, file))) broken.push(`no such file in the repository: ${path}`);
    else if (anchor && file.endsWith(".md") && !markdownAnchors(file).has(anchor.slice(1)))
      broken.push(`no section ${anchor} in ${file}`);
  }
  const guideIds = new Set(Object.values(GUIDE_SECTIONS).map(sectionId));
  for (const [link, anchor] of text.matchAll(GUIDE_LINK)) {
    if (anchor && !guideIds.has(anchor.slice(1))) broken.push(`unknown guide section: ${link}`);
  }
  return broken;
}

/** Guide citations (`guide § …`) in a plan source must carry the section's URL. */
function guideCitationsWithoutUrl(source: string): string[] {
  return source
    .split("; ")
    .filter((c) => c.startsWith("guide §") && !c.includes(`${GUIDE_URL}#`))
    .map((c) => `guide citation without its URL: ${c}`);
}

describe("citations", () => {
  it("every guide section cited exists in the guide, with the id Sphinx gives it", () => {
    const rst = readFileSync(referenceFile("rocm-vllm-v1-optimization-guide.rst"), "utf8").split("\n");
    const headings = rst.filter((_line, i) => i + 1 < rst.length && /^([=^"~*-])\1{3,}$/.test(rst[i + 1].trim()));
    for (const heading of Object.values(GUIDE_SECTIONS)) expect(headings).toContain(heading);
    expect(sectionId("Configure --max-num-seqs")).toBe("configure-max-num-seqs");
    expect(sectionId("AITER MLA requirements (DeepSeek-V3/R1 models)")).toBe(
      "aiter-mla-requirements-deepseek-v3-r1-models",
    );
    expect(guide("Async scheduling")).toBe(`guide § Async scheduling ${GUIDE_URL}#async-scheduling`);
  });

  it(`every fact the rules cite is a section of ${FACTS_DOC}`, () => {
    const anchors = markdownAnchors(FACTS_DOC);
    expect(FACTS.filter((f) => !anchors.has(f))).toEqual([]);
  });

  it("the scanner finds what it must refuse", () => {
    expect(brokenCitations("see rocm-facts.md §2 and vllm-facts-newer.md")).toHaveLength(2);
    expect(brokenCitations("docs/nowhere.md")).toEqual(["no such file in the repository: docs/nowhere.md"]);
    expect(brokenCitations("docs/facts.md#no-such-section")).toEqual(["no section #no-such-section in docs/facts.md"]);
    expect(brokenCitations(`${GUIDE_URL}#no-such-section`)).toHaveLength(1);
    expect(brokenCitations(`docs/facts.md#gpu-visibility ${guide("Quick Reduce")}`)).toEqual([]);
    expect(guideCitationsWithoutUrl("guide § Async scheduling; docs/facts.md#aiter-mla")).toHaveLength(1);
  });

  for (const stack of exampleStacks()) {
    it(`${stack.name}: the plan (JSON and text) cites only what a user can open`, () => {
      const { plan, problems } = buildPlan(exampleConfig(stack.text));
      expect(problems).toEqual([]);
      const sources = plan.deployments.flatMap((d) => d.reasons.map((r) => r.source));
      expect(sources.length).toBeGreaterThan(0);
      expect(sources.flatMap(guideCitationsWithoutUrl)).toEqual([]);
      expect(sources.some((s) => s.includes(GUIDE_URL))).toBe(true);
      expect(brokenCitations(JSON.stringify(plan))).toEqual([]);
      expect(brokenCitations(renderPlan(plan, `stacks/Pulumi.${stack.name}.yaml`))).toEqual([]);
    });
  }

  it("the problems of the bad-config corpus cite only what a user can open", () => {
    const dir = join(ROOT, "test", "fixtures", "bad-configs");
    const lines = readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .flatMap((f) => {
        const loaded = parseStackYaml(readFileSync(join(dir, f), "utf8"), f);
        const problems = loaded.ok ? buildPlan(loaded.config).problems : loaded.problems;
        return problems.map((p) => `${p.message} ${p.fix}`);
      });
    expect(lines.length).toBeGreaterThan(10);
    expect(brokenCitations(lines.join("\n"))).toEqual([]);
  });

  it("the README, docs/ and the code users run cite only what a user can open", () => {
    const files = [
      "README.md",
      ...readdirSync(join(ROOT, "docs")).map((f) => `docs/${f}`),
      ...["planner", "cli", "components"].flatMap((dir) =>
        readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
          .filter((f) => f.endsWith(".ts"))
          .map((f) => `${dir}/${f}`),
      ),
    ];
    const broken = files.flatMap((f) =>
      [...readFileSync(join(ROOT, f), "utf8").matchAll(new RegExp(UNOPENABLE, "g"))].map((m) => `${f}: ${m[0]}`),
    );
    expect(broken).toEqual([]);
    expect(brokenCitations(readFileSync(join(ROOT, "README.md"), "utf8"))).toEqual([]);
    expect(brokenCitations(readFileSync(join(ROOT, FACTS_DOC), "utf8"))).toEqual([]);
  });
});
