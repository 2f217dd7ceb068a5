import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { freePort, MAIN, ServiceProcess, spawnService, untilOutput } from '../utils/service-process.js';

/** Resolves true when something accepts a TCP connection on the port, false when refused. */
function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
  });
}

/** Runs `node dist/src/main.js` as `npm start` does and waits for its "listening" line. */
async function startService(env: Record<string, string>): Promise<ServiceProcess & { url: string }> {
  const service = spawnService(MAIN, env);
  await untilOutput(service, /listening/i, 40_000);
  return Object.assign(service, { url: `http://127.0.0.1:${env.PORT}` });
}

describe('npm start', () => {
  // Under the repository, not os.tmpdir(): the embedded PostgreSQL runs as the `postgres` user,
  // who must be able to traverse every parent folder.
  const dataDir = resolve(join('.data', `npm-start-${randomBytes(6).toString('hex')}`));
  const apiKey = `fl_${randomBytes(32).toString('base64url')}`;
  const running: ServiceProcess[] = [];

  afterAll(async () => {
    for (const service of running) await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('boots with an embedded PostgreSQL, shuts down cleanly on SIGTERM, and keeps data across restarts', async () => {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    const [port, pgPort] = [await freePort(), await freePort()];
    // Nothing of the test's own environment (DATABASE_URL above all): the service as a newcomer starts it.
    const env: Record<string, string> = {
      PORT: String(port),
      HOST: '127.0.0.1',
      EMBEDDED_PG_PORT: String(pgPort),
      DATA_DIR: dataDir,
      BOOTSTRAP_API_KEY: apiKey,
      LOG_LEVEL: 'warn',
    };

    const first = await startService(env);
    running.push(first);
    expect(first.output()).toContain(`Embedded PostgreSQL running on 127.0.0.1:${pgPort}`);
    const api = () => request.agent(first.url).set('authorization', `Bearer ${apiKey}`);

    const health = await api().get('/health').expect(200);
    expect(health.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
    const docs = await api().get('/docs').expect(200);
    expect(docs.headers['content-type']).toMatch(/^text\/html/);
    const name = `Survivor ${randomBytes(4).toString('hex')}`;
    const created = await api().post('/api/projects').send({ name }).expect(201);
    await api().put(`/api/projects/${created.body.id}/files`).send({ files: [{ path: 'README.md', content: '# kept\n' }] }).expect(200);

    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain('SIGTERM');
    expect(await accepts(pgPort)).toBe(false);
    expect(await accepts(port)).toBe(false);

    const second = await startService(env);
    running.push(second);
    const again = () => request.agent(second.url).set('authorization', `Bearer ${apiKey}`);
    const stored = await again().get(`/api/projects/${created.body.id}`).expect(200);
    expect(stored.body).toMatchObject({ id: created.body.id, name, slug: created.body.slug, fileCount: 1, totalBytes: 7 });
    const readme = await again().get(`/api/projects/${created.body.id}/files/content`).query({ path: 'README.md' }).expect(200);
    expect(readme.text).toBe('# kept\n');

    expect(await second.stop()).toBe(0);
    expect(await accepts(pgPort)).toBe(false);
  }, 90_000);
});
