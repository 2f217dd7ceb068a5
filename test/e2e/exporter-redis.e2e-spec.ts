import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig } from '../../src/config/app-config.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { createWorker } from '../../src/worker.js';
import { startGitHttpServer, GitHttpServer } from '../setup/git-http-server.js';
import { git, scratch } from '../utils/git-cli.js';
import { freePort, spawnService, untilOutput, WORKER } from '../utils/service-process.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

const REDIS_URL = process.env.REDIS_URL;
/** This file's own Bull prefix: no other test file (or run) sees these jobs. */
const PREFIX = `fl-test-exporter-${randomBytes(4).toString('hex')}`;
const describeRedis = REDIS_URL ? describe : describe.skip;

interface ExportBody {
  id: string;
  status: string;
  commitSha: string | null;
  parentSha: string | null;
  unchanged: boolean | null;
  attempts: number;
  error: string | null;
  pushResult: unknown;
}

describeRedis(REDIS_URL ? 'exporter with Redis: the app enqueues, separate workers run the jobs' : 'exporter with Redis: SKIPPED, REDIS_URL is not set', () => {
  let t: TestApp;
  let remote: GitHttpServer;
  const workers: NestFastifyApplication[] = [];
  const repos = scratch('repos-redis');
  const shared = () => ({
    REDIS_URL: REDIS_URL as string,
    QUEUE_PREFIX: PREFIX,
    REPOS_DIR: repos.path,
    GIT_ALLOW_HTTP: 'true',
    OUTBOUND_ALLOW_PRIVATE: 'true',
    JOB_BACKOFF_MS: '100',
    QUEUE_SWEEP_INTERVAL_MS: '0',
  });

  /** A worker: the same modules, no HTTP, on the app's database and Redis prefix. */
  async function startWorker(env: Record<string, string> = {}): Promise<NestFastifyApplication> {
    const config = loadConfig({ LOG_LEVEL: 'warn', SECRETS_KEY: t.config.SECRETS_KEY as string, DATA_DIR: '.data/test', ...shared(), WORKER_CONCURRENCY: '2', ...env, DATABASE_URL: t.databaseUrl }, '');
    // The app has run the migrations already.
    const worker = await createWorker({ config, databaseUrl: t.databaseUrl, migrations: [] });
    workers.push(worker);
    return worker;
  }

  async function stopWorkers(): Promise<void> {
    await Promise.all(workers.splice(0).map((worker) => worker.close()));
  }

  async function project(content = 'a'): Promise<{ id: string; slug: string }> {
    const created = await t.api.post('/api/projects').send({ name: `Redis export ${randomBytes(3).toString('hex')}` }).expect(201);
    await t.api.put(`/api/projects/${created.body.id}/files`).send({ files: [{ path: 'a.txt', content }] }).expect(200);
    return created.body;
  }

  async function waitFor(exportId: string, timeoutMs = 30_000): Promise<ExportBody> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await t.api.get(`/api/exports/${exportId}`).expect(200);
      if (body.status === 'succeeded' || body.status === 'failed') return body;
      if (Date.now() > deadline) throw new Error(`export ${exportId} is still ${body.status}: ${JSON.stringify(body)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  beforeAll(async () => {
    remote = await startGitHttpServer();
    // The app only enqueues: every export below is run by a worker, through Redis.
    t = await startTestApp({ ...shared(), WORKER_CONCURRENCY: '0' });
  });

  afterAll(async () => {
    await stopWorkers();
    await t?.close();
    await remote?.close();
    const redis = new Redis(REDIS_URL as string);
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    repos.cleanup();
  });

  afterEach(stopWorkers);

  it('runs an export the app enqueued in a worker', async () => {
    expect(t.app.get(JobQueue).backend).toBe('bull');
    await startWorker();
    const p = await project();
    const accepted = await t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202);
    expect(accepted.body.status).toBe('queued');
    const done = await waitFor(accepted.body.id);
    expect(done).toMatchObject({ status: 'succeeded', unchanged: false, attempts: 1 });
    await git(['--git-dir', join(repos.path, `${p.id}.git`), 'fsck', '--strict', '--no-dangling']);
  });

  it('serialises concurrent exports across two workers: one commit and one unchanged', async () => {
    await Promise.all([startWorker(), startWorker()]);
    const p = await project('0');
    let tip = (await waitFor((await t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202)).body.id)).commitSha;
    for (let round = 1; round <= 3; round++) {
      await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'a.txt', content: String(round) }] }).expect(200);
      const accepted = await Promise.all([1, 2, 3].map(() => t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202)));
      const results = await Promise.all(accepted.map((res) => waitFor(res.body.id)));
      const made = results.filter((r) => !r.unchanged);
      expect(made).toHaveLength(1);
      expect(made[0].parentSha).toBe(tip);
      tip = made[0].commitSha;
    }
    expect((await git(['--git-dir', join(repos.path, `${p.id}.git`), 'rev-list', '--count', 'main'])).trim()).toBe('4');
  });

  it('keeps the work in PostgreSQL: after Redis loses the job, a worker\'s start-up sweep runs it', async () => {
    const p = await project();
    const accepted = await t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202);
    // Redis is flushed (or restarted without persistence) before any worker took the job.
    const redis = new Redis(REDIS_URL as string);
    const keys = await redis.keys(`${PREFIX}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    await redis.quit();
    expect((await t.api.get(`/api/exports/${accepted.body.id}`).expect(200)).body.status).toBe('queued');
    await startWorker();
    expect(await waitFor(accepted.body.id)).toMatchObject({ status: 'succeeded' });
  });

  it('hands a running export back when its worker stops, and another worker finishes it', async () => {
    const first = await startWorker({ JOB_SHUTDOWN_GRACE_MS: '200', GIT_PUSH_TIMEOUT_MS: '20000' });
    const p = await project();
    remote.createRepository(`handback-${p.slug}`);
    // The remote does not answer the first push: the job is still running when its worker stops.
    const url = `${remote.url}/hang-once/handback-${p.slug}.git`;
    const accepted = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url } }).expect(202);
    const deadline = Date.now() + 10_000;
    while ((await t.api.get(`/api/exports/${accepted.body.id}`).expect(200)).body.status !== 'running') {
      if (Date.now() > deadline) throw new Error('the export never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // Into the push.
    await first.close();
    workers.splice(workers.indexOf(first), 1);
    const handedBack = (await t.api.get(`/api/exports/${accepted.body.id}`).expect(200)).body;
    expect(handedBack).toMatchObject({ status: 'queued', error: expect.stringMatching(/handed back/) });

    await startWorker();
    const done = await waitFor(accepted.body.id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2, error: null, commitSha: handedBack.commitSha ?? expect.any(String) });
    expect((await git(['--git-dir', remote.pathOf(`handback-${p.slug}`), 'rev-parse', 'main'])).trim()).toBe(done.commitSha);
    expect((await git(['--git-dir', join(repos.path, `${p.id}.git`), 'rev-list', '--count', 'main'])).trim()).toBe('1');
  });

  it('runs as its own process with `npm run start:worker` (node dist/src/worker.js), serving no HTTP', async () => {
    const port = await freePort();
    const worker = spawnService(WORKER, {
      ...shared(),
      DATABASE_URL: t.databaseUrl,
      SECRETS_KEY: t.config.SECRETS_KEY as string,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATA_DIR: '.data/test',
      WORKER_CONCURRENCY: '2',
    });
    try {
      await untilOutput(worker, 'Forgeline worker running bull jobs', 30_000);
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      const p = await project();
      const accepted = await t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202);
      expect(await waitFor(accepted.body.id)).toMatchObject({ status: 'succeeded' });
    } finally {
      expect(await worker.stop()).toBe(0);
    }
  });
});
