import type { Scope } from '../access/api-key.entity.js';
import { defaultScope } from '../access/auth-context.js';
import { EXPLICIT_ONLY } from '../common/explicit-only.js';
import type { JsonSchema } from './json-schema.js';
import { writeOnlyPaths } from './write-only.js';

type Node = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
/** Anthropic's rule for tool names. */
export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Anthropic's rule for the property keys of a tool's input_schema. */
export const PROPERTY_KEY = /^[a-zA-Z0-9_.-]{1,64}$/;
const MAX_DEPTH = 12;
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs']);
/** Keywords whose value is data, never a schema. */
const LITERAL_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'required']);

/** How a tool's input maps onto the HTTP request. */
export interface HttpBinding {
  method: string;
  /** The OpenAPI path template, e.g. /api/projects/{id}/files. */
  path: string;
  pathParams: string[];
  queryParams: string[];
  /** merged: the body's properties sit at the top level; nested: under `body`; none: no body. */
  body: 'merged' | 'nested' | 'none';
  bodyKeys: string[];
}

export interface OpenApiTool {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  /** Why only an exact allow-list entry reaches it, or null when a pattern may. */
  explicitOnlyReason: string | null;
  requiredScope: Scope;
  /** Where its input has `writeOnly: true` fields (see write-only.ts). */
  writeOnlyPaths: string[][];
  binding: HttpBinding;
}

/**
 * Why an operation is reached only by its exact name, or null: what its module declared
 * (`x-explicit-only`, set by @ExplicitOnly), else its being a DELETE or needing the admin scope.
 */
export function explicitOnlyReason(method: string, operation: Node, requiredScope: Scope): string | null {
  const declared = operation[EXPLICIT_ONLY];
  if (typeof declared === 'string' && declared) return declared;
  if (declared === true) return 'declared explicit-only';
  if (method === 'DELETE') return 'deletes';
  if (requiredScope === 'admin') return 'needs the admin scope';
  return null;
}

/**
 * One tool per operation that has an operationId: named after it, described by its summary,
 * its input one object of the path and query parameters and the JSON body, $refs inlined.
 */
export function toolsFromOpenApi(document: Node, options: { pathPrefix?: string } = {}): OpenApiTool[] {
  const tools: OpenApiTool[] = [];
  for (const [path, item] of Object.entries<Node>(document.paths ?? {})) {
    if (options.pathPrefix && !path.startsWith(options.pathPrefix)) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation?.operationId || !TOOL_NAME.test(operation.operationId)) continue;
      tools.push(toolOf(document, path, method, item, operation));
    }
  }
  return tools.sort((a, b) => a.name.localeCompare(b.name));
}

function toolOf(document: Node, path: string, method: string, item: Node, operation: Node): OpenApiTool {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const pathParams: string[] = [];
  const queryParams: string[] = [];
  const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map((p: Node) => (p.$ref ? deref(document, p.$ref) : p));
  for (const parameter of parameters) {
    if (parameter.in !== 'path' && parameter.in !== 'query') continue;
    const schema = inline(document, parameter.schema ?? { type: 'string' }, []);
    if (parameter.description && !schema.description) schema.description = parameter.description;
    if (parameter.example !== undefined && schema.examples === undefined) schema.examples = [parameter.example];
    properties[parameter.name] = schema;
    (parameter.in === 'path' ? pathParams : queryParams).push(parameter.name);
    if (parameter.required || parameter.in === 'path') required.push(parameter.name);
  }
  let body: HttpBinding['body'] = 'none';
  let bodyKeys: string[] = [];
  const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
  if (bodySchema) {
    const schema = inline(document, bodySchema, []);
    const bodyProperties = schema.type === 'object' && schema.properties && !schema.oneOf && !schema.anyOf ? (schema.properties as Record<string, JsonSchema>) : null;
    if (bodyProperties && Object.keys(bodyProperties).every((key) => !(key in properties))) {
      body = 'merged';
      bodyKeys = Object.keys(bodyProperties);
      Object.assign(properties, bodyProperties);
      required.push(...((schema.required as string[] | undefined) ?? []));
    } else {
      body = 'nested';
      bodyKeys = ['body'];
      properties.body = schema;
      if (operation.requestBody.required) required.push('body');
    }
  }
  const requiredScope: Scope = operation['x-required-scope'] ?? defaultScope(method.toUpperCase());
  const upper = method.toUpperCase();
  const inputSchema: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (required.length > 0) inputSchema.required = [...new Set(required)];
  return {
    name: operation.operationId,
    description: [operation.summary, `(${upper} ${path})`].filter(Boolean).join(' '),
    inputSchema,
    explicitOnlyReason: explicitOnlyReason(upper, operation, requiredScope),
    requiredScope,
    writeOnlyPaths: writeOnlyPaths(inputSchema),
    binding: { method: upper, path, pathParams, queryParams, body, bodyKeys },
  };
}

