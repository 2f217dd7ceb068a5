/**
 * Allow-list rules, plain functions. An entry is an exact tool name or a pattern with `*`
 * (any characters). Tools marked explicit-only (deletes, access management, agents' own
 * operations) are reached only by their exact name: no pattern, `*` included, reaches them.
 */
export const ALLOW_ENTRY = /^[A-Za-z0-9_*-]{1,128}$/;

export interface AllowListTool {
  name: string;
  explicitOnly: boolean;
}

const patternCache = new Map<string, RegExp>();

function patternOf(entry: string): RegExp {
  let regex = patternCache.get(entry);
  if (!regex) {
    regex = new RegExp(`^${entry.split('*').map((part) => part.replace(/[-]/g, '\\-')).join('.*')}$`);
    patternCache.set(entry, regex);
  }
  return regex;
}

export function isAllowed(tool: AllowListTool, entries: readonly string[]): boolean {
  for (const entry of entries) {
    if (entry === tool.name) return true;
    if (!tool.explicitOnly && entry.includes('*') && patternOf(entry).test(tool.name)) return true;
  }
  return false;
}

/** The tools an allow-list grants, in catalog order. */
export function allowedTools<T extends AllowListTool>(tools: readonly T[], entries: readonly string[]): T[] {
  return tools.filter((tool) => isAllowed(tool, entries));
}
