import { DomainError } from '../common/domain-error.js';

export const MAX_REF_NAME_BYTES = 255;

export type RefNameRule =
  | 'empty'
  | 'too-long'
  | 'head'
  | 'leading-dash'
  | 'control-character'
  | 'forbidden-character'
  | 'double-dot'
  | 'at-brace'
  | 'lone-at'
  | 'slash-position'
  | 'component-leading-dot'
  | 'component-lock-suffix'
  | 'trailing-dot';

const RULE_TEXT: Record<RefNameRule, string> = {
  empty: 'must not be empty',
  'too-long': `must not be over ${MAX_REF_NAME_BYTES} bytes`,
  head: 'must not be "HEAD"',
  'leading-dash': 'must not start with "-"',
  'control-character': 'must not contain control characters',
  'forbidden-character': 'must not contain spaces or any of ~ ^ : ? * [ \\',
  'double-dot': 'must not contain ".."',
  'at-brace': 'must not contain "@{"',
  'lone-at': 'must not be "@"',
  'slash-position': 'must not start or end with "/" or contain "//"',
  'component-leading-dot': 'must not have a "/"-separated part starting with "."',
  'component-lock-suffix': 'must not have a "/"-separated part ending with ".lock"',
  'trailing-dot': 'must not end with "."',
};

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const FORBIDDEN = /[ ~^:?*[\\]/;

/**
 * The first rule of `git check-ref-format --branch` (and `git branch`) a branch or tag name
 * breaks, or null. One-level names ("main") are allowed, as for branches.
 */
export function checkRefName(name: string): RefNameRule | null {
  if (name.length === 0) return 'empty';
  if (Buffer.byteLength(name) > MAX_REF_NAME_BYTES) return 'too-long';
  if (name === 'HEAD') return 'head';
  if (name.startsWith('-')) return 'leading-dash';
  if (CONTROL.test(name)) return 'control-character';
  if (FORBIDDEN.test(name)) return 'forbidden-character';
  if (name.includes('..')) return 'double-dot';
  if (name.includes('@{')) return 'at-brace';
  if (name === '@') return 'lone-at';
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return 'slash-position';
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return 'component-leading-dot';
    if (part.endsWith('.lock')) return 'component-lock-suffix';
  }
  if (name.endsWith('.')) return 'trailing-dot';
  return null;
}

/** Returns `name`, or throws VALIDATION_FAILED naming the field and the rule. */
export function assertRefName(name: string, field: string): string {
  const rule = checkRefName(name);
  if (rule) {
    const message = `${field} ${JSON.stringify(name.slice(0, 300))} ${RULE_TEXT[rule]} (git check-ref-format)`;
    throw new DomainError('VALIDATION_FAILED', message, [{ field, rule, message }]);
  }
  return name;
}
