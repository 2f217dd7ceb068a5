import AjvModule from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';

export type JsonSchema = Record<string, unknown>;

// Both are CommonJS modules whose `default` is also the module itself.
const Ajv = AjvModule.default;
const addFormats = formatsModule.default;

/** One Ajv instance: OpenAPI-flavoured schemas carry keywords (example, format: binary) that strict mode refuses. */
const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateSchema: true });
addFormats(ajv);
ajv.addFormat('binary', true);

const compiled = new WeakMap<object, ValidateFunction>();

/** Compiles `schema` once (cached by identity) and validates `value` against it. */
export function validateAgainst(schema: JsonSchema, value: unknown): { valid: true } | { valid: false; errors: string[] } {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return { valid: true };
  return { valid: false, errors: describeErrors(validate.errors ?? []) };
}

/** Why `schema` is not a usable JSON Schema, or null when it compiles. */
export function schemaProblem(schema: unknown): string | null {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'must be a JSON Schema object';
  try {
    ajv.compile(schema as JsonSchema);
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
