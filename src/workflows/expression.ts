/**
 * The `${{ … }}` expressions of step configs: property paths and nothing else. No code runs, no
 * operator, call or computed key exists, and a path can only walk own properties of plain JSON
 * data (objects and arrays), so nothing reaches a prototype: `__proto__`, `constructor` and
 * `prototype` are refused when parsed and again when walked.
 *
 *   ${{ input.repo.name }}            the run's input
 *   ${{ steps.build.output.files[0] }}  an upstream step's output (also `.status`)
 *   ${{ secrets.GITHUB_TOKEN }}        a workspace secret (masked wherever it would show)
 *
 * A string that is exactly one expression takes the value's own type (an object stays an
 * object); an expression inside longer text is interpolated (objects as JSON, missing as "").
 */

export type Root = 'input' | 'steps' | 'secrets';
export const ROOTS: readonly Root[] = ['input', 'steps', 'secrets'];
/** What a step can read of an upstream step. */
export const STEP_FIELDS = ['output', 'status'] as const;
export const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

export type Segment = string | number;

export interface PathExpression {
  root: Root;
  segments: Segment[];
  /** The source between `${{` and `}}`, trimmed. */
  text: string;
}

/** A string value split into literal text and expressions. */
export interface ParsedString {
  parts: Array<string | PathExpression>;
  /** The whole string is one expression (its value keeps its type). */
  whole: boolean;
}

