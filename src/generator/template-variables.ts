import { DomainError, ErrorDetail } from '../common/domain-error.js';
import { TemplateVariable, toCase } from './template-definition.js';
import { VARIABLE_NAME } from './template-renderer.js';

export interface VariableLimits {
  /** MAX_TEMPLATE_VARIABLES */
  maxVariables: number;
  /** MAX_TEMPLATE_VARIABLE_BYTES */
  maxValueBytes: number;
}

const invalid = (details: ErrorDetail[]) =>
  new DomainError('TEMPLATE_VARIABLE_INVALID', details.slice(0, 5).map((d) => d.message).join('; ') + (details.length > 5 ? ` (and ${details.length - 5} more)` : ''), details);

const shown = (name: string) => JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);

/**
 * Checks what the caller passed, before any template is read: a flat object of at most
 * MAX_TEMPLATE_VARIABLES string values, each at most MAX_TEMPLATE_VARIABLE_BYTES, with names a
 * template can use. Returns the values with the template's defaults and derived values added.
 */
export function resolveVariables(definitions: readonly TemplateVariable[], given: unknown, limits: VariableLimits): Map<string, string> {
  const input = given ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw invalid([{ field: 'variables', rule: 'type', message: 'variables must be an object of string values' }]);
  }
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length > limits.maxVariables) {
    throw invalid([{ field: 'variables', rule: 'max-variables', message: `variables has ${entries.length} entries; MAX_TEMPLATE_VARIABLES is ${limits.maxVariables}` }]);
  }
  const details: ErrorDetail[] = [];
  for (const [name, value] of entries) {
    const field = `variables.${name.slice(0, 80)}`;
    if (!VARIABLE_NAME.test(name)) {
      details.push({ field, rule: 'name', message: `variable name ${shown(name)} must be a letter followed by up to 63 letters, digits or underscores` });
    } else if (typeof value !== 'string') {
      details.push({ field, rule: 'type', message: `${field} must be a string` });
    } else if (Buffer.byteLength(value) > limits.maxValueBytes) {
      details.push({ field, rule: 'max-bytes', message: `${field} is ${Buffer.byteLength(value)} bytes; MAX_TEMPLATE_VARIABLE_BYTES is ${limits.maxValueBytes}` });
    }
  }
  if (details.length > 0) throw invalid(details);

  const values = new Map(entries as Array<[string, string]>);
  for (const variable of definitions) {
    if (!values.has(variable.name) && variable.default !== undefined) values.set(variable.name, variable.default);
  }
  for (const variable of definitions) {
    const source = variable.derive && values.get(variable.derive.from);
    if (!values.has(variable.name) && source !== undefined && variable.derive) values.set(variable.name, toCase(source, variable.derive.case));
  }
  for (const variable of definitions) {
    const value = values.get(variable.name);
    if (value === undefined || !variable.pattern) continue;
    if (!new RegExp(`^(?:${variable.pattern})$`, 'u').test(value)) {
      const field = `variables.${variable.name}`;
      const hint = variable.patternHint ?? `must match /${variable.pattern}/`;
      details.push({ field, rule: 'pattern', message: `${field} ${shown(value)} ${hint}` });
    }
  }
  if (details.length > 0) throw invalid(details);
  return values;
}

/**
 * After the template was read: every variable it uses (or declares without a default) must have a
 * value, and every variable passed must be one it uses or declares.
 */
export function checkVariablesUsed(
  definitions: readonly TemplateVariable[],
  used: ReadonlySet<string>,
  given: Iterable<string>,
  values: ReadonlyMap<string, string>,
): void {
  const declared = new Map(definitions.map((variable) => [variable.name, variable]));
  const unknown = [...given].filter((name) => !used.has(name) && !declared.has(name));
  const needed = new Set([...used, ...definitions.map((variable) => variable.name)]);
  const missing = [...needed].filter((name) => !values.has(name)).sort();
  if (missing.length > 0) {
    const details = missing.map((name) => ({
      field: `variables.${name}`,
      rule: 'required',
      message: `variables.${name} is required${declared.get(name)?.description ? ` (${declared.get(name)!.description})` : ''}`,
    }));
    const also = unknown.length > 0 ? `; the template does not use ${unknown.map((name) => `"${name}"`).join(', ')}` : '';
    throw new DomainError('TEMPLATE_VARIABLE_MISSING', `Missing template variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}${also}`, details);
  }
  if (unknown.length > 0) {
    throw invalid(unknown.map((name) => ({ field: `variables.${name}`, rule: 'unknown', message: `variables.${name} is not used by this template` })));
  }
}

/** A value rendered into a path must stay one name: no separators, no "." or ".." segment. */
export function checkPathValue(name: string, value: string, templatePath: string): void {
  const field = `variables.${name}`;
  const where = `is used in the path ${shown(templatePath)}`;
  if (value.includes('/') || value.includes('\\')) {
    throw invalid([{ field, rule: 'path-separator', message: `${field} ${where}, so it must not contain "/" or "\\"` }]);
  }
  if (value === '.' || value === '..') {
    throw invalid([{ field, rule: 'dot-segment', message: `${field} ${where}, so it must not be "." or ".."` }]);
  }
}
