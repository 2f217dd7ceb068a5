import { Controller, Get, Module, Param } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DomainError } from '../../src/common/domain-error.js';
import { ParseUuid } from '../../src/common/parse-uuid.pipe.js';
import { WorkspaceScopedRepository } from '../../src/common/workspace-scoped.repository.js';
import { crossWorkspaceViolations, requestOf, Seed, seedTenants, send, Tenants, Workspace } from '../utils/cross-workspace.js';
import { expectErrorDetail } from '../utils/http.js';
import { operationsOf, Operation } from '../utils/openapi.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

describe('access: workspaces, API keys, scopes and secrets', () => {
  let t: TestApp;
  let document: Record<string, any>;
  let operations: Operation[];
  let tenants: Tenants;
  let a: Workspace;
  let b: Workspace;
  let seedB: Seed;
  let secretValue: string;
  const request = (op: Operation) => requestOf(op, document, seedB);

  async function keyOf(admin: string, scopes: string[]): Promise<{ id: string; token: string }> {
    const res = await t.as(admin).post('/api/api-keys').send({ name: scopes.join('+'), scopes }).expect(201);
    return res.body;
  }

  beforeAll(async () => {
    t = await startTestApp();
    document = (await t.api.get('/docs-json').expect(200)).body;
    operations = operationsOf(document);
    tenants = await seedTenants(t);
    ({ a, b, seedB, secretValue } = tenants);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('documents every /api route the server serves, each with the bearer scheme and a required scope', () => {
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(operations.length).toBeGreaterThan(10);
    // A route hidden from the document would escape every table-driven check below.
    const served = t.routes.filter((route) => route.split(' ')[1].startsWith('/api/')).sort();
    expect(served).toEqual(operations.map((op) => `${op.method} ${op.path}`).sort());
    for (const op of operations) {
      expect([op.operationId, op.requiredScope]).toEqual([op.operationId, expect.stringMatching(/^(read|write|admin)$/)]);
    }
  });

  it('documents every error response as JSON, also on routes that send files, archives or streams', () => {
    const wrong: string[] = [];
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>>)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const [status, response] of Object.entries(operation.responses ?? {})) {
          if (Number(status) >= 400 && Object.keys(response.content ?? {}).join() !== 'application/json') wrong.push(`${method.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(document.paths['/api/projects/{id}/files/content'].get.responses['304']).toBeDefined();
  });

  it('answers 401 with WWW-Authenticate: Bearer to every /api operation without a valid key', async () => {
    const { default: anonymous } = await import('supertest');
    for (const op of operations) {
      for (const [agent, challenge] of [
        [t.as('fl_not-a-real-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), 'Bearer realm="forgeline", error="invalid_token"'],
        [t.as('garbage'), 'Bearer realm="forgeline", error="invalid_token"'],
        [anonymous.agent(t.url), 'Bearer realm="forgeline"'],
      ] as const) {
        const res = await send(agent, op, request(op));
        expect([op.operationId, res.status, res.headers['www-authenticate'], res.body.code]).toEqual([op.operationId, 401, challenge, 'UNAUTHENTICATED']);
      }
    }
  });

  it('answers an unauthenticated request before reading its body', async () => {
    const { default: anonymous } = await import('supertest');
    // Not even parsed: malformed JSON without a key is a 401, not a 400.
    const res = await anonymous(t.url).post('/api/projects').set('content-type', 'application/json').send('{"name": ');
    expect([res.status, res.body.code]).toEqual([401, 'UNAUTHENTICATED']);
    // Also when the path is percent-encoded: the router decodes it to the same route.
    const encoded = await anonymous(t.url).post('/%61pi/projects').set('content-type', 'application/json').send('{"name": ');
    expect([encoded.status, encoded.body.code]).toEqual([401, 'UNAUTHENTICATED']);
  });

  it('keeps every row of workspace B out of reach of workspace A: B\'s ids answer like ids that exist nowhere, lists hold nothing of B', async () => {
    expect(await crossWorkspaceViolations(t, tenants, document, operations)).toEqual([]);
    // Nothing of B changed.
    const project = await t.as(b.read).get(`/api/projects/${seedB.projectId}`).expect(200);
    expect(project.body).toMatchObject({ name: 'B secret project', fileCount: 1 });
    const content = await t.as(b.read).get(`/api/projects/${seedB.projectId}/files/content`).query({ path: 'src/index.ts' }).expect(200);
    expect(content.text).toBe('b-only');
    const keys = await t.as(b.admin).get('/api/api-keys').expect(200);
    expect(keys.body.find((k: { id: string }) => k.id === seedB.apiKeyId).revokedAt).toBeNull();
    const secrets = await t.as(b.read).get('/api/secrets').expect(200);
    expect(secrets.body.map((s: { name: string }) => s.name)).toContain(seedB.secretName);
    const credentials = await t.as(b.read).get('/api/git-credentials').expect(200);
    expect(credentials.body.map((c: { id: string }) => c.id)).toEqual([seedB.gitCredentialId]);
    const exported = await t.as(b.read).get(`/api/exports/${seedB.exportId}`).expect(200);
    expect(exported.body.message).toBe('B-only export');
  });

  it('reads every workspace-owned row by id exactly as TypeORM would, and never across workspaces', async () => {
    const dataSource = t.app.get(DataSource);
    const owned = dataSource.entityMetadatas.filter((metadata) => metadata.columns.some((column) => column.databaseName === 'workspace_id'));
    const compared = new Map<string, number>();
    for (const metadata of owned) {
      const repository = dataSource.getRepository(metadata.target);
      const scoped = new WorkspaceScopedRepository(repository as never, (id) => new DomainError('WORKSPACE_NOT_FOUND', `row ${id} not found`));
      const rows = await t.sql<{ id: string; workspace_id: string }>(`SELECT id, workspace_id FROM "${metadata.tableName}" ORDER BY created_at DESC LIMIT 3`);
      for (const row of rows) {
        const expected = await repository.findOneBy({ id: row.id, workspaceId: row.workspace_id } as never);
        const read = await scoped.findOne(row.workspace_id, row.id);
        expect([metadata.tableName, read]).toEqual([metadata.tableName, expected]);
        expect(Object.getPrototypeOf(read)).toBe(Object.getPrototypeOf(expected));
        const other = row.workspace_id === a.id ? b.id : a.id;
        expect([metadata.tableName, await scoped.findOne(other, row.id)]).toEqual([metadata.tableName, null]);
        compared.set(metadata.tableName, (compared.get(metadata.tableName) ?? 0) + 1);
      }
    }
    // Workspace B has a row of every kind (seedTenants): not one table went unchecked.
    expect(owned.length).toBeGreaterThanOrEqual(9);
    expect(owned.map((metadata) => metadata.tableName).filter((table) => !compared.has(table))).toEqual([]);
  });

  it('refuses a read key every operation that changes something (403), and a write key the admin ones', async () => {
    for (const op of operations) {
      if (op.requiredScope !== 'read') {
        const res = await send(t.as(a.read), op, request(op));
        expect([op.operationId, res.status, res.body.code]).toEqual([op.operationId, 403, 'FORBIDDEN']);
      }
      if (op.requiredScope === 'admin') {
        const res = await send(t.as(a.write), op, request(op));
        expect([op.operationId, res.status]).toEqual([op.operationId, 403]);
      }
    }
  });

  const past = new Date(Date.now() - 60_000).toISOString();
  it.each([
    ['an empty key name', 'post', '/api/api-keys', { name: '', scopes: ['read'] }, 'name'],
    ['a key name with NUL', 'post', '/api/api-keys', { name: 'a\u0000b', scopes: ['read'] }, 'name'],
    ['no scopes', 'post', '/api/api-keys', { name: 'k', scopes: [] }, 'scopes'],
    ['an unknown scope', 'post', '/api/api-keys', { name: 'k', scopes: ['root'] }, 'scopes'],
    ['an expiry that is not a date', 'post', '/api/api-keys', { name: 'k', scopes: ['read'], expiresAt: 'nope' }, 'expiresAt'],
    ['an expiry in the past', 'post', '/api/api-keys', { name: 'k', scopes: ['read'], expiresAt: past }, 'expiresAt'],
    ['an unknown key field', 'post', '/api/api-keys', { name: 'k', scopes: ['read'], owner: 'x' }, 'owner'],
    ['a workspace name with NUL', 'post', '/api/workspaces', { name: 'a\u0000b' }, 'name'],
    ['a malformed workspace slug', 'post', '/api/workspaces', { name: 'W', slug: 'Not A Slug' }, 'slug'],
    ['a secret name starting with a digit', 'post', '/api/secrets', { name: '1_TOKEN', value: 'v' }, 'name'],
    ['a secret without a value', 'post', '/api/secrets', { name: 'TOKEN' }, 'value'],
    ['a secret over MAX_SECRET_BYTES', 'post', '/api/secrets', { name: 'TOKEN', value: 'x'.repeat(65_537) }, 'value'],
    ['a secret name with NUL in the path', 'delete', '/api/secrets/a%00b', undefined, 'name'],
    ['a malformed key id', 'delete', '/api/api-keys/nope', undefined, 'id'],
  ] as const)('refuses %s with 400 naming the field, storing nothing', async (_label, method, path, body, field) => {
    const counts = () => t.sql(`SELECT (SELECT count(*) FROM api_keys) AS keys, (SELECT count(*) FROM workspaces) AS workspaces, (SELECT count(*) FROM workspace_secrets) AS secrets`);
    const before = await counts();
    const call = t.as(a.admin)[method](path);
    const res = body === undefined ? await call : await call.send(body);
    expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field });
    expect(await counts()).toEqual(before);
  });

  it('lets a write key write and a read key read', async () => {
    const created = await t.as(a.write).post('/api/projects').send({ name: 'Written by a write key' }).expect(201);
    await t.as(a.read).get(`/api/projects/${created.body.id}`).expect(200);
  });

  it('refuses a revoked key and an expired key with 401', async () => {
    const key = await keyOf(a.admin, ['read']);
    await t.as(key.token).get('/api/projects').expect(200);
    const revoked = await t.as(a.admin).delete(`/api/api-keys/${key.id}`).expect(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const res = await t.as(key.token).get('/api/projects').expect(401);
    expect(res.body.message).toMatch(/revoked/);

    const expiring = await t.as(a.admin).post('/api/api-keys').send({ name: 'short', scopes: ['read'], expiresAt: new Date(Date.now() + 1500).toISOString() }).expect(201);
    await t.as(expiring.body.token).get('/api/projects').expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const expired = await t.as(expiring.body.token).get('/api/projects').expect(401);
    expect(expired.body.message).toMatch(/expired/);
  });

  it('shows a token once and stores only its SHA-256', async () => {
    const key = await keyOf(a.admin, ['read']);
    expect(key.token).toMatch(/^fl_[A-Za-z0-9_-]{43}$/);
    const listed = await t.as(a.admin).get('/api/api-keys').expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(key.token);
    expect(JSON.stringify(listed.body)).not.toMatch(/token|hash/i);
    const rows = await t.sql<Record<string, unknown>>(`SELECT * FROM api_keys WHERE id = $1`, [key.id]);
    expect(rows[0].token_hash).toBe(createHash('sha256').update(key.token).digest('hex'));
    expect(JSON.stringify(rows)).not.toContain(key.token.slice(8));
  });

  it('keeps secrets as ciphertext in the database and never returns them', async () => {
    const value = 'ghp_exampleSecretValue1234567890';
    const put = await t.api.post('/api/secrets').send({ name: 'GIT_TOKEN', value }).expect(200);
    expect(put.body).toMatchObject({ name: 'GIT_TOKEN', set: true });
    expect(JSON.stringify(put.body)).not.toContain(value);
    const listed = await t.api.get('/api/secrets').expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(value);
    const rows = await t.sql<{ ciphertext: string }>(`SELECT ciphertext FROM workspace_secrets WHERE name = 'GIT_TOKEN'`);
    expect(rows[0].ciphertext).not.toContain(value);
    expect(rows[0].ciphertext).not.toContain(Buffer.from(value).toString('base64'));
    expect(rows[0].ciphertext).toMatch(/^v1\./);
    const all = await t.sql(`SELECT * FROM workspace_secrets`);
    expect(JSON.stringify(all)).not.toContain(secretValue);
  });

  it('creates a workspace whose first admin key works only there', async () => {
    const created = await t.api.post('/api/workspaces').send({ name: 'Tenant C', slug: 'tenant-c' }).expect(201);
    expect(created.body.apiKey.token).toMatch(/^fl_/);
    const me = await t.as(created.body.apiKey.token).get('/api/workspaces/current').expect(200);
    expect(me.body).toMatchObject({ name: 'Tenant C', slug: 'tenant-c', id: created.body.workspace.id });
    const list = await t.as(created.body.apiKey.token).get('/api/projects').expect(200);
    expect(list.body.total).toBe(0);
    const dup = await t.api.post('/api/workspaces').send({ name: 'Again', slug: 'tenant-c' }).expect(409);
    expect(dup.body.code).toBe('SLUG_CONFLICT');
    // A derived slug cut at 90 characters does not end in a hyphen.
    const cut = await t.api.post('/api/workspaces').send({ name: `${'a'.repeat(89)} b` }).expect(201);
    expect(cut.body.workspace.slug).toBe('a'.repeat(89));
  });

  it('makes the same project slug usable in two workspaces', async () => {
    await t.as(a.admin).post('/api/projects').send({ name: 'Shared', slug: 'shared-slug' }).expect(201);
    await t.as(b.admin).post('/api/projects').send({ name: 'Shared', slug: 'shared-slug' }).expect(201);
    await t.as(a.admin).post('/api/projects').send({ name: 'Shared', slug: 'shared-slug' }).expect(409);
  });

  it('keeps health and the OpenAPI document public', async () => {
    const { default: request } = await import('supertest');
    await request(t.url).get('/health').expect(200);
    await request(t.url).get('/docs-json').expect(200);
  });
});

/** Test only: a route that forgets the workspace, which the cross-workspace check must catch. */
@ApiTags('test')
@Controller('projects')
class UnscopedProjectsController {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  @Get(':id/unscoped-summary')
  @ApiOperation({ operationId: 'getUnscopedProjectSummary', summary: 'Test only: reads a project by its id alone' })
  async summary(@Param('id', ParseUuid()) id: string): Promise<{ name: string }> {
    const [row] = await this.db.query(`SELECT name FROM generated_projects WHERE id = $1`, [id]);
    if (!row) throw new DomainError('PROJECT_NOT_FOUND', `Project ${id} does not exist`);
    return row;
  }
}

@Module({ controllers: [UnscopedProjectsController] })
class UnscopedModule {}

describe('access: the cross-workspace check itself', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { imports: [UnscopedModule] });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('catches an operation that forgets the workspace', async () => {
    const document = (await t.api.get('/docs-json').expect(200)).body;
    const operations = operationsOf(document);
    const violations = await crossWorkspaceViolations(t, await seedTenants(t), document, operations);
    expect(violations.length).toBeGreaterThan(0);
    for (const line of violations) expect(line).toMatch(/^getUnscopedProjectSummary: /);
  });
});

describe('access: rate limiting and bootstrap', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 with Retry-After once a key spends its budget, and not for another key', async () => {
    const other = await t.api.post('/api/api-keys').send({ name: 'other', scopes: ['read'] }).expect(201);
    for (let i = 0; i < 3; i++) await t.api.get('/api/workspaces/current').expect(200);
    const limited = await t.api.get('/api/workspaces/current').expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    // A key's first request counts against its address (the key is not verified yet); then its own budget.
    await t.as(other.body.token).get('/api/workspaces/current').expect(200);
    for (let i = 0; i < 3; i++) await t.as(other.body.token).get('/api/workspaces/current').expect(200);
    await t.as(other.body.token).get('/api/workspaces/current').expect(429);
    const { default: request } = await import('supertest');
    await request(t.url).get('/health').expect(200);
  });

  it('counts made-up tokens against their address, so that a fresh token per request gets no fresh budget', async () => {
    // This address has spent its budget above (first requests of keys, and these).
    let last = 0;
    for (let i = 0; i < 4; i++) last = (await t.as(`fl_made-up-${i}-${'x'.repeat(40)}`).get('/api/projects')).status;
    expect(last).toBe(429);
  });

  it('makes BOOTSTRAP_API_KEY an admin key of the default workspace', async () => {
    const rows = await t.sql<{ scopes: string[]; slug: string }>(
      `SELECT k.scopes, w.slug FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.token_hash = $1`,
      [createHash('sha256').update(t.adminToken).digest('hex')],
    );
    expect(rows).toEqual([{ scopes: ['admin'], slug: 'default' }]);
  });
});
