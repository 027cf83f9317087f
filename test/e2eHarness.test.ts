/**
 * The end-to-end harness (`test/e2e/support.ts` `run`) must not turn a command that exits without reading its input
 * into a failed run: the write to its stdin fails with EPIPE, and an unhandled stream error crashed the test worker
 * (exit 1) although every test had passed. Runs in the unit suite: it needs no Docker. Also: every e2e stack writes
 * only under the directory the simulated hosts clean up.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./e2e/support";

describe("e2e harness: child-process streams", () => {
  it("a command that exits without reading 4 MiB of input: EPIPE is recorded, not thrown", async () => {
    const r = await run("sh", ["-c", "echo done; exit 0"], { input: "x".repeat(4 << 20), timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("done\n");
    expect(r.streamErrors).toEqual(["stdin: EPIPE"]);
  });

  it("a command that reads its input sees all of it, and no stream error is recorded", async () => {
    const input = "y".repeat(1 << 20);
    const r = await run("sh", ["-c", "wc -c"], { input, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(String(input.length));
    expect(r.streamErrors).toEqual([]);
  });

  it("many such commands at once (a loaded machine) all settle with their exit codes", async () => {
    const rs = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        run("sh", ["-c", `exit ${i % 3}`], { input: "z".repeat(1 << 20), timeoutMs: 30_000 }),
      ),
    );
    expect(rs.map((r) => r.code)).toEqual(Array.from({ length: 16 }, (_, i) => i % 3));
    for (const r of rs) expect(r.streamErrors.every((e) => e === "stdin: EPIPE")).toBe(true);
  });
});

describe("e2e stacks", () => {
  it("write only where the simulated hosts' cleanup looks: model and compile caches under /var/lib/rocm-vllm-e2e", () => {
    const dir = join(__dirname, "e2e", "stacks");
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), "utf8");
      expect(text, file).toContain("modelCache: /var/lib/rocm-vllm-e2e/model-cache");
      expect(text, file).toContain("compileCache: { path: /var/lib/rocm-vllm-e2e/compile-cache");
    }
  });
});
