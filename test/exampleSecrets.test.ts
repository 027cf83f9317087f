/**
 * The example stacks are usable as they are: every encrypted value decrypts with the passphrase provider under the
 * stack's own `encryptionsalt` and the documented example passphrase, exactly as `pulumi` would decrypt it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { decryptValue, encryptValue, keyFromSalt, newEncryptionSalt } from "./support/pulumiPassphrase";

const STACKS = join(__dirname, "..", "stacks");
/** The passphrase of the example stacks, named in their comments and in the README. */
const EXAMPLE_PASSPHRASE = "rocm-vllm-example";

function secureValues(value: unknown, path: string): { path: string; secure: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secureValues(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    const secure = (value as Record<string, unknown>).secure;
    if (typeof secure === "string") return [{ path, secure }];
    return Object.entries(value).flatMap(([k, v]) => secureValues(v, `${path}.${k}`));
  }
  return [];
}

describe("passphrase secrets of the example stacks", () => {
  it("round-trips through the helper the way pulumi encrypts (key from salt, AES-256-GCM)", () => {
    const { encryptionSalt, key } = newEncryptionSalt("p");
    expect(decryptValue(keyFromSalt("p", encryptionSalt), encryptValue(key, "hf_x"))).toBe("hf_x");
    expect(() => keyFromSalt("wrong", encryptionSalt)).toThrow();
  });

  for (const file of readdirSync(STACKS).filter((f) => f.endsWith(".yaml"))) {
    const text = readFileSync(join(STACKS, file), "utf8");
    const doc = parse(text) as { encryptionsalt?: string; config?: Record<string, unknown> };
    const secrets = secureValues(doc.config ?? {}, "config");
    if (secrets.length === 0) continue;
    it(`${file}: has an encryptionsalt, the example passphrase opens it, and every secret decrypts`, () => {
      expect(doc.encryptionsalt, "encryptionsalt").toMatch(/^v1:/);
      expect(text).toContain(EXAMPLE_PASSPHRASE);
      const key = keyFromSalt(EXAMPLE_PASSPHRASE, String(doc.encryptionsalt));
      for (const s of secrets) expect(decryptValue(key, s.secure), s.path).toMatch(/^\S+$/);
    });
  }
});
