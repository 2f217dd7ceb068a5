import { DomainError } from './domain-error.js';

export const MAX_PATH_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;

export type PathRule =
  | 'not-a-string'
  | 'empty'
  | 'absolute'
  | 'backslash'
  | 'control-character'
  | 'invalid-unicode'
  | 'empty-segment'
  | 'dot-segment'
  | 'dot-dot-segment'
  | 'git-dir'
  | 'segment-too-long'
  | 'path-too-long';

const RULE_TEXT: Record<PathRule, string> = {
  'not-a-string': 'must be a string',
  empty: 'must not be empty',
  absolute: 'must be relative (no leading "/")',
  backslash: 'must use "/" as separator (no "\\")',
  'control-character': 'must not contain NUL or control characters',
  'invalid-unicode': 'must be well-formed Unicode (no unpaired UTF-16 surrogate)',
  'empty-segment': 'must not contain empty segments ("//" or a trailing "/")',
  'dot-segment': 'must not contain "." segments',
  'dot-dot-segment': 'must not contain ".." segments',
  'git-dir': 'must not contain a ".git" segment (in any letter case)',
  'segment-too-long': `must not have a segment over ${MAX_SEGMENT_BYTES} bytes`,
  'path-too-long': `must not be over ${MAX_PATH_BYTES} bytes`,
};

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/**
 * An unpaired surrogate (valid in JSON, not in UTF-8): PostgreSQL would store U+FFFD instead, so
 * the stored path would differ from the one answered, and "x\ud800" and "x\udc00" would collide.
 * With the `u` flag a well-formed pair is one astral code point and does not match.
 */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
/** Characters that some filesystems ignore in names (HFS+), so ".g\u200cit" would be ".git" there. */
const IGNORABLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g;

/**
 * Whether a name is ".git" to some filesystem, as git's own fsck judges it: in any letter case,
 * with the characters HFS+ ignores, and NTFS's forms: trailing dots and spaces dropped, a stream
 * name after ":" (".git::$INDEX_ALLOCATION"), and the 8.3 alias GIT~1.
 */
export function isGitDir(segment: string): boolean {
  const folded = segment.toLowerCase().replace(IGNORABLE, '').replace(/:.*$/s, '').replace(/[. ]+$/, '');
  return folded === '.git' || folded === 'git~1';
}

/** The first rule a path breaks, or null. `path` must already be NFC-normalised. */
export function checkPath(path: unknown): PathRule | null {
  if (typeof path !== 'string') return 'not-a-string';
  if (path.length === 0) return 'empty';
  if (path.startsWith('/')) return 'absolute';
  if (path.includes('\\')) return 'backslash';
  if (CONTROL.test(path)) return 'control-character';
  if (LONE_SURROGATE.test(path)) return 'invalid-unicode';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return 'path-too-long';
  for (const segment of path.split('/')) {
    if (segment === '') return 'empty-segment';
    if (segment === '.') return 'dot-segment';
    if (segment === '..') return 'dot-dot-segment';
    if (isGitDir(segment)) return 'git-dir';
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return 'segment-too-long';
  }
  return null;
}

/**
 * The one gate for every project path entering the system: returns the NFC form, or throws
 * PATH_INVALID naming the field and the rule.
 */
export function normaliseProjectPath(path: unknown, field = 'path'): string {
  const normalised = typeof path === 'string' ? path.normalize('NFC') : path;
  const rule = checkPath(normalised);
  if (rule) {
    const shown = typeof path === 'string' ? JSON.stringify(path.slice(0, 200)) : String(path);
    const message = `${field} ${shown} ${RULE_TEXT[rule]}`;
    throw new DomainError('PATH_INVALID', message, [{ field, rule, message }]);
  }
  return normalised as string;
}

/** Folders that must exist for `path` to be a file: "a/b/c.txt" → ["a", "a/b"]. */
export function parentFolders(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join('/'));
}
