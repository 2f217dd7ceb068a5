import Mustache from 'mustache';
import type { OpeningAndClosingTags } from 'mustache';
import { isUtf8 } from 'node:buffer';
import { DomainError } from '../common/domain-error.js';

/**
 * The template language: Mustache's syntax, parsed by mustache.js, rendered here. Only plain
 * variables (`{{name}}`, `{{{name}}}`, `{{&name}}`), comments and delimiter changes are allowed.
 * Values are strings inserted verbatim (no HTML escaping: templates render source code) and are
 * looked up in a Map, never on an object, so no template text can reach a prototype, a
 * constructor, `process` or a function: dotted names, sections (Mustache's lambdas) and partials
 * are refused with TEMPLATE_INVALID instead of being evaluated.
 */

/** A template variable's name: a letter, then letters, digits or underscores. */
export const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

const TAGS: OpeningAndClosingTags = ['{{', '}}'];

export type TemplatePart = string | { variable: string };

export interface CompiledTemplate {
  parts: TemplatePart[];
  /** Each variable the template uses, once. */
  variables: string[];
  /** UTF-8 bytes of the literal text: the rendered size is this plus each inserted value. */
  literalBytes: number;
}

type Token = [type: string, value: string, start: number, end: number, ...rest: unknown[]];

const NO_CACHE = { set: () => undefined, get: () => undefined, clear: () => undefined };
/** A parser of its own with no cache: mustache.js would otherwise keep every template text ever parsed. */
const parser = Object.assign(new Mustache.Writer(), { templateCache: NO_CACHE });

const UNSUPPORTED: Record<string, { rule: string; what: string }> = {
  '#': { rule: 'section', what: 'sections ({{#…}})' },
  '^': { rule: 'section', what: 'inverted sections ({{^…}})' },
  '/': { rule: 'section', what: 'section ends ({{/…}})' },
  '>': { rule: 'partial', what: 'partials ({{>…}})' },
};

export function templateInvalid(field: string, rule: string, message: string): DomainError {
  return new DomainError('TEMPLATE_INVALID', message, [{ field, rule, message }]);
}

const RAW_HINT = 'templates only insert variables; to copy this file untouched, list it in .forgeline-raw';

/** Parses `text` (a file's content or path) into literal parts and variables; `field` names it in errors. */
export function compileTemplate(text: string, field: string): CompiledTemplate {
  if (!text.includes(TAGS[0])) return { parts: [text], variables: [], literalBytes: Buffer.byteLength(text) };
  let tokens: Token[];
  try {
    tokens = parser.parse(text, TAGS) as Token[];
  } catch (error) {
    throw templateInvalid(field, 'syntax', `${field}: ${(error as Error).message}; ${RAW_HINT}`);
  }
  const parts: TemplatePart[] = [];
  const variables = new Set<string>();
  let literalBytes = 0;
  for (const [type, value, start] of tokens) {
    if (type === 'text') {
      parts.push(value);
      literalBytes += Buffer.byteLength(value);
    } else if (type === 'name' || type === '&') {
      if (!VARIABLE_NAME.test(value)) {
        const shown = JSON.stringify(value.slice(0, 80));
        throw templateInvalid(field, 'expression', `${field}: {{${value.slice(0, 80)}}} at offset ${start} is not a plain variable name (${shown}): ${RAW_HINT}`);
      }
      parts.push({ variable: value });
      variables.add(value);
    } else if (type === '!' || type === '=') {
      continue;
    } else {
      const unsupported = UNSUPPORTED[type] ?? { rule: 'tag', what: `"${type}" tags` };
      throw templateInvalid(field, unsupported.rule, `${field}: ${unsupported.what} are not supported (at offset ${start}): ${RAW_HINT}`);
    }
  }
  return { parts, variables: [...variables], literalBytes };
}

/** The rendered size in bytes, computed without rendering (so a huge result is refused before it is built). */
export function renderedBytes(template: CompiledTemplate, values: ReadonlyMap<string, string>): number {
  let bytes = template.literalBytes;
  for (const part of template.parts) {
    if (typeof part !== 'string') bytes += Buffer.byteLength(values.get(part.variable) ?? '');
  }
  return bytes;
}

/** Renders a compiled template; every variable must have a value (the caller checked). */
export function renderTemplate(template: CompiledTemplate, values: ReadonlyMap<string, string>): string {
  if (template.variables.length === 0) return template.parts.join('');
  let out = '';
  for (const part of template.parts) {
    if (typeof part === 'string') out += part;
    else {
      const value = values.get(part.variable);
      if (value === undefined) throw new Error(`renderTemplate: no value for "${part.variable}"`);
      out += value;
    }
  }
  return out;
}

/** Binary files (a NUL byte, or not UTF-8) are copied untouched, never rendered. */
export function isBinary(content: Buffer): boolean {
  return content.includes(0) || !isUtf8(content);
}
