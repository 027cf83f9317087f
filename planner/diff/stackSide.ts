/**
 * One side of a diff from the text of a stack file: validated config, plan, and fingerprints of the encrypted secrets
 * (so a changed `rocm-vllm:hfToken` is noticed without its ciphertext ever reaching the output).
 */
import { createHash } from "node:crypto";
import { parse } from "yaml";
import { parseStackYaml } from "../config/load";
import { CONFIG_NAMESPACE } from "../config/schema";
import { planLoaded } from "../stack";
import type { Problem } from "../types";
import { SECRET_KEYS, type SecretFingerprints, type StackSide } from "./types";

export type LoadedSide = { ok: true; side: StackSide } | { ok: false; problems: Problem[] };

/** Fingerprints of the `{secure: ...}` values of the secret keys (namespaced or not). Call on valid YAML only. */
export function secretFingerprints(text: string): SecretFingerprints {
  const root = parse(text) as { config?: Record<string, unknown> } | null;
  const config = root?.config ?? {};
  const out: SecretFingerprints = {};
  for (const key of SECRET_KEYS) {
    const value = config[`${CONFIG_NAMESPACE}:${key}`] ?? config[key];
    if (value === undefined) continue;
    const secure = typeof value === "object" && value !== null ? (value as { secure?: unknown }).secure : value;
    out[key] = createHash("sha256").update(JSON.stringify(secure)).digest("hex");
  }
  return out;
}

/** Validates and plans a stack file's text; problems are the same lines `rocm-vllm plan` prints. */
export function loadStackSide(text: string, file: string, stack?: string): LoadedSide {
  const loaded = parseStackYaml(text, file, stack);
  const planned = planLoaded(loaded);
  if (!planned.ok || !loaded.ok) return { ok: false, problems: planned.ok ? [] : planned.problems };
  return { ok: true, side: { config: loaded.config, plan: planned.plan, secrets: secretFingerprints(text) } };
}