export class ExpressionError extends Error {
  constructor(
    readonly rule: string,
    message: string,
    /** Where in the config, when known (`config.files[0].path`). */
    readonly pointer?: string,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

const OPEN = '${{';
const CLOSE = '}}';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/** True when `value` is a string that holds at least one `${{`. */
export function hasExpression(value: unknown): value is string {
  return typeof value === 'string' && value.includes(OPEN);
}

/** Splits `value` into text and parsed expressions; throws ExpressionError on bad syntax. */
export function parseString(value: string): ParsedString {
  const parts: Array<string | PathExpression> = [];
  let position = 0;
  while (position < value.length) {
    const open = value.indexOf(OPEN, position);
    if (open === -1) {
      parts.push(value.slice(position));
      break;
    }
    if (open > position) parts.push(value.slice(position, open));
    const close = value.indexOf(CLOSE, open + OPEN.length);
    if (close === -1) throw new ExpressionError('expression-syntax', `"${clip(value.slice(open))}" has no closing "}}"`);
    parts.push(parsePath(value.slice(open + OPEN.length, close)));
    position = close + CLOSE.length;
  }
  return { parts, whole: parts.length === 1 && typeof parts[0] !== 'string' };
}

/** Parses the inside of `${{ … }}`: a root, then `.name`, `[0]` or `["name"]` segments. */
export function parsePath(source: string): PathExpression {
  const text = source.trim();
  const fail = (rule: string, why: string): never => {
    throw new ExpressionError(rule, `\${{ ${clip(text)} }}: ${why}`);
  };
  if (text.length === 0) fail('expression-syntax', 'the expression is empty');
  let rest = text;
  const rootMatch = IDENTIFIER.exec(rest);
  if (!rootMatch) fail('expression-syntax', 'an expression is a property path such as input.name or steps.build.output.sha');
  const root = rootMatch![0];
  if (!ROOTS.includes(root as Root)) fail('expression-root', `"${clip(root)}" is not one of ${ROOTS.join(', ')}`);
  rest = rest.slice(root.length);
  const segments: Segment[] = [];
  while (rest.length > 0) {
    if (rest[0] === '.') {
      const name = IDENTIFIER.exec(rest.slice(1));
      if (!name) fail('expression-syntax', `expected a property name after "." at "${clip(rest)}"`);
      segments.push(name![0]);
      rest = rest.slice(1 + name![0].length);
    } else if (rest[0] === '[') {
      const index = /^\[\s*(\d{1,9})\s*\]/.exec(rest);
      const quoted = /^\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\]/.exec(rest);
      if (index) {
        segments.push(Number(index[1]));
        rest = rest.slice(index[0].length);
      } else if (quoted) {
        segments.push((quoted[1] ?? quoted[2]).replace(/\\(.)/g, '$1'));
        rest = rest.slice(quoted[0].length);
      } else {
        fail('expression-syntax', `"[" must hold an index or a quoted name, at "${clip(rest)}"`);
      }
    } else {
      fail('expression-syntax', `unexpected "${clip(rest)}": only property paths are allowed (no operators, calls or spaces inside)`);
    }
  }
  for (const segment of segments) {
    if (typeof segment === 'string' && FORBIDDEN_SEGMENTS.has(segment)) fail('forbidden-segment', `"${segment}" may not appear in a path`);
  }
  const expression: PathExpression = { root: root as Root, segments, text };
  if (expression.root === 'secrets') {
    if (segments.length !== 1 || typeof segments[0] !== 'string' || !SECRET_NAME.test(segments[0])) {
      fail('expression-secret', 'a secret is read as secrets.NAME (letters, digits and "_")');
    }
  }
  if (expression.root === 'steps') {
    if (segments.length < 2 || typeof segments[0] !== 'string') fail('expression-step', 'a step is read as steps.<id>.output… or steps.<id>.status');
    const field = segments[1];
    if (!STEP_FIELDS.includes(field as (typeof STEP_FIELDS)[number])) fail('expression-step', `steps.<id>.${String(field)}: only ${STEP_FIELDS.join(' and ')} can be read`);
    if (field === 'status' && segments.length > 2) fail('expression-step', 'steps.<id>.status has no properties');
  }
  return expression;
}

/** Where an expression sits in a config: a JSON-pointer-like path for messages. */
export interface FoundExpression {
  pointer: string;
  expression: PathExpression;
}

/**
 * Every expression in `value` (a config), with where it is. Throws ExpressionError, with the
 * pointer in its message, on the first bad one.
 */
export function findExpressions(value: unknown, pointer = ''): FoundExpression[] {
  const found: FoundExpression[] = [];
  walk(value, pointer, (text, at) => {
    try {
      for (const part of parseString(text).parts) if (typeof part !== 'string') found.push({ pointer: at, expression: part });
    } catch (error) {
      if (error instanceof ExpressionError) throw new ExpressionError(error.rule, `${at || '(value)'}: ${error.message}`, at);
      throw error;
    }
  });
  return found;
}

function walk(value: unknown, pointer: string, visit: (text: string, pointer: string) => void): void {
  if (hasExpression(value)) visit(value, pointer);
  else if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${pointer}[${index}]`, visit));
  else if (isPlainObject(value)) for (const [key, item] of Object.entries(value)) walk(item, pointer ? `${pointer}.${key}` : key, visit);
}

/** What expressions read. `steps` holds upstream steps only; `secrets` the revealed values. */
export interface Scope {
  input: unknown;
  steps: Record<string, { output?: unknown; status?: string }>;
  secrets: Record<string, string>;
}

export interface ResolveLimits {
  /** Largest resolved value, in characters of its JSON (MAX_STEP_CONFIG_BYTES). */
  maxChars: number;
}

/** The value of one path in `scope`, or undefined when any segment is missing. */
export function evaluate(expression: PathExpression, scope: Scope): unknown {
  let current: unknown = scope[expression.root];
  for (const segment of expression.segments) {
    current = child(current, segment);
    if (current === undefined) return undefined;
  }
  return current;
}

/** Own properties of plain data only: never a prototype, a getter or a function. */
function child(container: unknown, segment: Segment): unknown {
  if (typeof segment === 'string' && FORBIDDEN_SEGMENTS.has(segment)) return undefined;
  if (Array.isArray(container)) {
    const index = typeof segment === 'number' ? segment : /^\d+$/.test(segment) ? Number(segment) : NaN;
    return Number.isInteger(index) && index < container.length ? container[index] : undefined;
  }
  if (isPlainObject(container)) {
    const key = String(segment);
    if (!Object.prototype.hasOwnProperty.call(container, key)) return undefined;
    const descriptor = Object.getOwnPropertyDescriptor(container, key);
    return descriptor && 'value' in descriptor && typeof descriptor.value !== 'function' ? descriptor.value : undefined;
  }
  return undefined;
}

/**
 * `value` with every expression replaced by what it names. Builds new objects (never mutates
 * `value`), and stops with an ExpressionError once the result grows past `limits.maxChars`.
 */
export function resolve(value: unknown, scope: Scope, limits: ResolveLimits): unknown {
  const budget = { left: limits.maxChars };
  const spend = (chars: number) => {
    budget.left -= chars;
    if (budget.left < 0) throw new ExpressionError('resolved-too-large', `the resolved config is larger than MAX_STEP_CONFIG_BYTES (${limits.maxChars})`);
  };
  const visit = (node: unknown): unknown => {
    if (hasExpression(node)) {
      const parsed = parseString(node);
      if (parsed.whole) {
        const result = evaluate(parsed.parts[0] as PathExpression, scope);
        spend(sizeOf(result));
        return result;
      }
      let text = '';
      for (const part of parsed.parts) {
        const piece = typeof part === 'string' ? part : stringify(evaluate(part, scope));
        spend(piece.length);
        text += piece;
      }
      return text;
    }
    if (Array.isArray(node)) return node.map((item) => {
      const resolved = visit(item);
      return resolved === undefined ? null : resolved;
    });
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) {
        const resolved = visit(item);
        if (resolved !== undefined) Object.defineProperty(out, key, { value: resolved, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (typeof node === 'string') spend(node.length);
    return node;
  };
  return visit(value);
}

/** `if:` semantics: a boolean, or a string whose resolved value is truthy ("false", "0" and "" are false). */
export function truthy(value: unknown): boolean {
  if (typeof value === 'string') return !['', 'false', '0', 'null', 'undefined'].includes(value.trim().toLowerCase());
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function sizeOf(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value === 'string') return value.length;
  return JSON.stringify(value)?.length ?? 0;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
