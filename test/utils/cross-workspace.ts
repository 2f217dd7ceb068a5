/**
 * The cross-workspace check, table-driven over the OpenAPI document: every /api operation is
 * called by workspace A's admin key with workspace B's ids, and must treat them exactly like
 * ids that do not exist. A new operation is covered the moment it is in the document; one that
 * names a new kind of resource fails until FIXTURES has a row of workspace B for it.
 */
import { randomUUID } from 'node:crypto';
import type { Operation } from './openapi.js';
import { sample } from './openapi.js';
import type { TestApp } from './test-app.js';

type Agent = TestApp['api'];

export interface Workspace {
  id: string;
  admin: string;
  write: string;
  read: string;
}

/** One row of workspace B per kind of resource. */
export interface Seed {
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

export interface Tenants {
  a: Workspace;
  b: Workspace;
  seedB: Seed;
  /** Texts and ids of B that must never appear in an answer to A. */
  leaks: string[];
  secretValue: string;
}

/** Path parameters: `collection/{param}` → B's row. */
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

/** Body and query fields that name a row: B's row, wherever a request needs one. */
const ID_FIELDS: Record<string, (seed: Seed) => string> = {
  projectId: (s) => s.projectId,
  agentId: (s) => s.agentId,
  agentRunId: (s) => s.agentRunId,
  exportId: (s) => s.exportId,
  credentialId: (s) => s.gitCredentialId,
  workflowId: (s) => s.workflowId,
  workflowRunId: (s) => s.workflowRunId,
  apiKeyId: (s) => s.apiKeyId,
};

/** Ids of the same kinds that exist in no workspace. */
const missing = (seed: Seed): Seed =>
  Object.fromEntries(Object.keys(seed).map((key) => [key, key === 'secretName' ? `MISSING_${randomUUID().slice(0, 8).toUpperCase()}` : randomUUID()])) as unknown as Seed;

/** The operation's path with `seed`'s ids; throws for a resource that has no fixture. */
export function fillPath(op: Operation, seed: Seed): string {
  const filled = op.path.replace(/\/([a-z-]+)\/\{(\w+)\}/g, (_match, collection: string, param: string) => {
    const fixture = FIXTURES[`${collection}/{${param}}`];
    if (!fixture) throw new Error(`${op.operationId}: no workspace-B fixture for ${collection}/{${param}}; add one to FIXTURES`);
    return `/${collection}/${encodeURIComponent(fixture(seed))}`;
  });
  if (filled.includes('{')) throw new Error(`${op.operationId}: ${op.path} has a path parameter that FIXTURES cannot fill; add one`);
  return filled;
}

interface Request {
  path: string;
  query: Record<string, unknown>;
  body?: unknown;
  /** Whether the request names a row anywhere (path, query or body). */
  namesRows: boolean;
}

/** The simplest valid request of the operation, naming `seed`'s rows in its path, query and body. */
export function requestOf(op: Operation, document: Record<string, any>, seed: Seed): Request {
  const ids = Object.fromEntries(Object.entries(ID_FIELDS).map(([field, of]) => [field, of(seed)]));
  const query = Object.fromEntries(
    op.parameters.filter((p) => p.in === 'query' && (p.required || p.name in ids)).map((p) => [p.name, ids[p.name] ?? p.example ?? sample(p.schema, document, 0, ids)]),
  );
  const body = op.requestBody ? sample(op.requestBody, document, 0, ids) : undefined;
  const named = JSON.stringify([query, body ?? null]);
  return { path: fillPath(op, seed), query, body, namesRows: /\{\w+\}/.test(op.path) || Object.values(ids).some((id) => named.includes(id)) };
}

export function send(agent: Agent, op: Operation, request: Request) {
  const call = agent[op.method.toLowerCase() as 'get'](request.path).query(request.query);
  return request.body === undefined ? call : call.send(request.body as object);
}

/** Two workspaces with keys of each scope, and one row of B of every kind. */
export async function seedTenants(t: TestApp): Promise<Tenants> {
  const keyOf = async (admin: string, scopes: string[]) => (await t.as(admin).post('/api/api-keys').send({ name: scopes.join('+'), scopes }).expect(201)).body as { id: string; token: string };
  const workspace = async (admin: string): Promise<Workspace> => {
    const me = await t.as(admin).get('/api/workspaces/current').expect(200);
    return { id: me.body.id, admin, write: (await keyOf(admin, ['write'])).token, read: (await keyOf(admin, ['read'])).token };
  };
  const secretValue = 'sv-do-not-leak-7f3a9c';
  const a = await workspace(t.adminToken);
  const created = await t.api.post('/api/workspaces').send({ name: 'Tenant B' }).expect(201);
  const b = await workspace(created.body.apiKey.token);
  const project = await t.as(b.admin).post('/api/projects').send({ name: 'B secret project' }).expect(201);
  await t.as(b.admin).put(`/api/projects/${project.body.id}/files`).send({ files: [{ path: 'src/index.ts', content: 'b-only' }] }).expect(200);
  await t.as(b.admin).post('/api/secrets').send({ name: 'TENANT_B_ONLY_SECRET', value: secretValue }).expect(200);
  const keyB = await keyOf(b.admin, ['read']);
  const agent = await t.as(b.admin).post('/api/agents').send({ name: 'B agent', allowedOperations: ['createProject'] }).expect(201);
  // Without ANTHROPIC_API_KEY runs cannot start here: B's run is a row written directly.
  const [run] = await t.sql<{ id: string }>(
    `INSERT INTO agent_runs (workspace_id, agent_id, input, status, final_text) VALUES ($1, $2, 'B task', 'succeeded', 'B-only result') RETURNING id`,
    [b.id, agent.body.id],
  );
  const exported = await t.as(b.admin).post(`/api/projects/${project.body.id}/exports`).send({ message: 'B-only export' }).expect(202);
  const credential = await t.as(b.admin).post('/api/git-credentials').send({ name: 'b-credential', username: 'b-user', token: secretValue, host: 'git.b.example' }).expect(201);
  const workflow = await t.as(b.admin).post('/api/workflows').send({ name: 'B-only workflow', steps: [{ id: 'b_only_step', type: 'create_project', config: { name: 'B workflow project' } }] }).expect(201);
  const workflowRun = await t.as(b.admin).post(`/api/workflows/${workflow.body.id}/runs`).send({ input: { marker: 'B-only input' } }).expect(202);
  const seedB: Seed = {
    projectId: project.body.id,
    apiKeyId: keyB.id,
    secretName: 'TENANT_B_ONLY_SECRET',
    agentId: agent.body.id,
    agentRunId: run.id,
    exportId: exported.body.id,
    gitCredentialId: credential.body.id,
    workflowId: workflow.body.id,
    workflowRunId: workflowRun.body.id,
  };
  const leaks = [
    ...Object.values(seedB),
    b.id,
    'B secret project',
    'b-only',
    'B agent',
    'B task',
    'B-only result',
    'B-only export',
    'b-credential',
    'b-user',
    secretValue,
    'B-only workflow',
    'B-only input',
    'b_only_step',
  ];
  return { a, b, seedB, leaks, secretValue };
}

/**
 * What workspace A's admin key could learn or touch of B, one line per breach (empty: none).
 * An operation that names a row (in its path, query or body) must answer B's ids exactly as it
 * answers ids that exist nowhere: the same status (a 4xx) and the same error code. Every
 * answer is searched for B's texts.
 */
export async function crossWorkspaceViolations(t: TestApp, tenants: Tenants, document: Record<string, any>, operations: Operation[]): Promise<string[]> {
  const violations: string[] = [];
  for (const op of operations) {
    const request = requestOf(op, document, tenants.seedB);
    const withB = await send(t.as(tenants.a.admin), op, request);
    const text = JSON.stringify(withB.body ?? '') + (withB.text ?? '');
    // An id the request itself named may come back in the error that it does not exist.
    const sent = JSON.stringify(request);
    const leaked = tenants.leaks.filter((leak) => text.includes(leak) && !sent.includes(leak));
    if (leaked.length > 0) violations.push(`${op.operationId}: the answer holds workspace B's ${leaked.join(', ')}`);
    if (withB.status >= 500) violations.push(`${op.operationId}: answered ${withB.status} to B's ids`);
    if (!request.namesRows) continue;
    const withMissing = await send(t.as(tenants.a.admin), op, requestOf(op, document, missing(tenants.seedB)));
    const answer = (res: typeof withB) => `${res.status} ${res.body?.code ?? ''}`.trim();
    if (withB.status < 400 || answer(withB) !== answer(withMissing)) {
      violations.push(`${op.operationId}: B's ids answered ${answer(withB)}, ids that exist nowhere answered ${answer(withMissing)}`);
    }
  }
  return violations;
}
