import AjvModule from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';

export type JsonSchema = Record<string, unknown>;

// Both are CommonJS modules whose `default` is also the module itself.
const Ajv = AjvModule.default;
const addFormats = formatsModule.default;

/**
 * One Ajv instance: OpenAPI-flavoured schemas carry keywords (example, format: binary) that strict
 * mode refuses. Users' schemas (agents' output schemas) go through it too, so it keeps none of
 * them: no `$id` is registered (a second compile of a schema with an `$id` would fail), and each
 * compiled schema is removed from Ajv's own cache, which would otherwise grow with every run.
 */
const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateSchema: true, addUsedSchema: false });
addFormats(ajv);
ajv.addFormat('binary', true);

/** Compiled validators of the schemas seen last, by their JSON text (a run reads its agent's schema afresh). */
const MAX_CACHED_SCHEMAS = 256;
const byText = new Map<string, ValidateFunction>();
/** The same validators by schema object: the tools' schemas, checked on every tool call. */
const byIdentity = new WeakMap<object, ValidateFunction>();

function compile(schema: JsonSchema): ValidateFunction {
  let validate = byIdentity.get(schema);
  if (validate) return validate;
  const text = JSON.stringify(schema);
  validate = byText.get(text);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } finally {
      ajv.removeSchema(schema);
    }
    byText.set(text, validate);
    // A Map iterates in insertion order: the first key is the oldest.
    if (byText.size > MAX_CACHED_SCHEMAS) byText.delete(byText.keys().next().value!);
  }
  byIdentity.set(schema, validate);
  return validate;
}

/** Validates `value` against `schema` (compiled once). */
export function validateAgainst(schema: JsonSchema, value: unknown): { valid: true } | { valid: false; errors: string[] } {
  const validate = compile(schema);
  if (validate(value)) return { valid: true };
  return { valid: false, errors: describeErrors(validate.errors ?? []) };
}

/** Why `schema` is not a usable JSON Schema, or null when it compiles. */
export function schemaProblem(schema: unknown): string | null {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'must be a JSON Schema object';
  try {
    compile(schema as JsonSchema);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const MAX_ERRORS = 10;

function describeErrors(errors: ErrorObject[]): string[] {
  return errors.slice(0, MAX_ERRORS).map((error) => {
    const where = error.instancePath || '(input)';
    const extra = error.keyword === 'additionalProperties' ? ` "${String((error.params as { additionalProperty?: string }).additionalProperty)}"` : '';
    return `${where} ${error.message ?? 'is invalid'}${extra}`;
  });
}
