import { createHash } from 'node:crypto';
import { operationsOf, Operation, sample } from '../utils/openapi.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

type Agent = TestApp['api'];

interface Workspace {
  id: string;
  admin: string;
  write: string;
  read: string;
}

/**
 * The rows each path parameter can name, per collection. A new operation whose path names a
 * resource that is missing here fails the suite: add a row of workspace B for it below.
 */
interface Seed {
  projectId: string;
  apiKeyId: string;
  secretName: string;
  agentId: string;
  agentRunId: string;
  exportId: string;
  gitCredentialId: string;
  workflowId: string;
  workflowRunId: string;
}
const FIXTURES: Record<string, (seed: Seed) => string> = {
  'projects/{id}': (s) => s.projectId,
  'api-keys/{id}': (s) => s.apiKeyId,
  'secrets/{name}': (s) => s.secretName,
  'agents/{id}': (s) => s.agentId,
  'agent-runs/{id}': (s) => s.agentRunId,
  'exports/{id}': (s) => s.exportId,
  'git-credentials/{id}': (s) => s.gitCredentialId,
  'workflows/{id}': (s) => s.workflowId,
  'workflow-runs/{id}': (s) => s.workflowRunId,
};

function fillPath(op: Operation, seed: Seed): string {
  return op.path.replace(/\/([a-z-]+)\/\{(\w+)\}/g, (_match, collection: string, param: string) => {
    const fixture = FIXTURES[`${collection}/{${param}}`];
    if (!fixture) throw new Error(`${op.operationId}: no workspace-B fixture for ${collection}/{${param}}; add one to FIXTURES`);
    return `/${collection}/${encodeURIComponent(fixture(seed))}`;
  });
}

function send(agent: Agent, op: Operation, path: string, document: Record<string, any>) {
  const query = Object.fromEntries(
    op.parameters.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, p.example ?? sample(p.schema, document)]),
  );
  const call = agent[op.method.toLowerCase() as 'get'](path).query(query);
  return op.requestBody ? call.send(sample(op.requestBody, document) as object) : call;
}

