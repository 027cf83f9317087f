/**
 * Changed settings between two validated stack configs, as config-key paths in the user's terms
 * (`rocm-vllm:deployments[0].maxNumSeqs`). Defaults are applied on both sides, so writing out a default is no change.
 * Lists of named entries (nodes, deployments) are matched by name, so inserting one does not shift the others.
 */
import { CONFIG_NAMESPACE } from "../config/schema";
import { isRecord, same, toJson } from "./jsonValues";
import { type Change, SECRET_KEYS, type SecretKey, type StackSide } from "./types";

/** What a secret shows instead of its value. */
export const SECRET_SHOWN = { set: "(secret)", changed: "(secret changed)", added: "(secret set)" } as const;

function namedEntries(value: unknown): Map<string, { index: number; value: Record<string, unknown> }> | undefined {
  if (!Array.isArray(value)) return undefined;
  const out = new Map<string, { index: number; value: Record<string, unknown> }>();
  for (const [index, item] of value.entries()) {
    if (!isRecord(item) || typeof item.name !== "string" || out.has(item.name)) return undefined;
    out.set(item.name, { index, value: item });
  }
  return out;
}

function diffValue(path: string, before: unknown, after: unknown, out: Change[]): void {
  if (same(before, after)) return;
  if (isRecord(before) && isRecord(after)) {
    const keys = [...Object.keys(after), ...Object.keys(before).filter((k) => !(k in after))];
    for (const key of keys) diffValue(`${path}.${key}`, before[key], after[key], out);
    return;
  }
  const a = namedEntries(before);
  const b = namedEntries(after);
  if (a && b && (a.size > 0 || b.size > 0)) {
    for (const [name, entry] of b) diffValue(`${path}[${entry.index}]`, a.get(name)?.value, entry.value, out);
    for (const [name, entry] of a) if (!b.has(name)) diffValue(`${path}[${entry.index}]`, entry.value, undefined, out);
    const common = (m: Map<string, unknown>, other: Map<string, unknown>) => [...m.keys()].filter((n) => other.has(n));
    const orderBefore = common(a, b);
    const orderAfter = common(b, a);
    if (!same(orderBefore, orderAfter)) out.push({ path: `${path} order`, before: orderBefore, after: orderAfter });
    return;
  }
  out.push({ path, before: toJson(before), after: toJson(after) });
}

function secretChange(key: SecretKey, before: string | undefined, after: string | undefined): Change[] {
  if (before === after) return [];
  const path = `${CONFIG_NAMESPACE}:${key}`;
  if (before === undefined) return [{ path, before: null, after: SECRET_SHOWN.added }];
  if (after === undefined) return [{ path, before: SECRET_SHOWN.set, after: null }];
  return [{ path, before: SECRET_SHOWN.set, after: SECRET_SHOWN.changed }];
}

/** Config-key changes from `base` to `head`; a missing side is a stack file that is added or deleted. */
export function configChanges(base: StackSide | undefined, head: StackSide | undefined): Change[] {
  const out: Change[] = [];
  diffValue(`${CONFIG_NAMESPACE}:cluster`, base?.config.cluster, head?.config.cluster, out);
  diffValue(`${CONFIG_NAMESPACE}:deployments`, base?.config.deployments ?? [], head?.config.deployments ?? [], out);
  for (const key of SECRET_KEYS) {
    out.push(...secretChange(key, base?.secrets[key], head?.secrets[key]));
  }
  return out;
}
