/**
 * Plain-data helpers for comparing plan and config objects: conversion to JSON values and order-insensitive equality
 * of object keys (array order matters: it is part of argv, env lists and placement).
 */
import type { JsonValue } from "./types";

/** The JSON form of a value: `undefined` becomes `null` at the top and is dropped inside objects. */
export function toJson(value: unknown): JsonValue {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === "object") {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  return String(value);
}

/** JSON text with object keys sorted: equal for values that differ only in key order. */
export function stableJson(value: unknown): string {
  const sortKeys = (v: JsonValue): JsonValue => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sortKeys(v[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sortKeys(toJson(value)));
}

/** Deep equality of plain data (object key order ignored). */
export function same(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

/** True for a plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