describe('access: workspaces, API keys, scopes and secrets', () => {
  let t: TestApp;
  let document: Record<string, any>;
  let operations: Operation[];
  let a: Workspace;
  let b: Workspace;
  let seedB: Seed;
  const secretValue = 'sv-do-not-leak-7f3a9c';

  async function keyOf(admin: string, scopes: string[]): Promise<{ id: string; token: string }> {
    const res = await t.as(admin).post('/api/api-keys').send({ name: scopes.join('+'), scopes }).expect(201);
    return res.body;
  }

  async function workspace(admin: string): Promise<Workspace> {
    const me = await t.as(admin).get('/api/workspaces/current').expect(200);
    return { id: me.body.id, admin, write: (await keyOf(admin, ['write'])).token, read: (await keyOf(admin, ['read'])).token };
  }

  beforeAll(async () => {
    t = await startTestApp();
    document = (await t.api.get('/docs-json').expect(200)).body;
    operations = operationsOf(document);
    a = await workspace(t.adminToken);
    const created = await t.api.post('/api/workspaces').send({ name: 'Tenant B' }).expect(201);
    b = await workspace(created.body.apiKey.token);
    const project = await t.as(b.admin).post('/api/projects').send({ name: 'B secret project' }).expect(201);
    await t.as(b.admin).put(`/api/projects/${project.body.id}/files`).send({ files: [{ path: 'src/index.ts', content: 'b-only' }] }).expect(200);
    await t.as(b.admin).post('/api/secrets').send({ name: 'B_TOKEN', value: secretValue }).expect(200);
    const keyB = await keyOf(b.admin, ['read']);
    const agent = await t.as(b.admin).post('/api/agents').send({ name: 'B agent', allowedOperations: ['createProject'] }).expect(201);
    // Without ANTHROPIC_API_KEY runs cannot start here: B's run is a row written directly.
    const [run] = await t.sql<{ id: string }>(
      `INSERT INTO agent_runs (workspace_id, agent_id, input, status, final_text) VALUES ($1, $2, 'B task', 'succeeded', 'B-only result') RETURNING id`,
      [b.id, agent.body.id],
    );
    const exported = await t.as(b.admin).post(`/api/projects/${project.body.id}/exports`).send({ message: 'B-only export' }).expect(202);
    const credential = await t.as(b.admin).post('/api/git-credentials').send({ name: 'b-credential', username: 'b-user', token: secretValue }).expect(201);
    const workflow = await t.as(b.admin).post('/api/workflows').send({ name: 'B-only workflow', steps: [{ id: 'b_only_step', type: 'create_project', config: { name: 'B workflow project' } }] }).expect(201);
    const workflowRun = await t.as(b.admin).post(`/api/workflows/${workflow.body.id}/runs`).send({ input: { marker: 'B-only input' } }).expect(202);
    seedB = {
      projectId: project.body.id,
      apiKeyId: keyB.id,
      secretName: 'B_TOKEN',
      agentId: agent.body.id,
      agentRunId: run.id,
      exportId: exported.body.id,
      gitCredentialId: credential.body.id,
      workflowId: workflow.body.id,
      workflowRunId: workflowRun.body.id,
    };
  });

  afterAll(async () => {
    await t?.close();
  });

  it('documents the bearer scheme and a required scope on every /api operation', () => {
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(operations.length).toBeGreaterThan(10);
    for (const op of operations) {
      expect([op.operationId, op.requiredScope]).toEqual([op.operationId, expect.stringMatching(/^(read|write|admin)$/)]);
    }
  });

  it('answers 401 with WWW-Authenticate: Bearer to every /api operation without a valid key', async () => {
    for (const op of operations) {
      for (const agent of [t.as('fl_not-a-real-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), t.as('garbage')]) {
        const res = await send(agent, op, fillPath(op, seedB), document);
        expect([op.operationId, res.status]).toEqual([op.operationId, 401]);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(res.body.code).toBe('UNAUTHENTICATED');
      }
    }
  });

  it('keeps every row of workspace B out of reach of workspace A: 404 by id, absent from lists', async () => {
    const leaks = [seedB.projectId, seedB.apiKeyId, b.id, 'B secret project', 'b-only', seedB.agentId, seedB.agentRunId, 'B-only result', seedB.exportId, 'B-only export', seedB.gitCredentialId, 'b-credential', secretValue, seedB.workflowId, 'B-only workflow', seedB.workflowRunId, 'B-only input', 'b_only_step'];
    for (const op of operations) {
      const path = fillPath(op, seedB);
      const res = await send(t.as(a.admin), op, path, document);
      if (path !== op.path) {
        expect([op.operationId, res.status, res.body.code]).toEqual([op.operationId, 404, expect.stringMatching(/_NOT_FOUND$/)]);
      } else {
        expect([op.operationId, res.status]).toEqual([op.operationId, expect.any(Number)]);
        expect(res.status).toBeLessThan(500);
        const text = JSON.stringify(res.body ?? '') + (res.text ?? '');
        for (const leak of leaks) expect([op.operationId, text.includes(leak)]).toEqual([op.operationId, false]);
      }
    }
    // Nothing of B changed.
    const project = await t.as(b.read).get(`/api/projects/${seedB.projectId}`).expect(200);
    expect(project.body).toMatchObject({ name: 'B secret project', fileCount: 1 });
    const content = await t.as(b.read).get(`/api/projects/${seedB.projectId}/files/content`).query({ path: 'src/index.ts' }).expect(200);
    expect(content.text).toBe('b-only');
    const keys = await t.as(b.admin).get('/api/api-keys').expect(200);
    expect(keys.body.find((k: { id: string }) => k.id === seedB.apiKeyId).revokedAt).toBeNull();
    const secrets = await t.as(b.read).get('/api/secrets').expect(200);
    expect(secrets.body.map((s: { name: string }) => s.name)).toContain('B_TOKEN');
    const credentials = await t.as(b.read).get('/api/git-credentials').expect(200);
    expect(credentials.body.map((c: { id: string }) => c.id)).toEqual([seedB.gitCredentialId]);
    const exported = await t.as(b.read).get(`/api/exports/${seedB.exportId}`).expect(200);
    expect(exported.body.message).toBe('B-only export');
  });

  it('refuses a read key every operation that changes something (403), and a write key the admin ones', async () => {
    for (const op of operations) {
      const path = fillPath(op, seedB);
      if (op.requiredScope !== 'read') {
        const res = await send(t.as(a.read), op, path, document);
        expect([op.operationId, res.status, res.body.code]).toEqual([op.operationId, 403, 'FORBIDDEN']);
      }
      if (op.requiredScope === 'admin') {
        const res = await send(t.as(a.write), op, path, document);
        expect([op.operationId, res.status]).toEqual([op.operationId, 403]);
      }
    }
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

describe('access: rate limiting and bootstrap', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 with Retry-After once a key spends its budget, and not for another key', async () => {
    for (let i = 0; i < 3; i++) await t.api.get('/api/workspaces/current').expect(200);
    const limited = await t.api.get('/api/workspaces/current').expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    const { default: request } = await import('supertest');
    await request(t.url).get('/health').expect(200);
  });

  it('makes BOOTSTRAP_API_KEY an admin key of the default workspace', async () => {
    const rows = await t.sql<{ scopes: string[]; slug: string }>(
      `SELECT k.scopes, w.slug FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.token_hash = $1`,
      [createHash('sha256').update(t.adminToken).digest('hex')],
    );
    expect(rows).toEqual([{ scopes: ['admin'], slug: 'default' }]);
  });
});
