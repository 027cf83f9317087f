/**
 * The README stays true: its config reference lists every key of the schema (and no key the schema lacks), and its
 * quickstart names the commands the project actually has.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import pkg from "../package.json";
import { clusterSchema, deploymentSchema } from "../planner/config/schema";

const README = readFileSync(join(__dirname, "..", "README.md"), "utf8");

/** Dotted key paths of a zod object schema (arrays as `key[]`), stopping at records and primitives. */
function keyPaths(schema: z.ZodType, prefix = ""): string[] {
  let s = schema as unknown as {
    def: { type: string; innerType?: z.ZodType; element?: z.ZodType; shape?: Record<string, z.ZodType> };
  };
  while (s.def.type === "default" || s.def.type === "optional") s = s.def.innerType as unknown as typeof s;
  if (s.def.type === "object" && s.def.shape) {
    return Object.entries(s.def.shape).flatMap(([k, v]) => {
      const sub = keyPaths(v, `${prefix}${k}.`);
      return sub.length ? sub : [`${prefix}${k}`];
    });
  }
  if (s.def.type === "array" && s.def.element) return keyPaths(s.def.element, `${prefix.slice(0, -1)}[].`);
  return [];
}

function referenceKeys(section: string): string[] {
  const start = README.indexOf(`### \`${section}\``);
  const end = README.indexOf("\n##", start + 5);
  return [...README.slice(start, end).matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

describe("README", () => {
  it("documents every cluster key", () => {
    const schemaKeys = keyPaths(clusterSchema);
    expect(referenceKeys("rocm-vllm:cluster").sort()).toEqual(schemaKeys.sort());
  });
  it("documents every deployment key (modelInfo as one row)", () => {
    const schemaKeys = keyPaths(deploymentSchema).filter((k) => !k.startsWith("modelInfo."));
    expect(referenceKeys("rocm-vllm:deployments[]").sort()).toEqual([...schemaKeys, "modelInfo"].sort());
  });
  it("has the quickstart commands and they exist", () => {
    for (const cmd of ["npm ci && npx rocm-vllm plan stacks/Pulumi.", "bash scripts/setup.sh && npm test"])
      expect(README).toContain(cmd);
    expect(pkg.scripts.test).toBe("vitest run");
    expect(pkg.bin["rocm-vllm"]).toBe("bin/rocm-vllm.js");
    expect(existsSync(join(__dirname, "..", "scripts", "setup.sh"))).toBe(true);
  });
  it("CI runs the README's setup command", () => {
    const ci = readFileSync(join(__dirname, "..", ".ci", "run"), "utf8");
    expect(ci).toMatch(/^if ! run_logged setup bash scripts\/setup\.sh; then$/m);
  });
});
