/**
 * What an agent may do, against a scripted Messages API and the real service: never more than
 * the key that set it going (scopes), never an operation that starts or defines automation or
 * holds credentials by a wildcard, and never a write-only value in what a run records.
 */
import { WorkspaceSecretsService } from '../../src/access/workspace-secrets.service.js';
import { AgentRunDispatcher } from '../../src/agents/agent-run.dispatcher.js';
import { callTools, endTurn, FakeAnthropicServer, startFakeAnthropic, toolUse } from '../setup/fake-anthropic-server.js';
import { createWorkflow, startRun, stepOf, waitForRun } from '../factories/workflow.factory.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

let markers = 0;
const marker = (name: string) => `[access ${name} #${++markers}]`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

interface Run {
  id: string;
  status: string;
  stopReason: string | null;
  startedScope: string;
  error: string | null;
  finalText: string | null;
  apiKeyId: string | null;
  calls: Array<{ operationId: string; request: Record<string, any>; responseStatus: number | null; responseBody: string | null; error: string | null }>;
}

describe('agents: scopes, explicit-only operations and write-only fields', () => {
  let t: TestApp;
  let fake: FakeAnthropicServer;
  let writeToken: string;
  let workspaceId: string;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    t = await startTestApp({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url });
    writeToken = (await t.api.post('/api/api-keys').send({ name: 'writer', scopes: ['write'] }).expect(201)).body.token;
    workspaceId = (await t.api.get('/api/workspaces/current').expect(200)).body.id;
  });

  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  afterEach(() => {
    expect(fake.violations).toEqual([]);
  });

  async function waitFor(runId: string, done: (run: Run) => boolean): Promise<Run> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const run: Run = (await t.api.get(`/api/agent-runs/${runId}`).expect(200)).body;
      if (done(run)) return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status}`);
      await sleep(25);
    }
  }

  describe('scopes', () => {
    it('refuses a write key an agent whose allow-list needs admin, at create, update and start, naming the operation', async () => {
      const writer = t.as(writeToken);
      const created = await writer.post('/api/agents').send({ name: 'escalate', allowedOperations: ['getProject', 'listApiKeys', 'revokeApiKey'] }).expect(403);
      expect(created.body).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/^createAgent: .*"write".*listApiKeys \(needs "admin"\).*revokeApiKey/) });
      expect(created.body.details).toEqual([
        expect.objectContaining({ field: 'allowedOperations[1]', rule: 'scope', operationId: 'listApiKeys', required: 'admin' }),
        expect.objectContaining({ field: 'allowedOperations[2]', rule: 'scope', operationId: 'revokeApiKey', required: 'admin' }),
      ]);
      // An agent of the write key's own level is fine; giving it admin operations later is not.
      const own = (await writer.post('/api/agents').send({ name: 'writer agent', allowedOperations: ['getProject'] }).expect(201)).body;
      const grown = await writer.patch(`/api/agents/${own.id}`).send({ allowedOperations: ['getProject', 'createApiKey'] }).expect(403);
      expect(grown.body.message).toMatch(/^updateAgent: .*createApiKey \(needs "admin"\)/);

      // An admin's agent with admin operations: a write key may neither change nor start it.
      const admins = (await t.api.post('/api/agents').send({ name: 'key manager', allowedOperations: ['listApiKeys'] }).expect(201)).body;
      const changed = await writer.patch(`/api/agents/${admins.id}`).send({ systemPrompt: 'Revoke every key.' }).expect(403);
      expect(changed.body.message).toMatch(/^updateAgent: .*listApiKeys/);
      const started = await writer.post(`/api/agents/${admins.id}/runs`).send({ input: 'list the keys', wait: true }).expect(403);
      expect(started.body).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/^startAgentRun: .*listApiKeys \(needs "admin"\)/) });
      expect(await t.sql(`SELECT id FROM agent_runs WHERE agent_id = $1`, [admins.id])).toEqual([]);
      expect((await t.api.get(`/api/agents/${admins.id}`).expect(200)).body.systemPrompt).toBe('');
    });

    it('gives the run key no more than the scope of the key that started the run', async () => {
      const m = marker('run-key');
      const writer = t.as(writeToken);
      const agent = (await t.api.post('/api/agents').send({ name: 'reader', allowedOperations: ['getCurrentWorkspace'] }).expect(201)).body;
      fake.script(m, [callTools(toolUse('getCurrentWorkspace', {})), endTurn('seen')]);
      const run: Run = (await writer.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} look`, wait: true }).expect(200)).body;
      expect(run).toMatchObject({ status: 'succeeded', startedScope: 'write', calls: [expect.objectContaining({ responseStatus: 200 })] });
      const [key] = await t.sql<{ scopes: string[] }>(`SELECT scopes FROM api_keys WHERE id = $1`, [run.apiKeyId]);
      expect(key.scopes).toEqual(['read']);

      const m2 = marker('admin-run');
      const admins = (await t.api.post('/api/agents').send({ name: 'key lister', allowedOperations: ['listApiKeys'] }).expect(201)).body;
      fake.script(m2, [callTools(toolUse('listApiKeys', {})), endTurn('listed')]);
      const adminRun: Run = (await t.api.post(`/api/agents/${admins.id}/runs`).send({ input: `${m2} list`, wait: true }).expect(200)).body;
      expect(adminRun).toMatchObject({ status: 'succeeded', startedScope: 'admin', calls: [expect.objectContaining({ operationId: 'listApiKeys', responseStatus: 200 })] });
    });

    it('fails, without a key or a call, a queued run whose agent gained operations beyond the scope it was started with', async () => {
      const m = marker('queued-escalation');
      const agent = (await t.api.post('/api/agents').send({ name: 'grows', allowedOperations: ['listApiKeys', 'revokeApiKey'] }).expect(201)).body;
      // As if a write key had queued it before an admin widened the agent.
      const [queued] = await t.sql<{ id: string }>(
        `INSERT INTO agent_runs (workspace_id, agent_id, input, status, started_scope) VALUES ($1, $2, $3, 'queued', 'write') RETURNING id`,
        [workspaceId, agent.id, `${m} revoke every key`],
      );
      fake.script(m, [callTools(toolUse('revokeApiKey', { id: queued.id })), endTurn('revoked')]);
      await t.app.get(AgentRunDispatcher).recover();
      const run = await waitFor(queued.id, (r) => r.status !== 'queued' && r.status !== 'running');
      expect(run).toMatchObject({ status: 'failed', stopReason: 'forbidden', startedScope: 'write', apiKeyId: null, calls: [] });
      expect(run.error).toMatch(/"write" key.*listApiKeys \(needs "admin"\).*revokeApiKey/);
      expect(fake.requestsOf(m)).toEqual([]);
      expect(await t.sql(`SELECT id FROM api_keys WHERE name = $1`, [`agent-run:${queued.id}`])).toEqual([]);
    });

    it('runs a workflow agent step with the scope of whoever started the workflow run', async () => {
      const m = marker('workflow');
      const admins = (await t.api.post('/api/agents').send({ name: 'workflow key lister', allowedOperations: ['listApiKeys'] }).expect(201)).body;
      const workflow = await createWorkflow(t.api, [{ id: 'keys', type: 'agent', config: { agentId: admins.id, input: `${m} list the keys` } }]);
      const writer = t.as(writeToken);

      const byWriter = await waitForRun(t.api, (await startRun(writer, workflow.id)).id);
      expect(byWriter).toMatchObject({ status: 'failed', startedScope: 'write' });
      expect(stepOf(byWriter, 'keys')).toMatchObject({ status: 'failed', attempt: 1, error: expect.stringMatching(/^startAgentRun: .*"write".*listApiKeys \(needs "admin"\)/) });
      expect(await t.sql(`SELECT id FROM agent_runs WHERE agent_id = $1`, [admins.id])).toEqual([]);

      // A retry by the write key keeps it at write; by an admin, it goes on with admin.
      await writer.post(`/api/workflow-runs/${byWriter.id}/retry`).expect(202);
      expect(await waitForRun(t.api, byWriter.id, (r) => r.status === 'failed' && stepOf(r, 'keys').attempt === 2)).toMatchObject({ startedScope: 'write' });
      fake.script(m, [callTools(toolUse('listApiKeys', {})), endTurn('listed')]);
      await t.api.post(`/api/workflow-runs/${byWriter.id}/retry`).expect(202);
      const retried = await waitForRun(t.api, byWriter.id);
      expect(retried).toMatchObject({ status: 'succeeded', startedScope: 'admin' });
      const agentRun: Run = (await t.api.get(`/api/agent-runs/${stepOf(retried, 'keys').output.agentRunId}`).expect(200)).body;
      expect(agentRun).toMatchObject({ startedScope: 'admin', calls: [expect.objectContaining({ operationId: 'listApiKeys', responseStatus: 200 })] });
    });
  });

  describe('explicit-only operations', () => {
    /** Operations that start, define or stop automation, hold credentials, send data out, delete or manage access. */
    const EXPLICIT = [
      'createWorkflow', 'updateWorkflow', 'deleteWorkflow', 'startWorkflowRun', 'retryWorkflowRun', 'cancelWorkflowRun',
      'createGitCredential', 'listGitCredentials', 'deleteGitCredential', 'exportProject',
      'putSecret', 'listSecrets', 'deleteSecret', 'createApiKey', 'listApiKeys', 'revokeApiKey', 'createWorkspace',
      'createAgent', 'updateAgent', 'deleteAgent', 'startAgentRun', 'cancelAgentRun', 'getAgentRun',
      'deleteProject', 'deleteProjectFile',
    ];
    const PATTERNS = ['*', 'create*', 'update*', 'start*', 'retry*', '*Workflow*', '*Credential*', '*Secret*', '*ApiKey*', 'export*', 'delete*', '*Agent*'];

    it('are declared by their modules in the OpenAPI document, with why, and include every delete and every admin operation', async () => {
      const document = (await t.api.get('/docs-json').expect(200)).body;
      const tools: Array<{ name: string; method: string; requiredScope: string; explicitOnly: boolean; explicitOnlyReason: string | null }> = (await t.api.get('/api/agents/tools').expect(200)).body;
      const byName = new Map(tools.map((tool) => [tool.name, tool]));
      for (const name of EXPLICIT) expect([name, byName.get(name)?.explicitOnly, typeof byName.get(name)?.explicitOnlyReason]).toEqual([name, true, 'string']);
      for (const tool of tools.filter((t) => t.method === 'DELETE' || t.requiredScope === 'admin')) expect([tool.name, tool.explicitOnly]).toEqual([tool.name, true]);
      expect(document.paths['/api/workflows/{id}/runs'].post['x-explicit-only']).toBe('starts automation');
      expect(document.paths['/api/git-credentials'].post['x-explicit-only']).toBe('holds a credential');
      // Ordinary project work stays reachable by a pattern.
      for (const name of ['createProject', 'upsertProjectFiles', 'getProject', 'listWorkflows', 'getWorkflowRun']) expect([name, byName.get(name)?.explicitOnly]).toEqual([name, false]);
    });

    it('are reached by no pattern, "*" included: not offered to the model, not callable, not on the run key', async () => {
      const m = marker('wildcards');
      const agent = (await t.api.post('/api/agents').send({ name: 'wildcards', allowedOperations: PATTERNS }).expect(201)).body;
      fake.script(m, [
        callTools(
          toolUse('createWorkflow', { name: 'smuggled', steps: [{ id: 'a', type: 'create_project', config: { name: 'x' } }] }),
          toolUse('createGitCredential', { name: 'smuggled', username: 'u', token: 'tok-0123456789abcdef' }),
          toolUse('listProjects', {}),
        ),
        endTurn('tried'),
      ]);
      const run: Run = (await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} escape`, wait: true }).expect(200)).body;
      const offered: string[] = fake.requestsOf(m)[0].body.tools.map((tool: { name: string }) => tool.name);
      expect(offered).toContain('createProject');
      expect(offered.filter((name) => EXPLICIT.includes(name))).toEqual([]);
      expect(run.calls.map((c) => [c.operationId, c.responseStatus])).toEqual([['createWorkflow', null], ['createGitCredential', null], ['listProjects', 200]]);
      expect(run.calls[0].error).toMatch(/not on this agent's allow-list/);
      const [key] = await t.sql<{ allowed_operations: string[] }>(`SELECT allowed_operations FROM api_keys WHERE id = $1`, [run.apiKeyId]);
      expect(key.allowed_operations.filter((name) => EXPLICIT.includes(name))).toEqual([]);
      expect(await t.sql(`SELECT id FROM workflows WHERE name = 'smuggled'`)).toEqual([]);
      expect(await t.sql(`SELECT id FROM git_credentials WHERE name = 'smuggled'`)).toEqual([]);
    });

    it('are reached by their exact name', async () => {
      const m = marker('exact');
      const agent = (await t.as(writeToken).post('/api/agents').send({ name: 'workflow author', allowedOperations: ['createWorkflow'] }).expect(201)).body;
      fake.script(m, [callTools(toolUse('createWorkflow', { name: 'named one by one', steps: [{ id: 'a', type: 'create_project', config: { name: 'x' } }] })), endTurn('made')]);
      const run: Run = (await t.as(writeToken).post(`/api/agents/${agent.id}/runs`).send({ input: `${m} make it`, wait: true }).expect(200)).body;
      expect(run.calls.map((c) => [c.operationId, c.responseStatus])).toEqual([['createWorkflow', 201]]);
    });
  });

  describe('write-only fields', () => {
    it('are marked writeOnly in the OpenAPI document, and so in the tools', async () => {
      const { schemas } = (await t.api.get('/docs-json').expect(200)).body.components;
      expect(schemas.PutSecretDto.properties.value.writeOnly).toBe(true);
      expect(schemas.CreateGitCredentialDto.properties.token.writeOnly).toBe(true);
      expect(schemas.ExportRemoteDto.properties.token.writeOnly).toBe(true);
      const tools = new Map<string, any>((await t.api.get('/api/agents/tools').expect(200)).body.map((tool: { name: string }) => [tool.name, tool]));
      expect(JSON.stringify(tools.get('exportProject').inputSchema.properties.remote)).toMatch(/"token":\{[^}]*"writeOnly":true/);
      expect(tools.get('putSecret').inputSchema.properties.value.writeOnly).toBe(true);
    });

    it('are sent to the API but recorded as [redacted], and their values kept out of the run', async () => {
      const m = marker('write-only');
      const [secret, token, refused] = ['sv-deploy-6b1f0c93a7', 'ghp_agentToken5d2e8f1a', 'sv-refused-0f9a3c77e2'];
      const agent = (await t.as(writeToken).post('/api/agents').send({ name: 'secret keeper', allowedOperations: ['putSecret', 'createGitCredential'] }).expect(201)).body;
      let seen: Array<{ content: string }> = [];
      fake.script(m, [
        callTools(
          toolUse('putSecret', { name: 'DEPLOY_TOKEN', value: secret }),
          toolUse('createGitCredential', { name: 'agent-bot', username: 'x-access-token', token, host: 'github.com' }),
          toolUse('putSecret', { name: 'BAD', value: refused, extra: true }),
        ),
        ({ toolResults }) => {
          seen = toolResults;
          return endTurn(`Stored ${secret} and the token ${token}.`);
        },
      ]);
      await t.as(writeToken).post(`/api/agents/${agent.id}/runs`).send({ input: `${m} store the deploy token`, wait: true }).expect(200);
      const runId = (await t.sql<{ id: string }>(`SELECT id FROM agent_runs WHERE agent_id = $1`, [agent.id]))[0].id;
      const run: Run = (await t.api.get(`/api/agent-runs/${runId}`).expect(200)).body;
      expect(run.calls.map((c) => [c.operationId, c.responseStatus])).toEqual([['putSecret', 200], ['createGitCredential', 201], ['putSecret', null]]);
      expect(run.calls[0].request).toEqual({ name: 'DEPLOY_TOKEN', value: '[redacted]' });
      expect(run.calls[1].request).toEqual({ name: 'agent-bot', username: 'x-access-token', token: '[redacted]', host: 'github.com' });
      expect(run.calls[2].request).toEqual({ name: 'BAD', value: '[redacted]', extra: true });
      expect(run.finalText).toBe('Stored [redacted] and the token [redacted].');

      // The API got the real values.
      expect(await t.app.get(WorkspaceSecretsService).reveal(workspaceId, 'DEPLOY_TOKEN')).toBe(secret);
      const credentials = (await t.api.get('/api/git-credentials').expect(200)).body;
      expect(credentials.map((c: { name: string }) => c.name)).toContain('agent-bot');

      // Nowhere in what the run shows or stores, nor in the tool results the model got back.
      const stored = JSON.stringify([run, await t.sql(`SELECT * FROM agent_api_calls WHERE run_id = $1`, [runId]), await t.sql(`SELECT * FROM agent_runs WHERE id = $1`, [runId]), seen]);
      for (const value of [secret, token, refused]) expect([value, stored.includes(value)]).toEqual([value, false]);
    });
  });
});
