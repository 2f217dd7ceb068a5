import { randomBytes } from 'node:crypto';
import { createWorkflow, entriesOf, RunBody, startRun, stepOf, TestStepsModule, waitForRun } from '../factories/workflow.factory.js';
import { expectError } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';
import { jest } from '@jest/globals';
import { RunEvents } from '../../src/workflows/run-events.js';
import { WorkflowRunsService } from '../../src/workflows/workflow-runs.service.js';
import { WorkflowsService } from '../../src/workflows/workflows.service.js';

const REDIS_URL = process.env.REDIS_URL;

/** The same scenarios with jobs in-process and on Bull (Redis); the Redis ones are skipped, visibly, without REDIS_URL. */
const MODES: Array<[string, Record<string, string> | null]> = [
  ['in-process jobs', {}],
  [REDIS_URL ? 'Bull jobs on Redis' : 'Bull jobs on Redis (skipped: REDIS_URL is not set)', REDIS_URL ? { REDIS_URL, QUEUE_PREFIX: `fl-wf-${randomBytes(4).toString('hex')}` } : null],
];

const key = () => `k${randomBytes(5).toString('hex')}`;

describe.each(MODES)('workflows with %s', (_mode, env) => {
  const maybe = env ? it : it.skip;
  let t: TestApp;

  beforeAll(async () => {
    if (!env) return;
    t = await startTestApp({ ...env, WORKFLOW_STEP_HEARTBEAT_MS: '200' }, { imports: [TestStepsModule] });
  });

  afterAll(async () => {
    await t?.close();
  });

  maybe('lists the step types with their schemas, test-only ones from another module included', async () => {
    const res = await t.api.get('/api/workflows/step-types').expect(200);
    const types = res.body.map((s: { type: string }) => s.type);
    expect(types).toEqual(expect.arrayContaining(['create_project', 'write_files', 'http_request', 'test_echo', 'test_sleep']));
    const write = res.body.find((s: { type: string }) => s.type === 'write_files');
    expect(write.input).toMatchObject({ type: 'object', required: ['projectId', 'files'] });
    expect(write.output).toMatchObject({ type: 'object' });
    expect(write.description).toEqual(expect.any(String));
    expect(write.secretFields).toEqual([]);
    expect(res.body.find((s: { type: string }) => s.type === 'http_request').secretFields).toEqual(['url', 'headers', 'body']);
  });

  maybe('creates a project, writes files whose content comes from the input and an earlier output, and reports the outputs', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'project', type: 'create_project', config: { name: '${{ input.name }}' } },
      {
        id: 'files',
        type: 'write_files',
        needs: ['project'],
        config: { projectId: '${{ steps.project.output.projectId }}', files: [{ path: 'README.md', content: '# ${{ input.name }} (${{ steps.project.output.slug }})\n' }] },
      },
    ]);
    const started = await startRun(t.api, workflow.id, { name: 'Billing service' });
    expect(started.status).toMatch(/queued|running|succeeded/);
    expect(started.steps.map((s) => s.stepId)).toEqual(['project', 'files']);
    const run = await waitForRun(t.api, started.id);
    expect(run.status).toBe('succeeded');
    const projectId = stepOf(run, 'project').output.projectId;
    expect(stepOf(run, 'files').config.projectId).toBe(projectId);
    expect(run.output).toEqual({ files: expect.objectContaining({ created: 1 }) });
    const content = await t.api.get(`/api/projects/${projectId}/files/content`).query({ path: 'README.md' }).expect(200);
    expect(content.text).toBe('# Billing service (billing-service)\n');
  });

  maybe('runs the steps whose needs are met in parallel, and a join after both', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'start', type: 'test_echo', config: { key: k } },
      { id: 'left', type: 'test_sleep', needs: ['start'], config: { key: k, ms: 400 } },
      { id: 'right', type: 'test_sleep', needs: ['start'], config: { key: k, ms: 400 } },
      { id: 'join', type: 'test_echo', needs: ['left', 'right'], config: { key: k, value: '${{ steps.left.output.finishedAt }}' } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(run.status).toBe('succeeded');
    const [left, right] = [stepOf(run, 'left').output, stepOf(run, 'right').output];
    expect(left.startedAt).toBeLessThan(right.finishedAt);
    expect(right.startedAt).toBeLessThan(left.finishedAt);
    const join = entriesOf(k).find((e) => e.stepId === 'join')!;
    expect(join.startedAt).toBeGreaterThanOrEqual(Math.max(left.finishedAt, right.finishedAt));
    expect(stepOf(run, 'join').output).toEqual({ value: left.finishedAt });
  });

  maybe('retries a failing step with backoff until it succeeds', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [{ id: 'flaky', type: 'test_flaky', retry: { attempts: 3, backoffMs: 50 }, config: { key: k, succeedOn: 3 } }]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'flaky')).toMatchObject({ status: 'succeeded', attempt: 3, output: { attempt: 3 } });
    const attempts = entriesOf(k);
    expect(attempts.map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(attempts[1].startedAt - attempts[0].finishedAt!).toBeGreaterThanOrEqual(45);
    expect(attempts[2].startedAt - attempts[1].finishedAt!).toBeGreaterThanOrEqual(95);
  });

  maybe('fails the run when a step fails after its retries, skips its dependents, and resumes from it on retry', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'first', type: 'test_echo', config: { key: k, value: 'kept' } },
      { id: 'flaky', type: 'test_flaky', needs: ['first'], retry: { attempts: 2 }, config: { key: k, succeedOn: 3, message: 'boom' } },
      { id: 'after', type: 'test_echo', needs: ['flaky'], config: { key: k, value: '${{ steps.first.output.value }}' } },
      { id: 'other', type: 'test_echo', config: { key: k } },
    ]);
    const failed = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/"flaky"/);
    expect(stepOf(failed, 'flaky')).toMatchObject({ status: 'failed', attempt: 2, error: 'boom' });
    expect(stepOf(failed, 'after').status).toBe('skipped');
    expect(stepOf(failed, 'other').status).toBe('succeeded');
    const firstRuns = entriesOf(k).filter((e) => e.stepId === 'first').length;

    const retried = await t.api.post(`/api/workflow-runs/${failed.id}/retry`).expect(202);
    expect(['queued', 'running', 'succeeded']).toContain(retried.body.status);
    const run = await waitForRun(t.api, failed.id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'flaky')).toMatchObject({ status: 'succeeded', attempt: 3 });
    expect(stepOf(run, 'after').output).toEqual({ value: 'kept' });
    expect(entriesOf(k).filter((e) => e.stepId === 'first').length).toBe(firstRuns);
    expect(stepOf(run, 'first').finishedAt).toBe(stepOf(failed, 'first').finishedAt);
    expectError(await t.api.post(`/api/workflow-runs/${failed.id}/retry`), 409, 'WORKFLOW_RUN_NOT_RETRYABLE');
  });

  maybe('runs a step queued by the one step it reads before claiming it: a quick one is claimed by its finish, a slow one after WORKFLOW_STEP_CLAIM_DELAY_MS', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'first', type: 'test_own_row', config: {} },
      { id: 'quick', type: 'test_own_row', needs: ['first'], config: {} },
      // Longer than the delay (50 ms) and than 3 heartbeats (200 ms each): claimed, then kept alive.
      { id: 'slow', type: 'test_own_row', needs: ['quick'], config: { waitMs: 800 } },
      { id: 'saves', type: 'test_own_row', needs: ['slow'], config: { checkpoint: true } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(run.status).toBe('succeeded');
    // Queued by the run's start: claimed before it runs.
    expect(stepOf(run, 'first').output).toEqual({ status: 'running', executions: 1, heartbeat: true });
    // Queued by `first`, which handed over its output: still queued in PostgreSQL while it ran.
    expect(stepOf(run, 'quick').output).toEqual({ status: 'queued', executions: 0, heartbeat: false });
    expect(stepOf(run, 'slow').output).toEqual({ status: 'running', executions: 1, heartbeat: true });
    // A checkpoint is saved under a claim: saving it claims the step first.
    expect(stepOf(run, 'saves').output).toEqual({ status: 'running', executions: 1, heartbeat: true });
    const rows = await t.sql<{ step_id: string; status: string; executions: number; attempt: number; started: boolean }>(
      `SELECT step_id, status, executions, attempt, started_at <= finished_at AS started FROM workflow_step_runs WHERE run_id = $1 ORDER BY step_id`,
      [run.id],
    );
    expect(rows).toEqual(['first', 'quick', 'saves', 'slow'].map((stepId) => ({ step_id: stepId, status: 'succeeded', executions: 1, attempt: 1, started: true })));
  });

  maybe('lets the run go on past a step with continueOnError', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'shaky', type: 'test_flaky', continueOnError: true, config: { succeedOn: 9 } },
      { id: 'next', type: 'test_echo', needs: ['shaky'], config: { value: '${{ steps.shaky.status }}' } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'shaky').status).toBe('failed');
    expect(stepOf(run, 'next').output).toEqual({ value: 'failed' });
  });

  maybe('aborts a step over its timeout and counts it as failed', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'slow', type: 'test_sleep', timeoutMs: 200, config: { key: k, ms: 10_000 } },
      { id: 'stuck', type: 'test_sleep', timeoutMs: 200, config: { key: k, ms: 5_000, ignoreAbort: true } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    // The run ended without waiting for either executor: one was aborted, the other ignores its signal.
    expect(entriesOf(k).map((e) => [e.stepId, e.finishedAt])).toEqual(expect.arrayContaining([['slow', undefined], ['stuck', undefined]]));
    expect(run.status).toBe('failed');
    expect(stepOf(run, 'slow')).toMatchObject({ status: 'failed', error: 'timed out after 200 ms' });
    expect(stepOf(run, 'stuck')).toMatchObject({ status: 'failed', error: 'timed out after 200 ms' });
    expect(entriesOf(k).find((e) => e.stepId === 'slow')!.aborted).toBe('timeout');
  });

  maybe('cancels a run: the running step is aborted and the queued ones never run', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'long', type: 'test_sleep', config: { key: k, ms: 20_000 } },
      { id: 'later', type: 'test_echo', needs: ['long'], config: { key: k } },
    ]);
    const started = await startRun(t.api, workflow.id);
    await waitForRun(t.api, started.id, (run) => stepOf(run, 'long').status === 'running');
    const cancelled = await t.api.post(`/api/workflow-runs/${started.id}/cancel`).expect(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.steps.map((s: { status: string }) => s.status)).toEqual(['cancelled', 'cancelled']);
    const deadline = Date.now() + 3_000;
    while (!entriesOf(k)[0]?.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(entriesOf(k)[0].aborted).toBe('cancelled');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(entriesOf(k).map((e) => e.stepId)).toEqual(['long']);
    expect((await t.api.post(`/api/workflow-runs/${started.id}/cancel`).expect(200)).body.status).toBe('cancelled');
    const done = await waitForRun(t.api, (await startRun(t.api, (await createWorkflow(t.api, [{ id: 'a', type: 'test_echo', config: {} }])).id)).id);
    expectError(await t.api.post(`/api/workflow-runs/${done.id}/cancel`), 409, 'WORKFLOW_RUN_FINISHED');
  });

  maybe('skips a step whose condition is false, and its dependents still run', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'maybe', type: 'test_echo', if: '${{ input.enabled }}', config: {} },
      { id: 'after', type: 'test_echo', needs: ['maybe'], config: { value: '${{ steps.maybe.status }}' } },
    ]);
    const off = await waitForRun(t.api, (await startRun(t.api, workflow.id, { enabled: false })).id);
    expect(off.status).toBe('succeeded');
    expect(stepOf(off, 'maybe').status).toBe('skipped');
    expect(stepOf(off, 'after').output).toEqual({ value: 'skipped' });
    const on = await waitForRun(t.api, (await startRun(t.api, workflow.id, { enabled: true })).id);
    expect(stepOf(on, 'maybe').status).toBe('succeeded');
  });

  maybe('masks a secret in the resolved config, logs, output and error', async () => {
    const secret = `sv-${randomBytes(8).toString('hex')}`;
    await t.api.post('/api/secrets').send({ name: 'WF_TOKEN', value: secret }).expect(200);
    const workflow = await createWorkflow(t.api, [
      { id: 'use', type: 'test_echo', config: { value: 'token=${{ secrets.WF_TOKEN }}', lines: ['header: Bearer ${{ secrets.WF_TOKEN }}'] } },
      { id: 'leak', type: 'test_flaky', config: { succeedOn: 2, message: 'failed with ${{ secrets.WF_TOKEN }}' } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(stepOf(run, 'use').output).toEqual({ value: 'token=***' });
    expect(stepOf(run, 'use').config.value).toBe('token=***');
    expect(stepOf(run, 'use').logs.map((l) => l.message)).toEqual(['header: Bearer ***']);
    expect(stepOf(run, 'leak').error).toBe('failed with ***');
    expect(JSON.stringify(run)).not.toContain(secret);
    const rows = await t.sql(`SELECT s.* FROM workflow_step_runs s WHERE s.run_id = $1`, [run.id]);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });

  maybe('masks a secret before a log line or an error is cut to MAX_STEP_LOG_LINE_CHARS, so no part of it shows', async () => {
    const secret = `sv-${randomBytes(8).toString('hex')}`;
    await t.api.post('/api/secrets').send({ name: 'WF_CUT', value: secret }).expect(200);
    // The secret starts 10 characters before the 4,000th: cut first, its first 10 would be kept.
    const long = `${'x'.repeat(3_990)}\${{ secrets.WF_CUT }} end`;
    const workflow = await createWorkflow(t.api, [
      { id: 'log', type: 'test_echo', config: { lines: [long] } },
      { id: 'err', type: 'test_flaky', config: { succeedOn: 2, message: long } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(stepOf(run, 'log').logs[0].message).toBe(`${'x'.repeat(3_990)}*** end`);
    expect(stepOf(run, 'err').error).toBe(`${'x'.repeat(3_990)}*** end`);
    expect(JSON.stringify(run)).not.toContain(secret.slice(0, 8));
  });

  maybe('refuses a secret in a field where its value would be stored and readable (file content, a project name), and stores nothing', async () => {
    const before = (await t.api.get('/api/workflows').expect(200)).body.total;
    const res = await t.api
      .post('/api/workflows')
      .send({
        name: 'exfiltrate',
        steps: [
          { id: 'project', type: 'create_project', config: { name: 'p-${{ secrets.WF_TOKEN }}' } },
          { id: 'files', type: 'write_files', needs: ['project'], config: { projectId: '${{ steps.project.output.projectId }}', files: [{ path: 'leak.txt', content: '${{ secrets.WF_TOKEN }}' }] } },
        ],
      })
      .expect(400);
    expect(res.body.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'steps[0].config.name', rule: 'secret-not-allowed', stepId: 'project' }),
        expect.objectContaining({ field: 'steps[1].config.files[0].content', rule: 'secret-not-allowed', stepId: 'files' }),
      ]),
    );
    expect((await t.api.get('/api/workflows').expect(200)).body.total).toBe(before);
  });

  maybe('fails a step whose secret does not exist, and a step whose output breaks its schema', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'nosecret', type: 'test_echo', config: { value: '${{ secrets.NOT_THERE }}' } },
      { id: 'bad', type: 'test_bad_output', config: {} },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(stepOf(run, 'nosecret')).toMatchObject({ status: 'failed', error: expect.stringMatching(/NOT_THERE/) });
    expect(stepOf(run, 'bad')).toMatchObject({ status: 'failed', error: expect.stringMatching(/output schema.*count/) });
  });

  maybe('keeps a run on the definition it started with when the workflow is updated', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'wait', type: 'test_sleep', config: { key: k, ms: 300 } },
      { id: 'say', type: 'test_echo', needs: ['wait'], config: { value: 'v1' } },
    ]);
    const first = await startRun(t.api, workflow.id);
    const updated = await t.api
      .patch(`/api/workflows/${workflow.id}`)
      .send({ steps: [{ id: 'say', type: 'test_echo', config: { value: 'v2' } }] })
      .expect(200);
    expect(updated.body.version).toBe(2);
    const second = await startRun(t.api, workflow.id);
    const [a, b] = [await waitForRun(t.api, first.id), await waitForRun(t.api, second.id)];
    expect(a).toMatchObject({ status: 'succeeded', workflowVersion: 1, output: { say: { value: 'v1' } } });
    expect(a.definition.steps).toHaveLength(2);
    expect(b).toMatchObject({ status: 'succeeded', workflowVersion: 2, output: { say: { value: 'v2' } } });
    const list = await t.api.get(`/api/workflows/${workflow.id}/runs`).query({ status: 'succeeded' }).expect(200);
    expect(list.body.total).toBe(2);
    expect((await t.api.get(`/api/workflows/${workflow.id}/runs`).query({ status: 'failed' }).expect(200)).body.total).toBe(0);
  });

  maybe('streams a run as Server-Sent Events: the current state first, then changes and log lines, and ends with the run', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'wait', type: 'test_sleep', config: { ms: 300 } },
      { id: 'talk', type: 'test_echo', needs: ['wait'], config: { lines: ['hello from a step'] } },
    ]);
    const run = await startRun(t.api, workflow.id);
    const response = await fetch(`${t.url}/api/workflow-runs/${run.id}/events`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseSse(await response.text());
    expect(events[0].event).toBe('snapshot');
    expect(events[0].data.id).toBe(run.id);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ event: 'run', data: { status: 'succeeded' } });
    expect(events).toEqual(expect.arrayContaining([
      expect.objectContaining({ event: 'step', data: expect.objectContaining({ stepId: 'talk', status: 'running' }) }),
      expect.objectContaining({ event: 'log', data: expect.objectContaining({ stepId: 'talk', message: 'hello from a step' }) }),
      expect.objectContaining({ event: 'step', data: expect.objectContaining({ stepId: 'talk', status: 'succeeded' }) }),
    ]));
    const ended = await fetch(`${t.url}/api/workflow-runs/${run.id}/events`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    const again = parseSse(await ended.text());
    expect(again.map((e) => e.event)).toEqual(['snapshot']);
    expect((await fetch(`${t.url}/api/workflow-runs/${run.id}/events`)).status).toBe(401);
  });

  maybe('streams a cancel as the cancelled steps, each named, then the cancelled run', async () => {
    const workflow = await createWorkflow(t.api, [
      { id: 'long', type: 'test_sleep', config: { ms: 20_000 } },
      { id: 'after', type: 'test_echo', needs: ['long'], config: {} },
    ]);
    const run = await startRun(t.api, workflow.id);
    await waitForRun(t.api, run.id, (body) => stepOf(body, 'long').status === 'running');
    const response = await fetch(`${t.url}/api/workflow-runs/${run.id}/events`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    const text = response.text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await t.api.post(`/api/workflow-runs/${run.id}/cancel`).expect(200);
    const events = parseSse(await text);
    const cancelled = events.filter((e) => e.event === 'step' && e.data.status === 'cancelled').map((e) => e.data.stepId).sort();
    expect(cancelled).toEqual(['after', 'long']);
    expect(events[events.length - 1]).toMatchObject({ event: 'run', data: { status: 'cancelled' } });
  });
});

