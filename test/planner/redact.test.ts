/**
 * What messages may echo of a config value (planner/redact.ts): credentials masked to a prefix that says what they
 * are, everything else shown, nothing longer than `MAX_SHOWN`, nothing that breaks or disguises a line.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProblem, problem } from "../../planner/problems";
import { displayKey, displayText, displayValue, Hidden, isCredentialName, MAX_SHOWN } from "../../planner/redact";

const HF = "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456";
const API = "sk-proj-Ab12Cd34Ef56Gh78Ij90KlMnOpQrStUvWxYz";
const PEM =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";

describe("names that say credential", () => {
  it.each([
    "hfToken",
    "HF_TOKEN",
    "hftoken",
    "HUGGING_FACE_HUB_TOKEN",
    "--hf-token",
    "--api-key",
    "apiKey",
    "privateKey",
    "OPENAI_KEY",
    "sshKey",
    "db_password",
    "PASSWD",
    "clientSecret",
    "AWS_SECRET_ACCESS_KEY",
    "passphrase",
    "secure",
  ])("%s is one", (name) => expect(isCredentialName(name)).toBe(true));

  it.each([
    "tokenizer",
    "--tokenizer-mode",
    "--max-num-batched-tokens",
    "maxNumSeqs",
    "kvCacheDtype",
    "kvHeads",
    "identityFile",
    "MONKEY",
    "keyboard",
    "extraArgs",
    "servedModelName",
  ])("%s is not", (name) => expect(isCredentialName(name)).toBe(false));
});

describe("displayValue masks credentials and keeps what finds the line", () => {
  it.each<[string, unknown, string | undefined, string]>([
    ["a token under a key that says so", HF, "hfToken", '"hf_***"'],
    ["a token by its format, under any key", HF, "extra", '"hf_***"'],
    ["a flag and its token in one string", `--hf-token ${HF}`, undefined, '"--hf-token hf_***"'],
    ["an API key after its flag", `--api-key ${API}`, undefined, '"--api-key sk-proj-***"'],
    ["--flag=value", "--api-key=plainvalue", undefined, '"--api-key=***"'],
    ["a credential flag after another flag", "--seed --api-key plainvalue", undefined, '"--seed --api-key ***"'],
    ["a variable assignment", "HF_TOKEN=abc", undefined, '"HF_TOKEN=***"'],
    ["a PEM block, by its content", PEM, "identityFile", '"-----BEGIN OPENSSH PRIVATE KEY-----***"'],
    ["a PEM block under a key name", PEM, "privateKey", '"-----BEGIN OPENSSH PRIVATE KEY-----***"'],
    ["a multi-line token under HF_TOKEN", "abc123\n", "HF_TOKEN", '"***"'],
    ["a random-looking string under an innocent name", "3f9a7Kq2LmZ8xW1pR4tY6uB0nC5vD7eH", "extra", '"***"'],
    ["an AWS access key id", "AKIAIOSFODNN7EXAMPLE", undefined, '"AKIA***"'],
    ["a number under a credential name", 123456, "apiKey", '"***"'],
    ["a Pulumi ciphertext", { secure: "v1:abc:ZGVm" }, undefined, '{"secure":"***"}'],
    ["an object with a token key", { hfToken: HF, replicas: 2 }, undefined, '{"hfToken":"hf_***","replicas":2}'],
    ["anything under a credential key", { token: { value: "plain" } }, undefined, '{"token":{"value":"***"}}'],
  ])("%s", (_what, value, name, shown) => {
    expect(displayValue(value, name)).toBe(shown);
  });

  it.each([
    "meta-llama/Llama-3.3-70B-Instruct",
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8",
    "rocm/vllm:rocm7.0.0_vllm_0.11.1_20251024",
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef01234567",
    "--max-num-batched-tokens=8192",
    "--tokenizer-mode auto",
    "/data/huggingface",
    "VLLM_ROCM_USE_AITER_MHA",
    "ens50f0np0",
  ])("shows %s as it is", (value) => {
    expect(displayValue(value)).toBe(JSON.stringify(value));
  });

  it("never shows any part of a random token in any of the places one gets pasted", () => {
    const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".split("");
    const token = fc
      .array(fc.constantFrom(...base62), { minLength: 32, maxLength: 64 })
      .map((cs) => cs.join(""))
      .filter((t) => /[a-z]/.test(t) && /[A-Z]/.test(t) && /\d/.test(t));
    const context = fc.constantFrom(
      (t: string) => ({ value: t, name: "extra" }),
      (t: string) => ({ value: `--api-key ${t}`, name: undefined }),
      (t: string) => ({ value: `--hf-token=${t}`, name: "extraArgs" }),
      (t: string) => ({ value: `prefix ${t} suffix`, name: undefined }),
      (t: string) => ({ value: { nested: [t] }, name: undefined }),
      (t: string) => ({ value: `${t}\n`, name: "MY_SETTING" }),
    );
    fc.assert(
      fc.property(token, context, (t, make) => {
        const { value, name } = make(t);
        const shown = displayValue(value, name);
        // No 8 consecutive characters of the token survive.
        for (let i = 0; i + 8 <= t.length; i++) expect(shown).not.toContain(t.slice(i, i + 8));
      }),
      { numRuns: 200 },
    );
  });
});

describe("displayValue is bounded and one line", () => {
  it("cuts a 200 KB value and says how long it was", () => {
    const shown = displayValue("x".repeat(200_000));
    expect(shown.length).toBeLessThanOrEqual(MAX_SHOWN);
    expect(shown).toMatch(/… \[200000 characters\]$/);
  });

  it("cuts a huge object too", () => {
    const shown = displayValue(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])));
    expect(shown.length).toBeLessThanOrEqual(MAX_SHOWN);
  });

  it("masks a credential at the end of a long value before cutting", () => {
    expect(displayValue(`${"a ".repeat(20_000)}${HF}`)).not.toContain("aBcDeF");
  });

  it("writes YAML's .nan and .inf instead of JSON's null", () => {
    expect([NaN, Infinity, -Infinity].map((n) => displayValue(n))).toEqual([".nan", ".inf", "-.inf"]);
    expect(displayValue({ gpus: NaN })).toBe('{"gpus":".nan"}');
  });

  it("escapes control characters, line separators and bidirectional overrides", () => {
    expect(displayValue("a\u202eb\u2028c\u0085d")).toBe('"a\\u202eb\\u2028c\\u0085d"');
    expect(displayText("line one\nline two")).toBe("line one\\u000aline two");
  });

  it("shows a hidden value only as why it is hidden", () => {
    expect(displayValue(new Hidden())).toBe("(not shown)");
    expect(displayValue(new Hidden("plaintext, not shown"))).toBe("(plaintext, not shown)");
  });

  it("bounds and masks keys used in paths", () => {
    expect(displayKey("hfToken")).toBe("hfToken");
    expect(displayKey(HF)).toBe("hf_***");
    expect(displayKey("k".repeat(500))).toBe(`${"k".repeat(40)}…`);
  });
});

describe("problem lines render values once, for every rule", () => {
  it("masks by the key the path ends in", () => {
    const line = formatProblem(problem("rocm-vllm:deployments[0].extraEnv.MY_API_KEY", "abc", "is bad", "fix it"));
    expect(line).toBe('rocm-vllm:deployments[0].extraEnv.MY_API_KEY: is bad (got "***"). Fix: fix it');
  });

  it("masks by content under an index", () => {
    const line = formatProblem(problem("rocm-vllm:deployments[0].extraArgs[3]", `--api-key ${API}`, "m", "f"));
    expect(line).toContain('(got "--api-key sk-proj-***")');
    expect(line).not.toContain("Ab12Cd34");
  });
});
