/**
 * The README's excerpt of an exported node script is the real output, byte for byte.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planStackText } from "../../cli/stackFile";
import { exportScripts } from "../../planner/export/shellScripts";

const ROOT = join(__dirname, "..", "..");

describe("README ## Exported scripts", () => {
  it("shows start_0() and up() of node-a.sh exactly as export writes them for stacks/Pulumi.llama70b-mi300x.yaml", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const section = readme.slice(
      readme.indexOf("## Exported scripts"),
      readme.indexOf("\n## ", readme.indexOf("## Exported scripts") + 5),
    );
    const excerpt = /```bash\n(# rocm-vllm-llama70b: [\s\S]*?\n\}\n)```/.exec(section)?.[1] ?? "";
    // Two functions, a blank line apart (the supervisor's Python inside start_0 has blank lines of its own); each
    // appears in the file as written.
    const functions = excerpt.split(/(?<=\n\}\n)\n/);
    expect(functions.map((f) => /^(?:# .*\n)?(\w+)\(\) \{/.exec(f)?.[1])).toEqual(["start_0", "up"]);
    const file = "stacks/Pulumi.llama70b-mi300x.yaml";
    const planned = planStackText(readFileSync(join(ROOT, file), "utf8"), file);
    if (!planned.ok) throw new Error("example stack does not plan");
    const r = exportScripts(planned.plan, { source: "Pulumi.llama70b-mi300x.yaml" });
    if (!r.ok) throw new Error("export failed");
    for (const f of functions) expect(r.files["node-a.sh"]).toContain(f.endsWith("\n") ? f : `${f}\n`);
  });
});
