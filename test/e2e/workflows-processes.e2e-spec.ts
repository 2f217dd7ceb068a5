/**
 * Workflows across processes, with the compiled service (`npm test` builds it first; run
 * `npx tsc -p tsconfig.build.json` before running this file alone): a worker killed with
 * SIGKILL in the middle of a step, and an events stream served (and a cancel received) by one
 * process while the steps run in another.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, MAIN, ServiceProcess, spawnService, until, WORKER } from '../utils/service-process.js';
import { startTestApp, TestApp } from '../utils/test-app.js';
import { createTestDatabase, TestDatabase } from '../utils/test-database.js';

const REDIS_URL = process.env.REDIS_URL;
/** An HTTP server whose first request hangs (the step is "in the middle"); later ones answer at once. */
interface SlowServer {
  url: string;
  requests: number;
  close(): Promise<void>;
}

async function startSlowServer(): Promise<SlowServer> {
  const hanging: ServerResponse[] = [];
  const state = { requests: 0 };
  const server: Server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    state.requests++;
    if (state.requests === 1) {
      hanging.push(response);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ answer: 42, request: state.requests }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const crashWorkflow = (slowUrl: string) => [
  { id: 'project', type: 'create_project', config: { name: 'Crash test' } },
  { id: 'call', type: 'http_request', needs: ['project'], config: { url: `${slowUrl}/answer`, timeoutMs: 20_000 } },
  {
    id: 'files',
    type: 'write_files',
    needs: ['project', 'call'],
    config: { projectId: '${{ steps.project.output.projectId }}', files: [{ path: 'answer.txt', content: 'answer=${{ steps.call.output.json.answer }}' }] },
  },
];

const MODES: Array<[string, boolean]> = [
  ['in-process jobs (the service is the worker)', false],
  [REDIS_URL ? 'Bull jobs on Redis (worker processes)' : 'Bull jobs on Redis (skipped: REDIS_URL is not set)', true],
];

describe.each(MODES)('a worker killed with SIGKILL mid-step, with %s', (_label, redis) => {
  const runIt = !redis || REDIS_URL ? it : it.skip;
  const children: ServiceProcess[] = [];
  const cleanups: Array<() => Promise<unknown> | void> = [];
  const pools: pg.Pool[] = [];

  afterAll(async () => {
    for (const child of children) await child.stop('SIGKILL');
    for (const pool of pools) await pool.end();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /**
   * `claimed`: the kill comes once the step is claimed (running, heartbeating); otherwise while it
   * still runs before its claim (WORKFLOW_STEP_CLAIM_DELAY_MS), queued in PostgreSQL.
   */
  const crashMidStep = async (claimed: boolean) => {
    const slow = await startSlowServer();
    cleanups.push(() => slow.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'fl-wf-crash-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let app: TestApp | undefined;
    const token = `fl_${randomBytes(32).toString('base64url')}`;
    const common: Record<string, string> = {
      BOOTSTRAP_API_KEY: token,
      SECRETS_KEY: randomBytes(32).toString('hex'),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      HTTP_STEP_ALLOWED_HOSTS: '127.0.0.1',
      WORKFLOW_STEP_HEARTBEAT_MS: '200',
      QUEUE_SWEEP_INTERVAL_MS: '300',
      RATE_LIMIT_MAX: '1000000',
      WORKFLOW_STEP_CLAIM_DELAY_MS: claimed ? '50' : '60000',
      // A killed worker's Bull job (a step it ran unclaimed) goes to another worker within ~2 s.
      JOB_LOCK_MS: '1000',
    };
    let api: { base: string; token: string };
    let sql: (text: string, params?: unknown[]) => Promise<Array<Record<string, any>>>;
    let startWorker: () => ServiceProcess;
    if (redis) {
      // The app (this process) only enqueues; the steps run in worker processes.
      const prefix = `fl-wf-crash-${randomBytes(4).toString('hex')}`;
      const { BOOTSTRAP_API_KEY: _key, SECRETS_KEY: _secrets, ...shared } = common;
      app = await startTestApp({ ...shared, REDIS_URL: REDIS_URL!, QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '0' });
      cleanups.push(() => app!.close());
      const env = { ...common, BOOTSTRAP_API_KEY: app.adminToken, SECRETS_KEY: app.config.SECRETS_KEY!, DATABASE_URL: app.databaseUrl, REDIS_URL: REDIS_URL!, QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '2' };
      startWorker = () => spawnService(WORKER, env);
      api = { base: app.url, token: app.adminToken };
      sql = (text, params) => app!.sql(text, params);
    } else {
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      const env = { ...common, DATABASE_URL: database.url };
      const pool = new pg.Pool({ connectionString: database.url, max: 1 });
      sql = async (text, params) => (await pool.query(text, params)).rows;
      const port = await freePort();
      startWorker = () => spawnService(MAIN, { ...env, PORT: String(port) });
      api = { base: `http://127.0.0.1:${port}`, token };
      pools.push(pool);
    }
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${api.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as any };
    };

    const first = startWorker();
    children.push(first);
    if (!redis) await until('the first service to listen', async () => (await fetch(`${api.base}/health/live`)).ok, 30_000, first);
    const workflow = await call('POST', '/api/workflows', { name: 'crash', steps: crashWorkflow(slow.url) });
    expect(workflow.status).toBe(201);
    const run = await call('POST', `/api/workflows/${workflow.body.id}/runs`, { input: {} });
    expect(run.status).toBe(202);

    await until('the step to be in the middle of its HTTP call', async () => slow.requests === 1, 30_000, first);
    const before = await until(
      claimed ? 'the step to be claimed' : 'the step to be seen',
      async () => {
        const [row] = await sql(`SELECT status, executions, attempt FROM workflow_step_runs WHERE run_id = $1 AND step_id = 'call'`, [run.body.id]);
        return !claimed || row?.status === 'running' ? row : undefined;
      },
      30_000,
      first,
    );
    expect(before).toEqual(claimed ? { status: 'running', executions: 1, attempt: 1 } : { status: 'queued', executions: 0, attempt: 1 });
    await first.stop('SIGKILL');
    expect(first.process.signalCode).toBe('SIGKILL');

    const second = startWorker();
    children.push(second);
    const finished = await until(
      'the run to finish in the second process',
      async () => {
        const [row] = await sql(`SELECT status, error FROM workflow_runs WHERE id = $1`, [run.body.id]);
        return row && ['succeeded', 'failed', 'cancelled'].includes(row.status) ? row : undefined;
      },
      60_000,
      second,
    );
    expect(finished).toEqual({ status: 'succeeded', error: null });
    const steps = await sql(`SELECT step_id, status, attempt, executions, output FROM workflow_step_runs WHERE run_id = $1 ORDER BY step_id`, [run.body.id]);
    const byId = Object.fromEntries(steps.map((s) => [s.step_id, s]));
    // Run again by the second worker: the same attempt (a crash is not a failure), claimed a second time (or a first).
    expect(byId.call).toMatchObject({ status: 'succeeded', attempt: 1, executions: claimed ? 2 : 1 });
    expect(byId.call.output.json).toEqual({ answer: 42, request: 2 });
    expect(byId.project).toMatchObject({ status: 'succeeded', executions: 1 });
    expect(slow.requests).toBe(2);
    const [file] = await sql(`SELECT convert_from(content, 'UTF8') AS text FROM project_files WHERE project_id = $1 AND path = 'answer.txt'`, [byId.project.output.projectId]);
    expect(file.text).toBe('answer=42');
  };

  runIt('leads to the step running again in another worker, and the run succeeding', () => crashMidStep(true), 120_000);
  runIt('before the step is claimed, leaves it queued: it runs again in another worker, and the run succeeds', () => crashMidStep(false), 120_000);
});

const describeRedis = REDIS_URL ? describe : describe.skip;

describeRedis(`an events stream served by one process while another runs the steps${REDIS_URL ? '' : ' (skipped: REDIS_URL is not set)'}`, () => {
  let app: TestApp;
  let worker: ServiceProcess | undefined;
  let startWorker: () => ServiceProcess;
  let dataDir: string;

  beforeAll(async () => {
    const prefix = `fl-wf-sse-${randomBytes(4).toString('hex')}`;
    dataDir = mkdtempSync(join(tmpdir(), 'fl-wf-sse-'));
    app = await startTestApp({ REDIS_URL: REDIS_URL!, QUEUE_PREFIX: prefix, WORKER_CONCURRENCY: '0' });
    startWorker = () => spawnService(WORKER, {
      BOOTSTRAP_API_KEY: app.adminToken,
      SECRETS_KEY: app.config.SECRETS_KEY!,
      DATABASE_URL: app.databaseUrl,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      REDIS_URL: REDIS_URL!,
      QUEUE_PREFIX: prefix,
      WORKER_CONCURRENCY: '2',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      HTTP_STEP_ALLOWED_HOSTS: '127.0.0.1',
      // No heartbeat within the tests: a cancel can reach the worker only as a message.
      WORKFLOW_STEP_HEARTBEAT_MS: '60000',
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers the snapshot, every step change and log line of the other process, and ends with the run', async () => {
    const workflow = await app.api
      .post('/api/workflows')
      .send({
        name: 'sse',
        steps: [
          { id: 'project', type: 'create_project', config: { name: 'SSE ${{ input.n }}' } },
          { id: 'files', type: 'write_files', needs: ['project'], config: { projectId: '${{ steps.project.output.projectId }}', files: [{ path: 'a.txt', content: 'a' }] } },
        ],
      })
      .expect(201);
    // This process only enqueues: the run waits until the worker process starts, after the stream is open.
    const run = await app.api.post(`/api/workflows/${workflow.body.id}/runs`).send({ input: { n: 1 } }).expect(202);
    // Another run moves at the same time, on the same channel: none of its events reach this stream.
    const other = await app.api.post(`/api/workflows/${workflow.body.id}/runs`).send({ input: { n: 2 } }).expect(202);
    const response = await fetch(`${app.url}/api/workflow-runs/${run.body.id}/events`, { headers: { authorization: `Bearer ${app.adminToken}` } });
    expect(response.status).toBe(200);
    worker = startWorker();
    const text = await Promise.race([
      response.text(),
      new Promise<string>((_resolve, reject) => setTimeout(() => reject(new Error(`the stream did not end\n${worker?.output()}`)), 30_000)),
    ]);
    const events = text
      .split('\n\n')
      .filter((block) => block.startsWith('event: '))
      .map((block) => ({ event: block.slice(7, block.indexOf('\n')), data: JSON.parse(block.slice(block.indexOf('data: ') + 6)) }));
    expect(events[0].event).toBe('snapshot');
    expect(events[events.length - 1]).toMatchObject({ event: 'run', data: { status: 'succeeded' } });
    expect(events[0].data).toMatchObject({ id: run.body.id, status: 'queued' });
    const seen = events.filter((e) => e.event === 'step').map((e) => `${e.data.stepId}:${e.data.status}`);
    expect(seen).toEqual(['project:running', 'project:succeeded', 'files:queued', 'files:running', 'files:succeeded']);
    expect(events.filter((e) => e.event === 'run').map((e) => e.data.status)).toEqual(['running', 'succeeded']);
    expect(events.some((e) => e.event === 'log' && e.data.stepId === 'files')).toBe(true);
    expect(events.filter((e) => e.data.runId !== undefined && e.data.runId !== run.body.id)).toEqual([]);
    await until('the other run to succeed', async () => (await app.api.get(`/api/workflow-runs/${other.body.id}`).expect(200)).body.status === 'succeeded', 30_000);
  }, 60_000);

  it('aborts a step running in the worker process when the run is cancelled through this one', async () => {
    // The step's request hangs until its connection closes: only the cancel message can close it (no heartbeat is due).
    let closed = false;
    const held: ServerResponse[] = [];
    const server = createServer((request, response) => {
      held.push(response);
      request.socket.once('close', () => (closed = true));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      worker ??= startWorker();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hang`;
      const workflow = await app.api
        .post('/api/workflows')
        .send({ name: 'cancel elsewhere', steps: [{ id: 'call', type: 'http_request', config: { url, timeoutMs: 60_000 } }] })
        .expect(201);
      const run = await app.api.post(`/api/workflows/${workflow.body.id}/runs`).send({ input: {} }).expect(202);
      await until('the worker to send the request', async () => held.length === 1, 20_000);
      await app.api.post(`/api/workflow-runs/${run.body.id}/cancel`).expect(200);
      await until('the worker to abort the request', async () => closed, 20_000);
      const after = (await app.api.get(`/api/workflow-runs/${run.body.id}`).expect(200)).body;
      expect(after.status).toBe('cancelled');
      expect(after.steps[0]).toMatchObject({ stepId: 'call', status: 'cancelled', output: null });
    } finally {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);
});