function deref(document: Node, ref: string): Node {
  if (!ref.startsWith('#/')) return {};
  return ref
    .slice(2)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((node: Node | undefined, key) => node?.[key], document) ?? {};
}

/**
 * A copy of `schema` with every $ref replaced by its target. A reference cycle becomes `{}`
 * (anything) at the point it repeats. OpenAPI's `nullable` and `example` become JSON Schema.
 */
export function inline(document: Node, schema: Node, seen: string[]): Node {
  if (Array.isArray(schema)) return schema.map((entry) => inline(document, entry, seen)) as unknown as Node;
  if (!schema || typeof schema !== 'object') return schema;
  if (typeof schema.$ref === 'string') {
    if (seen.includes(schema.$ref) || seen.length > MAX_DEPTH) return {};
    const { $ref, ...siblings } = schema;
    return { ...inline(document, deref(document, $ref), [...seen, $ref]), ...inline(document, siblings, seen) };
  }
  const out: Node = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'nullable' || key === 'xml' || key === 'externalDocs' || key.startsWith('x-')) continue;
    if (key === 'example') {
      if (schema.examples === undefined) out.examples = [value];
      continue;
    }
    if (SCHEMA_MAPS.has(key) && value && typeof value === 'object') {
      // A map of names to schemas: its keys are property names, not keywords.
      out[key] = Object.fromEntries(Object.entries(value as Node).map(([name, sub]) => [name, inline(document, sub, seen)]));
      continue;
    }
    out[key] = value && typeof value === 'object' && !LITERAL_KEYWORDS.has(key) ? inline(document, value, seen) : value;
  }
  if (schema.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

/**
 * Why a path parameter cannot be sent, or null. "." and ".." (even percent-encoded) are dot
 * segments that URL parsing resolves, which would change the route the call reaches.
 */
export function pathParamProblem(binding: HttpBinding, input: Record<string, unknown>): string | null {
  for (const name of binding.pathParams) {
    const value = String(input[name] ?? '');
    if (value === '' || /^(\.|%2e){1,2}$/i.test(value)) return `path parameter "${name}" must not be empty, "." or ".."`;
  }
  return null;
}

/** The request a tool input stands for: path filled in, query string, body. */
export function toRequest(binding: HttpBinding, input: Record<string, unknown>): { path: string; query: URLSearchParams; body: unknown } {
  const path = binding.path.replace(/\{(\w+)\}/g, (_match, name: string) => encodeURIComponent(String(input[name] ?? '')));
  const query = new URLSearchParams();
  for (const name of binding.queryParams) {
    const value = input[name];
    if (value === undefined || value === null) continue;
    for (const entry of Array.isArray(value) ? value : [value]) query.append(name, typeof entry === 'object' ? JSON.stringify(entry) : String(entry));
  }
  let body: unknown;
  if (binding.body === 'nested') body = input.body;
  else if (binding.body === 'merged') {
    const merged: Record<string, unknown> = {};
    for (const key of binding.bodyKeys) if (input[key] !== undefined) merged[key] = input[key];
    body = merged;
  }
  return { path, query, body };
}
