import { pathParamProblem, toolsFromOpenApi, toRequest } from './openapi-tools.js';

const document = {
  paths: {
    '/api/things/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
      put: {
        operationId: 'replaceThing',
        summary: 'Replace a thing',
        parameters: [
          { name: 'dryRun', in: 'query', required: false, schema: { type: 'boolean' } },
          { name: 'If-Match', in: 'header', schema: { type: 'string' } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ThingDto' } } } },
      },
      delete: { operationId: 'deleteThing', summary: 'Delete a thing' },
    },
    '/api/clashes/{name}': {
      post: {
        operationId: 'clash',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { name: { type: 'string' } } } } } },
      },
    },
    '/api/keys': { post: { operationId: 'makeKey', tags: ['access'], 'x-required-scope': 'admin' } },
    '/api/jobs': {
      post: {
        operationId: 'startJob',
        tags: ['things'],
        'x-explicit-only': 'starts automation',
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/JobDto' } } } },
      },
    },
    '/api/no-id': { get: { summary: 'No operationId: no tool' } },
    '/health': { get: { operationId: 'getHealth' } },
  },
  components: {
    schemas: {
      ThingDto: {
        type: 'object',
        required: ['label'],
        properties: {
          label: { type: 'string', example: 'a label', nullable: true },
          parent: { $ref: '#/components/schemas/ThingDto' },
          tags: { type: 'array', items: { $ref: '#/components/schemas/TagDto' } },
          example: { type: 'string', description: 'a property named like a keyword' },
        },
      },
      TagDto: { type: 'object', properties: { name: { type: 'string', enum: ['a', 'b'] } } },
      JobDto: { type: 'object', properties: { name: { type: 'string' }, remote: { description: 'where', allOf: [{ $ref: '#/components/schemas/RemoteDto' }] } } },
      RemoteDto: { type: 'object', properties: { url: { type: 'string' }, token: { type: 'string', writeOnly: true } } },
    },
  },
};

describe('toolsFromOpenApi', () => {
  const tools = new Map(toolsFromOpenApi(document, { pathPrefix: '/api/' }).map((tool) => [tool.name, tool]));

  it('makes one tool per operation with an operationId under the prefix, named after it', () => {
    expect([...tools.keys()].sort()).toEqual(['clash', 'deleteThing', 'makeKey', 'replaceThing', 'startJob']);
    expect(tools.get('replaceThing')!.description).toBe('Replace a thing (PUT /api/things/{id})');
  });

  it('merges path and query parameters with the JSON body, $refs resolved and a cycle cut', () => {
    const schema = tools.get('replaceThing')!.inputSchema as any;
    expect(Object.keys(schema.properties)).toEqual(['id', 'dryRun', 'label', 'parent', 'tags', 'example']);
    expect(schema.required).toEqual(['id', 'label']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.label).toEqual({ type: ['string', 'null'], examples: ['a label'] });
    expect(schema.properties.tags.items.properties.name.enum).toEqual(['a', 'b']);
    expect(schema.properties.parent).toEqual({});
    expect(schema.properties.example).toEqual({ type: 'string', description: 'a property named like a keyword' });
    expect(JSON.stringify(schema)).not.toContain('$ref');
    expect(tools.get('replaceThing')!.binding).toMatchObject({ method: 'PUT', pathParams: ['id'], queryParams: ['dryRun'], body: 'merged' });
  });

  it('knows where its input has write-only fields, through $refs and allOf', () => {
    expect(tools.get('startJob')!.writeOnlyPaths).toEqual([['remote', 'token']]);
    expect(tools.get('replaceThing')!.writeOnlyPaths).toEqual([]);
  });

  it('nests the body under `body` when a body field would clash with a parameter', () => {
    const tool = tools.get('clash')!;
    expect(tool.binding.body).toBe('nested');
    expect(Object.keys((tool.inputSchema as any).properties)).toEqual(['name', 'body']);
  });

  it('makes explicit-only what its module declared (x-explicit-only), every delete and every admin operation; tags play no part', () => {
    expect(tools.get('startJob')!).toMatchObject({ explicitOnlyReason: 'starts automation', requiredScope: 'write' });
    expect(tools.get('deleteThing')!.explicitOnlyReason).toBe('deletes');
    expect(tools.get('makeKey')!).toMatchObject({ explicitOnlyReason: 'needs the admin scope', requiredScope: 'admin' });
    expect(tools.get('replaceThing')!).toMatchObject({ explicitOnlyReason: null, requiredScope: 'write' });
    expect(tools.get('clash')!.explicitOnlyReason).toBeNull();
  });
});

describe('pathParamProblem', () => {
  it('refuses empty and dot-segment path parameters, which would change the route', () => {
    const [tool] = toolsFromOpenApi(document).filter((t) => t.name === 'replaceThing');
    for (const id of ['', '.', '..', '%2e%2E', '.%2e']) expect([id, pathParamProblem(tool.binding, { id })]).toEqual([id, expect.stringContaining('"id"')]);
    expect(pathParamProblem(tool.binding, { id: '...' })).toBeNull();
    expect(pathParamProblem(tool.binding, { id: 'a1' })).toBeNull();
  });
});

describe('toRequest', () => {
  it('fills the path, builds the query and separates the body', () => {
    const [tool] = toolsFromOpenApi(document).filter((t) => t.name === 'replaceThing');
    const request = toRequest(tool.binding, { id: 'a/b', dryRun: true, label: 'x', tags: [] });
    expect(request.path).toBe('/api/things/a%2Fb');
    expect(request.query.toString()).toBe('dryRun=true');
    expect(request.body).toEqual({ label: 'x', tags: [] });
  });
});