describe.each(MODES)('steps running before their claim, with %s', (_mode, env) => {
  const maybe = env ? it : it.skip;
  let t: TestApp;

  beforeAll(async () => {
    if (!env) return;
    // The claim is never due on its own: a step queued by the one it reads runs unclaimed to its end.
    // Two steps at a time, so that a step can be made to wait for its turn behind other runs' steps.
    t = await startTestApp({ ...env, WORKFLOW_STEP_HEARTBEAT_MS: '200', WORKFLOW_STEP_CLAIM_DELAY_MS: '60000', WORKFLOW_STEP_CONCURRENCY: '2' }, { imports: [TestStepsModule] });
  });

  afterAll(async () => {
    await t?.close();
  });

  maybe('leaves an unclaimed step out of the heartbeats, and claims a failed one to record its retry', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'first', type: 'test_echo', config: {} },
      // Longer than 3 heartbeats: an unclaimed step has none, and nothing takes it over.
      { id: 'long', type: 'test_own_row', needs: ['first'], config: { waitMs: 800 } },
      { id: 'flaky', type: 'test_flaky', needs: ['long'], retry: { attempts: 2 }, config: { key: k, succeedOn: 2 } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id);
    expect(run.status).toBe('succeeded');
    expect(stepOf(run, 'long')).toMatchObject({ status: 'succeeded', attempt: 1, output: { status: 'queued', executions: 0, heartbeat: false } });
    expect(stepOf(run, 'flaky')).toMatchObject({ status: 'succeeded', attempt: 2, output: { attempt: 2 } });
    expect(entriesOf(k).map((e) => e.attempt)).toEqual([1, 2]);
    const rows = await t.sql<{ step_id: string; executions: number }>(`SELECT step_id, executions FROM workflow_step_runs WHERE run_id = $1 ORDER BY step_id`, [run.id]);
    expect(rows).toEqual([
      { step_id: 'first', executions: 1 },
      { step_id: 'flaky', executions: 2 },
      { step_id: 'long', executions: 1 },
    ]);
  });

  maybe('aborts a step running unclaimed when its run is cancelled, and records nothing of it', async () => {
    const k = key();
    const workflow = await createWorkflow(t.api, [
      { id: 'first', type: 'test_echo', config: {} },
      { id: 'long', type: 'test_sleep', needs: ['first'], config: { key: k, ms: 20_000 } },
    ]);
    const started = await startRun(t.api, workflow.id);
    const deadline = Date.now() + 10_000;
    while (entriesOf(k).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(entriesOf(k)).toHaveLength(1);
    const running = (await t.api.get(`/api/workflow-runs/${started.id}`).expect(200)).body as RunBody;
    expect(stepOf(running, 'long')).toMatchObject({ status: 'queued', startedAt: null });
    await t.api.post(`/api/workflow-runs/${started.id}/cancel`).expect(200);
    while (!entriesOf(k)[0].aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(entriesOf(k)[0].aborted).toBe('cancelled');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const run = (await t.api.get(`/api/workflow-runs/${started.id}`).expect(200)).body as RunBody;
    expect(run.status).toBe('cancelled');
    expect(stepOf(run, 'long')).toMatchObject({ status: 'cancelled', output: null });
    expect(entriesOf(k)).toHaveLength(1);
  });

  maybe('never runs a step whose job was still waiting for a worker when its run was cancelled', async () => {
    const k = key();
    const victim = await createWorkflow(t.api, [
      { id: 'first', type: 'test_sleep', config: { ms: 300 } },
      { id: 'quick', type: 'test_echo', needs: ['first'], config: { key: k } },
    ]);
    // Three steps of another run take the turns: `quick`, queued when `first` ends, waits behind two of them.
    const busy = await createWorkflow(t.api, ['a', 'b', 'c'].map((id) => ({ id, type: 'test_sleep', config: { ms: 1_000 } })));
    const run = await startRun(t.api, victim.id);
    const other = await startRun(t.api, busy.id);
    await waitForRun(t.api, run.id, (body) => stepOf(body, 'first').status === 'succeeded');
    const cancelled = (await t.api.post(`/api/workflow-runs/${run.id}/cancel`).expect(200)).body as RunBody;
    expect(stepOf(cancelled, 'quick').status).toBe('cancelled');
    expect((await waitForRun(t.api, other.id)).status).toBe('succeeded');
    // The waiting job has had its turn by now: it found its run cancelled and ran nothing.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(entriesOf(k)).toHaveLength(0);
    expect(stepOf((await t.api.get(`/api/workflow-runs/${run.id}`).expect(200)).body as RunBody, 'quick')).toMatchObject({ status: 'cancelled', output: null });
  });
});

