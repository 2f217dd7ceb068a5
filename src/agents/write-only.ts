/**
 * Write-only input fields (secret values, tokens): the OpenAPI document marks them
 * `writeOnly: true`; what a run records or shows has them replaced. Plain functions.
 */
import type { JsonSchema } from './json-schema.js';

export const REDACTED = '[redacted]';
/** A path segment that stands for every item of an array, or every value of a map. */
export const ANY = '*';
const MAX_DEPTH = 16;

/** Paths (property names, ANY for items) to every `writeOnly: true` in `schema`, however nested. */
export function writeOnlyPaths(schema: JsonSchema): string[][] {
  const found: string[][] = [];
  const walk = (node: unknown, path: string[]) => {
    if (!node || typeof node !== 'object' || path.length > MAX_DEPTH) return;
    const s = node as Record<string, unknown>;
    if (s.writeOnly === true) {
      found.push(path);
      return;
    }
    if (s.properties && typeof s.properties === 'object') {
      for (const [name, sub] of Object.entries(s.properties as Record<string, unknown>)) walk(sub, [...path, name]);
    }
    if (s.items) walk(s.items, [...path, ANY]);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(s.additionalProperties, [...path, ANY]);
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const) if (Array.isArray(s[key])) for (const sub of s[key] as unknown[]) walk(sub, path);
  };
  walk(schema, []);
  const unique = new Map(found.map((path) => [JSON.stringify(path), path]));
  return [...unique.values()];
}

/**
 * A copy of `value` with whatever sits at `paths` replaced by [redacted], and the strings
 * replaced (to take out of any text that echoes them). `value` itself is not changed.
 */
export function redactWriteOnly(value: unknown, paths: readonly string[][]): { value: unknown; secrets: string[] } {
  const secrets: string[] = [];
  const collect = (node: unknown) => {
    if (typeof node === 'string') secrets.push(node);
    else if (node && typeof node === 'object') for (const sub of Object.values(node)) collect(sub);
  };
  const at = (node: unknown, path: readonly string[]): unknown => {
    if (path.length === 0) {
      if (node === undefined || node === null) return node;
      collect(node);
      return REDACTED;
    }
    if (!node || typeof node !== 'object') return node;
    const [head, ...rest] = path;
    if (Array.isArray(node)) return head === ANY ? node.map((item) => at(item, rest)) : node;
    const record = node as Record<string, unknown>;
    const keys = head === ANY ? Object.keys(record) : Object.hasOwn(record, head) ? [head] : [];
    if (keys.length === 0) return node;
    const copy = { ...record };
    for (const key of keys) copy[key] = at(record[key], rest);
    return copy;
  };
  let out = value;
  for (const path of paths) out = at(out, path);
  return { value: out, secrets };
}
