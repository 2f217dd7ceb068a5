import { expectError, expectErrorDetail } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

describe('service', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('health', () => {
    it('answers GET /health with 200 and the database up', async () => {
      const res = await t.api.get('/health').expect(200);
      expect(res.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
    });

    it('answers GET /health/live with 200 without touching the database', async () => {
      const res = await t.api.get('/health/live').expect(200);
      expect(res.body).toEqual({ status: 'ok' });
    });

    it('serves health outside the /api prefix only', async () => {
      expectError(await t.api.get('/api/health'), 404, 'ROUTE_NOT_FOUND');
    });
  });

  describe('documentation', () => {
    it('serves Swagger UI at /docs as HTML', async () => {
      const res = await t.api.get('/docs').redirects(0);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toMatch(/swagger-ui/i);
    });

    it('serves the OpenAPI document at /docs-json', async () => {
      const res = await t.api.get('/docs-json').expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.openapi).toMatch(/^3\./);
      expect(res.body.info.title).toBe('Forgeline');
      expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/health', '/api/projects', '/api/projects/{id}', '/api/projects/{id}/files']));
    });

    it('gives every operation a unique camelCase operationId', async () => {
      const document = (await t.api.get('/docs-json').expect(200)).body;
      const ids: string[] = [];
      const missing: string[] = [];
      for (const [path, item] of Object.entries<Record<string, { operationId?: string }>>(document.paths)) {
        for (const method of Object.keys(item).filter((m) => HTTP_METHODS.includes(m))) {
          const id = item[method].operationId;
          if (!id) missing.push(`${method.toUpperCase()} ${path}`);
          else ids.push(id);
        }
      }
      expect(missing).toEqual([]);
      expect(ids.length).toBeGreaterThan(10);
      const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
      expect(duplicates).toEqual([]);
      for (const id of ids) expect(id).toMatch(/^[a-z]+[A-Za-z0-9]*$/);
      expect(ids).toEqual(expect.arrayContaining([
        'createProject', 'listProjects', 'getProject', 'updateProject', 'deleteProject',
        'upsertProjectFiles', 'listProjectFiles', 'getProjectFileContent', 'deleteProjectFile', 'moveProjectFiles',
        'getHealth', 'getLiveness',
      ]));
    });
  });

  describe('request ids', () => {
    it('answers every response with an x-request-id', async () => {
      const first = await t.api.get('/health/live').expect(200);
      const second = await t.api.get('/api/projects').expect(200);
      expect(first.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(second.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
    });

    it('echoes a given x-request-id', async () => {
      const res = await t.api.get('/api/projects').set('x-request-id', 'trace-abc.123:x_y').expect(200);
      expect(res.headers['x-request-id']).toBe('trace-abc.123:x_y');
    });

    it('echoes a given x-request-id on an error too', async () => {
      const res = await t.api.get('/api/nowhere').set('x-request-id', 'err-42');
      expectError(res, 404, 'ROUTE_NOT_FOUND');
      expect(res.headers['x-request-id']).toBe('err-42');
    });

    it('replaces an x-request-id that is not sane with a fresh one', async () => {
      const res = await t.api.get('/health/live').set('x-request-id', `bad id <script>${'x'.repeat(200)}`).expect(200);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('errors', () => {
    it('answers an unknown route with 404 in the common error shape', async () => {
      expectError(await t.api.get('/api/does-not-exist'), 404, 'ROUTE_NOT_FOUND');
      expectError(await t.api.get('/does-not-exist'), 404, 'ROUTE_NOT_FOUND');
      expectError(await t.api.post('/api/projects/00000000-0000-4000-8000-000000000000/unknown').send({}), 404, 'ROUTE_NOT_FOUND');
    });

    it('answers malformed JSON with 400 in the common error shape', async () => {
      const res = await t.api.post('/api/projects').set('content-type', 'application/json').send('{"name": ');
      expectError(res, 400, 'BAD_REQUEST');
      expect(res.body.message).toMatch(/JSON/);
    });

    it.each([
      ['a jsonb field', '/api/projects', '{"name": "p", "metadata": {"note": "\\ud800"}}', 'metadata.note'],
      ['a text field', '/api/projects', '{"name": "\\udc00 p"}', 'name'],
      ['a key', '/api/projects', '{"name": "p", "metadata": {"\\ud83d": 1}}', 'metadata.\ud83d'],
    ])('answers a lone UTF-16 surrogate in %s with 400 naming it, storing nothing', async (_label, path, body, field) => {
      const before = (await t.api.get('/api/projects').expect(200)).body.total;
      const res = await t.api.post(path).set('content-type', 'application/json').send(body);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field, rule: 'well-formed-unicode' });
      expect((await t.api.get('/api/projects').expect(200)).body.total).toBe(before);
    });

    it('takes a surrogate pair (an emoji written as two escapes) as the character it is', async () => {
      const res = await t.api.post('/api/projects').set('content-type', 'application/json').send('{"name": "rocket \\ud83d\\ude80"}').expect(201);
      expect(res.body.name).toBe('rocket \u{1F680}');
    });

    it('answers an unsupported body type with 415 in the common error shape', async () => {
      const res = await t.api.post('/api/projects').set('content-type', 'application/xml').send('<name>x</name>');
      expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });
});
