/**
 * Agent runs at their edges, against a scripted Messages API and the real service: a call cut
 * off in flight, a process without HTTP, NUL characters, output schemas the API would refuse,
 * and the model's stop reasons that are not an ordinary end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { AgentRunsService } from '../../src/agents/agent-runs.service.js';
import { AgentsService } from '../../src/agents/agents.service.js';
import { loadConfig } from '../../src/config/app-config.js';
import { createWorker } from '../../src/worker.js';
import { callTools, endTurn, FakeAnthropicServer, startFakeAnthropic, text, toolUse } from '../setup/fake-anthropic-server.js';
import { HoldingProxy, startHoldingProxy } from '../setup/holding-proxy.js';
import { spawnService, until, untilOutput, WORKER } from '../utils/service-process.js';
import { loadMigrations, startTestApp, TestApp } from '../utils/test-app.js';
import { createTestDatabase, TestDatabase } from '../utils/test-database.js';

const REDIS_URL = process.env.REDIS_URL;
let markers = 0;
const marker = (name: string) => `[edge ${name} #${++markers}]`;

interface Run {
  id: string;
  status: string;
  stopReason: string | null;
  finalText: string | null;
  error: string | null;
  iterations: number;
  result: unknown;
  apiKeyId: string | null;
  calls: Array<{ sequence: number; operationId: string; method: string | null; path: string | null; request: any; responseStatus: number | null; responseBody: string | null; error: string | null }>;
}

describe('agent runs whose API calls go through API_BASE_URL', () => {
  let t: TestApp;
  let fake: FakeAnthropicServer;
  let proxy: HoldingProxy;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    proxy = await startHoldingProxy();
    t = await startTestApp({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, API_BASE_URL: proxy.url, AGENT_WAIT_RUN_CONCURRENCY: '1', AGENT_MAX_TOOL_CALLS_PER_REPLY: '3' });
    proxy.target = t.url;
  });

  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    await fake?.close();
  });

  afterEach(() => {
    expect(fake.violations).toEqual([]);
  });

  const createAgent = async (body: Record<string, unknown>): Promise<{ id: string }> => (await t.api.post('/api/agents').send({ name: 'edge agent', ...body }).expect(201)).body;
  const runNow = async (agentId: string, input: string): Promise<Run> => (await t.api.post(`/api/agents/${agentId}/runs`).send({ input, wait: true }).expect(200)).body;

  describe('a call in flight when the run stops', () => {
    it('is recorded on cancel, saying the API may have executed it (it did)', async () => {
      const m = marker('cancel-in-flight');
      const agent = await createAgent({ allowedOperations: ['createProject'] });
      fake.script(m, [callTools(toolUse('createProject', { name: 'Made while cancelled' }))], endTurn('unreachable'));
      const executed = proxy.holdNext('POST', '/api/projects');
      const started = await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} create` }).expect(202);
      await executed;
      const cancelled: Run = (await t.api.post(`/api/agent-runs/${started.body.id}/cancel`).expect(200)).body;
      expect(cancelled).toMatchObject({ status: 'cancelled', stopReason: 'cancelled' });
      expect(cancelled.calls).toEqual([
        expect.objectContaining({
          sequence: 1,
          operationId: 'createProject',
          method: 'POST',
          path: '/api/projects',
          request: { name: 'Made while cancelled' },
          responseStatus: null,
          error: expect.stringMatching(/^Aborted by a cancel while the call was in flight: the API may have executed it/),
        }),
      ]);
      expect(await t.sql(`SELECT id FROM generated_projects WHERE name = 'Made while cancelled'`)).toHaveLength(1);
    });

    it('is recorded at the run timeout the same way', async () => {
      const m = marker('timeout-in-flight');
      const agent = await createAgent({ allowedOperations: ['createProject'], runTimeoutMs: 1000, toolTimeoutMs: 1000 });
      fake.script(m, [callTools(toolUse('createProject', { name: 'Made before the timeout' }))], endTurn('unreachable'));
      void proxy.holdNext('POST', '/api/projects');
      const run = await runNow(agent.id, `${m} create`);
      expect(run).toMatchObject({ status: 'failed', stopReason: 'timeout' });
      expect(run.calls).toEqual([expect.objectContaining({ responseStatus: null, error: expect.stringMatching(/^Aborted by the run timeout .* the API may have executed it/) })]);
    });
  });

  describe('NUL characters', () => {
    it('in a response body, a tool input and the model\'s text never make recording fail', async () => {
      const m = marker('nul');
      const projectId = (await t.api.post('/api/projects').send({ name: 'With NUL' }).expect(201)).body.id;
      await t.api.put(`/api/projects/${projectId}/files`).send({ files: [{ path: 'nul.bin.txt', content: Buffer.from('a\u0000b').toString('base64'), encoding: 'base64' }] }).expect(200);
      const agent = await createAgent({ allowedOperations: ['getProjectFileContent', 'createProject'] });
      let seen = '';
      fake.script(m, [
        callTools(toolUse('getProjectFileContent', { id: projectId, path: 'nul.bin.txt' }), toolUse('createProject', { name: 'bad\u0000name' })),
        ({ toolResults }) => {
          seen = toolResults[0].content;
          return endTurn('read a\u0000b');
        },
      ]);
      const run = await runNow(agent.id, `${m} read`);
      expect(run).toMatchObject({ status: 'succeeded', stopReason: 'end_turn', finalText: 'read a\ufffdb' });
      // The model got the bytes as they are; the record has U+FFFD where PostgreSQL cannot hold NUL.
      expect(seen).toBe('a\u0000b');
      expect(run.calls.map((c) => [c.operationId, c.responseStatus])).toEqual([['getProjectFileContent', 200], ['createProject', 400]]);
      expect(run.calls[0].responseBody).toBe('a\ufffdb');
      expect(run.calls[1].request).toEqual({ name: 'bad\ufffdname' });
    });

    it('in a run input or an agent\'s settings are refused with a 400', async () => {
      const agent = await createAgent({ allowedOperations: [] });
      const res = await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: 'a\u0000b' }).expect(400);
      expect(res.body.details[0]).toMatchObject({ field: 'input', rule: 'hasNoNul' });
      await t.api.post('/api/agents').send({ name: 'n', allowedOperations: [], systemPrompt: 'x\u0000' }).expect(400);
    });
  });

  describe('output schemas', () => {
    it('refuses at create and update top-level property keys the Messages API refuses in a tool input schema', async () => {
      const bad = { type: 'object', properties: { 'project name': { type: 'string' }, ['k'.repeat(65)]: { type: 'string' }, ok: { type: 'string' } } };
      const res = await t.api.post('/api/agents').send({ name: 'keys', allowedOperations: [], outputSchema: bad }).expect(400);
      expect(res.body.details).toEqual([expect.objectContaining({ field: 'outputSchema', rule: 'property-key' })]);
      expect(res.body.message).toMatch(/"project name", "k{65}"/);
      const agent = await createAgent({ allowedOperations: [], outputSchema: { type: 'object', properties: { 'project.name': { type: 'string' }, 'file-count_2': { type: 'integer' } } } });
      await t.api.patch(`/api/agents/${agent.id}`).send({ outputSchema: { type: 'object', properties: { 'has space': {} } } }).expect(400);
      // A schema that is not an object is wrapped as { result }: any inner keys are fine.
      await t.api.patch(`/api/agents/${agent.id}`).send({ outputSchema: { type: 'array', items: { type: 'object', properties: { 'has space': {} } } } }).expect(200);

      const m = marker('dotted-keys');
      const dotted = await createAgent({ allowedOperations: [], outputSchema: { type: 'object', properties: { 'project.name': { type: 'string' } }, required: ['project.name'] } });
      fake.script(m, [callTools(toolUse('submit_result', { 'project.name': 'demo' }))]);
      expect(await runNow(dotted.id, `${m} report`)).toMatchObject({ status: 'succeeded', stopReason: 'result_submitted', result: { 'project.name': 'demo' } });
    });

    it('takes a schema with an $id in any number of agents and runs (it is compiled afresh for each)', async () => {
      const schema = { $id: 'https://example.com/schemas/result.json', type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
      const first = await createAgent({ allowedOperations: [], outputSchema: schema });
      const second = await createAgent({ allowedOperations: [], outputSchema: schema });
      for (const [index, agent] of [first, second, first].entries()) {
        const m = marker(`schema-id-${index}`);
        fake.script(m, [callTools(toolUse('submit_result', { a: `run ${index}` }))]);
        expect(await runNow(agent.id, `${m} report`)).toMatchObject({ status: 'succeeded', result: { a: `run ${index}` } });
      }
    });
  });

  describe('runs executed inside their requests (wait=true)', () => {
    it('refuses one more than AGENT_WAIT_RUN_CONCURRENCY with 503 before storing anything; a queued run is still taken', async () => {
      const m = marker('wait-limit');
      const agent = await createAgent({ allowedOperations: [] });
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      let asked!: () => void;
      const first = new Promise<void>((resolve) => (asked = resolve));
      fake.script(m, [async () => (asked(), await answered, endTurn('First.'))], endTurn('Later.'));
      const holding = t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} one`, wait: true }).then((res) => res);
      await first;
      const before = await t.sql<{ n: number }>(`SELECT count(*)::int AS n FROM agent_runs WHERE agent_id = $1`, [agent.id]);
      const refused = await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} two`, wait: true }).expect(503);
      expect(refused.body).toMatchObject({ code: 'AGENT_BUSY', details: [expect.objectContaining({ field: 'wait', rule: 'max-waiting-runs' })] });
      expect(refused.body.message).toMatch(/AGENT_WAIT_RUN_CONCURRENCY=1.*without wait/);
      expect(await t.sql(`SELECT count(*)::int AS n FROM agent_runs WHERE agent_id = $1`, [agent.id])).toEqual(before);
      await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} three` }).expect(202);
      answer();
      expect((await holding).body).toMatchObject({ status: 'succeeded', finalText: 'First.' });
      expect((await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} four`, wait: true }).expect(200)).body).toMatchObject({ status: 'succeeded' });
    });
  });

  describe('tool calls of one reply', () => {
    it('executes at most AGENT_MAX_TOOL_CALLS_PER_REPLY, and answers and records the others as not executed', async () => {
      const m = marker('many-calls');
      const agent = await createAgent({ allowedOperations: ['getCurrentWorkspace'] });
      fake.script(m, [callTools(...Array.from({ length: 5 }, () => toolUse('getCurrentWorkspace', {}))), endTurn('Done.')]);
      const run = await runNow(agent.id, `${m} many`);
      expect(run).toMatchObject({ status: 'succeeded', finalText: 'Done.' });
      expect(run.calls.map((call: { responseStatus: number | null }) => call.responseStatus)).toEqual([200, 200, 200, null, null]);
      expect(run.calls[3].error).toMatch(/^Not executed: at most 3 tool calls of one reply .*AGENT_MAX_TOOL_CALLS_PER_REPLY/);
      // Every tool_use of the reply got its tool_result, the last two as errors.
      const answered = fake.requestsOf(m)[1].body.messages.at(-1).content as Array<{ type: string; is_error?: boolean }>;
      expect(answered.map((block) => [block.type, block.is_error === true])).toEqual([...Array(3).fill(['tool_result', false]), ...Array(2).fill(['tool_result', true])]);
    });
  });

  describe('stop reasons', () => {
    it('executes no tool_use of a reply cut off at max_tokens, records each as not executed, and fails the run', async () => {
      const m = marker('max-tokens-tools');
      const agent = await createAgent({ allowedOperations: ['createProject'] });
      fake.script(m, [{ content: [text('Creating it'), toolUse('createProject', { name: 'Cut off' })], stop_reason: 'max_tokens' }]);
      const run = await runNow(agent.id, `${m} create`);
      expect(run).toMatchObject({ status: 'failed', stopReason: 'model_max_tokens', finalText: 'Creating it' });
      expect(run.error).toMatch(/max_tokens \(AGENT_MAX_OUTPUT_TOKENS=\d+\).*1 tool call\(s\) were not executed/);
      expect(run.calls).toEqual([expect.objectContaining({ operationId: 'createProject', responseStatus: null, error: expect.stringMatching(/^Not executed: .*max_tokens.*input may be incomplete/) })]);
      expect(await t.sql(`SELECT id FROM generated_projects WHERE name = 'Cut off'`)).toEqual([]);
    });

    it('fails a run whose conversation filled the context window with a stop reason of its own', async () => {
      const m = marker('context-window');
      const agent = await createAgent({ allowedOperations: ['createProject'] });
      fake.script(m, [{ content: [toolUse('createProject', { name: 'Too late' })], stop_reason: 'model_context_window_exceeded' }]);
      const run = await runNow(agent.id, `${m} create`);
      expect(run).toMatchObject({ status: 'failed', stopReason: 'context_window_exceeded' });
      expect(run.error).toMatch(/context window/);
      expect(run.calls).toEqual([expect.objectContaining({ responseStatus: null, error: expect.stringMatching(/^Not executed/) })]);
    });

    it('gives a paused turn back as it is, and the model goes on with it in the same assistant message', async () => {
      const m = marker('pause-turn');
      const agent = await createAgent({ allowedOperations: ['getCurrentWorkspace'] });
      fake.script(m, [
        { content: [text('Looking into it.')], stop_reason: 'pause_turn' },
        callTools(toolUse('getCurrentWorkspace', {})),
        endTurn('Found it.'),
      ]);
      const run = await runNow(agent.id, `${m} look`);
      expect(run).toMatchObject({ status: 'succeeded', stopReason: 'end_turn', finalText: 'Found it.', iterations: 3 });
      const [, second, third] = fake.requestsOf(m).map((r) => r.body.messages);
      expect(second.map((message: { role: string }) => message.role)).toEqual(['user', 'assistant']);
      expect(second[1].content).toEqual([{ type: 'text', text: 'Looking into it.' }]);
      expect(third.map((message: { role: string }) => message.role)).toEqual(['user', 'assistant', 'user']);
      expect(third[1].content.map((block: { type: string }) => block.type)).toEqual(['text', 'tool_use']);
    });

    it('never sends an empty assistant message when it asks again for a result', async () => {
      const m = marker('empty-reply');
      const agent = await createAgent({ allowedOperations: [], outputSchema: { type: 'object', properties: { done: { type: 'boolean' } }, required: ['done'] } });
      fake.script(m, [{ content: [], stop_reason: 'end_turn' }, callTools(toolUse('submit_result', { done: true }))]);
      const run = await runNow(agent.id, `${m} finish`);
      expect(run).toMatchObject({ status: 'succeeded', stopReason: 'result_submitted', result: { done: true } });
      const second = fake.requestsOf(m)[1].body.messages;
      expect(second).toHaveLength(1);
      expect(second[0].content.map((block: { text: string }) => block.text)).toEqual([`${m} finish`, expect.stringContaining('You have not submitted a result')]);
    });
  });
});

describe('agent runs in a process that serves no HTTP', () => {
  let fake: FakeAnthropicServer;
  let database: TestDatabase | undefined;
  let worker: NestFastifyApplication | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'fl-agent-worker-'));

  beforeAll(async () => {
    fake = await startFakeAnthropic();
  });

  afterAll(async () => {
    await worker?.close();
    await database?.drop();
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('fail clearly without API_BASE_URL, before any key is made or model request sent', async () => {
    database = await createTestDatabase();
    const config = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir, SECRETS_KEY: randomBytes(32).toString('hex'), BOOTSTRAP_API_KEY: `fl_${randomBytes(32).toString('base64url')}`, ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, DATABASE_URL: database.url }, '');
    worker = await createWorker({ config, databaseUrl: database.url, migrations: await loadMigrations() });
    const m = marker('worker');
    fake.script(m, [endTurn('unreachable')]);
    const [{ id: workspaceId }] = await worker.get(DataSource).query(`SELECT id FROM workspaces WHERE slug = 'default'`);
    const agent = await worker.get(AgentsService).create(workspaceId, { name: 'in a worker', allowedOperations: ['getProject'] }, 'write');
    const { run } = await worker.get(AgentRunsService).start(workspaceId, agent.id, { input: `${m} go`, wait: true }, 'write');
    expect(run).toMatchObject({ status: 'failed', stopReason: 'error', apiKeyId: null });
    expect(run.error).toMatch(/^API_BASE_URL is not set and this process serves no HTTP .*set API_BASE_URL to the address of the Forgeline API/);
    expect(await worker.get(DataSource).query(`SELECT id FROM api_keys WHERE name LIKE 'agent-run:%'`)).toEqual([]);
    expect(fake.requestsOf(m)).toEqual([]);
  });

  it('refuse to start as `npm run start:worker` with ANTHROPIC_API_KEY and no API_BASE_URL, saying what to set', async () => {
    const child = spawnService(WORKER, { REDIS_URL: 'redis://127.0.0.1:1', ANTHROPIC_API_KEY: 'fake-llm-key-for-a-worker-0123', DATA_DIR: dataDir });
    expect(await child.exited).toBe(1);
    expect(child.output()).toMatch(/set API_BASE_URL to the address of the app/);
  });

  (REDIS_URL ? it : it.skip)('run in a worker process with API_BASE_URL, calling the app over HTTP', async () => {
    const prefix = `fl-agent-worker-${randomBytes(4).toString('hex')}`;
    const t = await startTestApp({ REDIS_URL: REDIS_URL!, QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '0', ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url });
    const child = spawnService(WORKER, {
      DATABASE_URL: t.databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      ANTHROPIC_API_KEY: fake.apiKey,
      ANTHROPIC_BASE_URL: fake.url,
      API_BASE_URL: t.url,
      SECRETS_KEY: t.config.SECRETS_KEY,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    });
    try {
      await untilOutput(child, 'Forgeline worker running', 30_000);
      const m = marker('worker-process');
      const agent = (await t.api.post('/api/agents').send({ name: 'worker agent', allowedOperations: ['getCurrentWorkspace'] }).expect(201)).body;
      fake.script(m, [callTools(toolUse('getCurrentWorkspace', {})), endTurn('ran in the worker')]);
      const started = await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: `${m} go` }).expect(202);
      const run: Run = await until('the run to finish', async () => {
        const body: Run = (await t.api.get(`/api/agent-runs/${started.body.id}`)).body;
        return body.status === 'succeeded' || body.status === 'failed' ? body : null;
      }, 30_000, child);
      expect(run).toMatchObject({ status: 'succeeded', finalText: 'ran in the worker', calls: [expect.objectContaining({ operationId: 'getCurrentWorkspace', responseStatus: 200 })] });
      expect(fake.violations).toEqual([]);
    } finally {
      await child.stop();
      await t.close();
    }
  });
});