describe('a step whose job is older than JOB_LOCK_MS when its turn comes (in-process jobs)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ WORKFLOW_STEP_CLAIM_DELAY_MS: '60000', WORKFLOW_STEP_CONCURRENCY: '2', JOB_LOCK_MS: '1000' }, { imports: [TestStepsModule] });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('is claimed before it runs: its job may be a delivery again of one that already ran', async () => {
    const chain = await createWorkflow(t.api, [
      { id: 'first', type: 'test_sleep', config: { ms: 300 } },
      { id: 'own', type: 'test_own_row', needs: ['first'], config: {} },
    ]);
    // Two other steps take the turns for 1.5 s: `own`, queued at 0.3 s, starts at about 1.5 s.
    const busy = await createWorkflow(t.api, ['a', 'b'].map((id) => ({ id, type: 'test_sleep', config: { ms: 1_500 } })));
    const run = await startRun(t.api, chain.id);
    await startRun(t.api, busy.id);
    const done = await waitForRun(t.api, run.id);
    expect(done.status).toBe('succeeded');
    expect(stepOf(done, 'own').output).toMatchObject({ status: 'running', executions: 1 });
  });
});

describe('workflow definitions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ MAX_WORKFLOW_STEPS: '5', MAX_STEP_ATTEMPTS: '4', MAX_STEP_TIMEOUT_MS: '60000' }, { imports: [TestStepsModule] });
  });
  afterAll(async () => {
    await t?.close();
  });

  const echo = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'test_echo', config: {}, ...extra });

  it('answers 404, not 500, to a run started while its workflow is being deleted', async () => {
    const workflow = await createWorkflow(t.api, [echo('a')]);
    const workflows = t.app.get(WorkflowsService);
    const read = workflows.get.bind(workflows);
    // The workflow goes between the read and the run's insert.
    const spy = jest.spyOn(workflows, 'get').mockImplementationOnce(async (...args) => {
      const found = await read(...args);
      await t.sql(`DELETE FROM workflows WHERE id = $1`, [workflow.id]);
      return found;
    });
    try {
      expectError(await t.api.post(`/api/workflows/${workflow.id}/runs`).send({ input: {} }), 404, 'WORKFLOW_NOT_FOUND');
    } finally {
      spy.mockRestore();
    }
  });

  it('drops the listener of an event stream whose client went away while its snapshot was read', async () => {
    const workflow = await createWorkflow(t.api, [{ id: 'long', type: 'test_sleep', config: { ms: 5_000 } }]);
    const run = await startRun(t.api, workflow.id);
    const runs = t.app.get(WorkflowRunsService);
    const read = runs.get.bind(runs);
    const spy = jest.spyOn(runs, 'get').mockImplementation(async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      return read(...args);
    });
    const listeners = () => (t.app.get(RunEvents) as unknown as { runListeners: Map<string, Set<unknown>> }).runListeners.get(run.id)?.size ?? 0;
    try {
      const controller = new AbortController();
      const opening = fetch(`${t.url}/api/workflow-runs/${run.id}/events`, { headers: { authorization: `Bearer ${t.adminToken}` }, signal: controller.signal });
      opening.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(listeners()).toBe(1);
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(listeners()).toBe(0);
    } finally {
      spy.mockRestore();
      await t.api.post(`/api/workflow-runs/${run.id}/cancel`);
    }
  });

  it.each([
    ['duplicate ids', [echo('a'), echo('a')], { field: 'steps[1].id', rule: 'duplicate-id', stepId: 'a' }],
    ['an unknown type', [{ id: 'a', type: 'shell', config: {} }], { field: 'steps[0].type', rule: 'unknown-type', stepId: 'a' }],
    ['a config the type\'s schema refuses', [{ id: 'w', type: 'write_files', config: { projectId: 'x', files: [] } }], { rule: 'config-schema', stepId: 'w' }],
    ['needs naming a missing step', [echo('a', { needs: ['ghost'] })], { field: 'steps[0].needs[0]', rule: 'unknown-need', stepId: 'a' }],
    ['a cycle', [echo('a', { needs: ['b'] }), echo('b', { needs: ['a'] })], { rule: 'cycle' }],
    ['an expression naming a later step', [echo('a', { config: { value: '${{ steps.b.output }}' } }), echo('b', { needs: ['a'] })], { field: 'steps[0].config.value', rule: 'expression-not-upstream', stepId: 'a' }],
    ['an expression reaching __proto__', [echo('a', { config: { value: '${{ input.__proto__.polluted }}' } })], { rule: 'forbidden-segment', stepId: 'a' }],
    ['an expression reaching constructor', [echo('a', { config: { value: '${{ input.constructor.prototype }}' } })], { rule: 'forbidden-segment', stepId: 'a' }],
    ['an expression that would be code', [echo('a', { config: { value: '${{ input.x; process.exit() }}' } })], { rule: 'expression-syntax', stepId: 'a' }],
    ['more than MAX_WORKFLOW_STEPS steps', ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => echo(id)), { field: 'steps', rule: 'max-steps' }],
    ['more attempts than MAX_STEP_ATTEMPTS', [echo('a', { retry: { attempts: 5 } })], { rule: 'max-attempts', stepId: 'a' }],
    ['a timeout over MAX_STEP_TIMEOUT_MS', [echo('a', { timeoutMs: 60_001 })], { rule: 'max-timeout', stepId: 'a' }],
  ])('answers 400 naming the step and the rule for %s', async (_label, steps, detail) => {
    const res = await t.api.post('/api/workflows').send({ name: 'bad', steps });
    const body = expectError(res, 400, 'WORKFLOW_INVALID');
    expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining(detail)]));
  });

  it('validates an update the same way, and leaves the workflow as it was', async () => {
    const workflow = await createWorkflow(t.api, [echo('a')]);
    const res = await t.api.patch(`/api/workflows/${workflow.id}`).send({ steps: [echo('a', { needs: ['a'] })] });
    expect(expectError(res, 400, 'WORKFLOW_INVALID').details).toEqual([expect.objectContaining({ rule: 'self-need', stepId: 'a' })]);
    const stored = await t.api.get(`/api/workflows/${workflow.id}`).expect(200);
    expect(stored.body).toMatchObject({ version: 1, steps: [echo('a')] });
  });

  it('creates, lists, reads, updates and deletes a workflow', async () => {
    const created = await t.api.post('/api/workflows').send({ name: 'crud', description: 'd', steps: [echo('a')] }).expect(201);
    expect(created.body).toMatchObject({ name: 'crud', description: 'd', version: 1, steps: [echo('a')] });
    const listed = await t.api.get('/api/workflows').expect(200);
    expect(listed.body.items.map((w: { id: string }) => w.id)).toContain(created.body.id);
    const renamed = await t.api.patch(`/api/workflows/${created.body.id}`).send({ name: 'renamed' }).expect(200);
    expect(renamed.body).toMatchObject({ name: 'renamed', version: 2 });
    await t.api.delete(`/api/workflows/${created.body.id}`).expect(204);
    expectError(await t.api.get(`/api/workflows/${created.body.id}`), 404, 'WORKFLOW_NOT_FOUND');
    expectError(await t.api.get(`/api/workflow-runs/${created.body.id}`), 404, 'WORKFLOW_RUN_NOT_FOUND');
  });

  it('refuses a run input larger than MAX_WORKFLOW_INPUT_BYTES, and one that is not an object', async () => {
    const workflow = await createWorkflow(t.api, [echo('a')]);
    expectError(await t.api.post(`/api/workflows/${workflow.id}/runs`).send({ input: { big: 'x'.repeat(1_100_000) } }), 400, 'WORKFLOW_INPUT_INVALID');
    expectError(await t.api.post(`/api/workflows/${workflow.id}/runs`).send({ input: 'text' }), 400, 'VALIDATION_FAILED');
  });
});

function parseSse(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter((block) => block.trim() && !block.startsWith(':'))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      return { event, data: JSON.parse(data) };
    });
}

export type { RunBody };
