/**
 * Glob patterns for template opt-outs (`.forgeline-raw`, `metadata.template.raw`), gitignore-like:
 * `*` and `?` stay within one path segment, `**` spans segments, a trailing `/` matches a folder
 * and everything under it, and a pattern without `/` matches a file or folder name at any depth.
 */
export type PathMatcher = (path: string) => boolean;

const SPECIAL = /[.+^${}()|[\]\\]/g;

function segmentToRegExp(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '*' && pattern[i + 1] === '*') {
      // "**/" matches zero or more whole folders; a lone "**" matches anything.
      if (pattern[i + 2] === '/') {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (char === '*') out += '[^/]*';
    else if (char === '?') out += '[^/]';
    else out += char.replace(SPECIAL, '\\$&');
  }
  return out;
}

export function globToRegExp(pattern: string): RegExp {
  let body = pattern.trim();
  const folder = body.endsWith('/');
  if (folder) body = body.replace(/\/+$/, '');
  const anchored = body.includes('/');
  body = body.replace(/^\/+/, '');
  const core = segmentToRegExp(body);
  const prefix = anchored ? '^' : '^(?:.*/)?';
  // A pattern naming a folder covers everything below it; "name/" matches only a folder.
  return new RegExp(`${prefix}${core}${folder ? '/.*' : '(?:/.*)?'}$`);
}

/** One matcher for a list of patterns; blank lines and `#` comments are ignored. */
export function globMatcher(patterns: Iterable<string>): PathMatcher {
  const regexps = [...patterns]
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map(globToRegExp);
  if (regexps.length === 0) return () => false;
  return (path) => regexps.some((regexp) => regexp.test(path));
}
