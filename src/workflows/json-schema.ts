import AjvModule from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';
import { hasExpression, isPlainObject } from './expression.js';
import type { JsonSchema } from './step-executor.js';

// Both are CommonJS modules whose `default` is also the module itself.
const Ajv = AjvModule.default;
const addFormats = formatsModule.default;

export interface SchemaCheck {
  valid: boolean;
  /** `path message` lines, at most MAX_ERRORS. */
  errors: Array<{ path: string; keyword: string; message: string }>;
}

const MAX_ERRORS = 10;

/**
 * Stands for "a value an expression will give when the step starts" while a definition is
 * validated: the relaxed schema accepts it wherever a value goes.
 */
const PENDING = '\u0000forgeline:expression\u0000';

/** Compiles executors' schemas: strict (for resolved configs and outputs) and relaxed (for definitions). */
export class StepSchemaCompiler {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateSchema: true, useDefaults: false });

  constructor() {
    addFormats(this.ajv);
  }

  compile(schema: JsonSchema): (value: unknown) => SchemaCheck {
    return this.checker(this.ajv.compile(schema));
  }

  /**
   * For definitions: a string holding an expression can stand for any value, so it is replaced by
   * a marker the relaxed schema accepts anywhere; everything else is checked as usual.
   */
  compileRelaxed(schema: JsonSchema): (value: unknown) => SchemaCheck {
    const check = this.checker(this.ajv.compile(relax(schema) as JsonSchema));
    return (value) => check(markExpressions(value));
  }

  private checker(validate: ValidateFunction): (value: unknown) => SchemaCheck {
    return (value) => {
      if (validate(value)) return { valid: true, errors: [] };
      return { valid: false, errors: describe(validate.errors ?? []) };
    };
  }
}

function describe(errors: ErrorObject[]): SchemaCheck['errors'] {
  // The relaxed schema's anyOf adds noise ("must be equal to constant", "must match a schema in anyOf"): drop it.
  const useful = errors.filter((error) => !(error.keyword === 'const' && (error.params as { allowedValue?: unknown }).allowedValue === PENDING) && error.keyword !== 'anyOf');
  return (useful.length > 0 ? useful : errors).slice(0, MAX_ERRORS).map((error) => {
    const extra =
      error.keyword === 'additionalProperties'
        ? ` ("${String((error.params as { additionalProperty?: string }).additionalProperty)}")`
        : error.keyword === 'enum'
          ? ` (${((error.params as { allowedValues?: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')})`
          : '';
    return { path: jsonPointerToPath(error.instancePath), keyword: error.keyword, message: `${error.message ?? 'is invalid'}${extra}` };
  });
}

/** `/files/0/path` → `files[0].path` */
export function jsonPointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : path ? `${path}.${segment}` : segment), '');
}

function markExpressions(value: unknown): unknown {
  if (hasExpression(value)) return PENDING;
  if (Array.isArray(value)) return value.map(markExpressions);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) Object.defineProperty(out, key, { value: markExpressions(item), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_SINGLES = ['additionalProperties', 'items', 'contains', 'if', 'then', 'else', 'unevaluatedProperties', 'unevaluatedItems', 'propertyNames'];

/** Every subschema also accepts the expression marker. `not` is left as is (relaxing it would invert it). */
export function relax(schema: unknown): unknown {
  if (typeof schema === 'boolean') return schema;
  if (!isPlainObject(schema)) return schema;
  const copy: Record<string, unknown> = { ...schema };
  for (const key of SCHEMA_MAPS) {
    if (isPlainObject(copy[key])) copy[key] = Object.fromEntries(Object.entries(copy[key] as object).map(([name, sub]) => [name, relax(sub)]));
  }
  for (const key of SCHEMA_LISTS) if (Array.isArray(copy[key])) copy[key] = (copy[key] as unknown[]).map(relax);
  for (const key of SCHEMA_SINGLES) {
    if (key === 'propertyNames') continue;
    if (isPlainObject(copy[key])) copy[key] = relax(copy[key]);
    else if (key === 'items' && Array.isArray(copy[key])) copy[key] = (copy[key] as unknown[]).map(relax);
  }
  // A definition-only wrapper: $defs and $ref keep working because they sit inside the copy.
  if ('$id' in copy || '$schema' in copy || '$defs' in copy || 'definitions' in copy) return copy;
  return { anyOf: [{ const: PENDING }, copy] };
}
