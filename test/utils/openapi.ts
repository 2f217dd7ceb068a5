import { randomUUID } from 'node:crypto';

type Schema = Record<string, any>;

export interface Operation {
  method: string;
  path: string;
  operationId: string;
  requiredScope: string;
  parameters: Array<{ name: string; in: string; required?: boolean; schema?: Schema; example?: unknown }>;
  requestBody?: Schema;
}

/** Every operation of the OpenAPI document under `prefix`. */
export function operationsOf(document: Schema, prefix = '/api/'): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Schema>(document.paths)) {
    if (!path.startsWith(prefix)) continue;
    for (const [method, op] of Object.entries<Schema>(item)) {
      if (!op?.responses) continue;
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        requiredScope: op['x-required-scope'],
        parameters: op.parameters ?? [],
        requestBody: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return operations;
}

/**
 * A value that satisfies `schema`: its example when it has one, else the simplest valid value.
 * Object properties named in `ids` (required or not) get that id: a request naming given rows.
 */
export function sample(schema: Schema | undefined, document: Schema, depth = 0, ids: Record<string, string> = {}): unknown {
  if (!schema || depth > 8) return undefined;
  if (schema.$ref) return sample(resolve(schema.$ref, document), document, depth + 1, ids);
  if (schema.example !== undefined) return schema.example;
  if (schema.enum) return schema.enum[0];
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s: Schema) => sample(s, document, depth + 1, ids)));
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const name of schema.required ?? []) out[name] = ids[name] ?? sample(schema.properties?.[name], document, depth + 1, ids);
      for (const name of Object.keys(schema.properties ?? {})) if (name in ids) out[name] = ids[name];
      return out;
    }
    case 'array':
      return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, () => sample(schema.items, document, depth + 1, ids));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    default:
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      return 'sample';
  }
}

function resolve(ref: string, document: Schema): Schema {
  return ref.replace(/^#\//, '').split('/').reduce((node: Schema, key) => node[key], document);
}
