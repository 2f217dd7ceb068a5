import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
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

const TOKEN = /fl_[A-Za-z0-9_-]{43}/g;

describe('npm start', () => {
  // Under the repository, not os.tmpdir(): the embedded PostgreSQL runs as the `postgres` user,
  // who must be able to traverse every parent folder.
  const dataDir = resolve(join('.data', `npm-start-${randomBytes(6).toString('hex')}`));
  const running: ServiceProcess[] = [];
  let env: Record<string, string>;
  let pgPort: number;
  let apiKey: string;

  afterAll(async () => {
    for (const service of running) await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** Starts the service on the shared data folder, after stopping any left by a failed test. */
  async function start(): Promise<ServiceProcess & { url: string }> {
    for (const previous of running.splice(0)) await previous.stop();
    const service = await startService(env);
    running.push(service);
    return service;
  }

  it('boots with an embedded PostgreSQL and prints a first admin key once, shuts down cleanly on SIGTERM, and keeps data across restarts', async () => {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    const port = await freePort();
    pgPort = await freePort();
    // Nothing of the test's own environment (DATABASE_URL above all): the service as a newcomer starts it.
    env = { PORT: String(port), HOST: '127.0.0.1', EMBEDDED_PG_PORT: String(pgPort), DATA_DIR: dataDir };

    const first = await start();
    expect(first.output()).toContain(`Embedded PostgreSQL running on 127.0.0.1:${pgPort}`);
    // The log line may come out just after the "listening" one.
    await untilOutput(first, 'It is shown only this once', 10_000);
    const keyLine = first.output().split('\n').find((line) => line.includes('It is shown only this once'));
    expect(keyLine).toContain('click \\"Authorize\\" and paste the key');
    apiKey = keyLine!.match(TOKEN)![0];
    // The secrets key was generated once, readable by the service only.
    expect((await stat(join(dataDir, 'secrets.key'))).mode & 0o777).toBe(0o600);
    const api = () => request.agent(first.url).set('authorization', `Bearer ${apiKey}`);

    const health = await api().get('/health').expect(200);
    expect(health.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
    const docs = await api().get('/docs').expect(200);
    expect(docs.headers['content-type']).toMatch(/^text\/html/);
    await api().get('/api/workspaces/current').expect(200);
    // One access log line per request, inside the /api prefix and outside it (/git/), none for probes.
    const logged = async (path: string) => {
      const id = `log-${randomBytes(6).toString('hex')}`;
      await api().get(path).set('x-request-id', id);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return first.output().split('\n').filter((line) => line.includes(`"id":"${id}"`) && line.includes('request completed')).length;
    };
    expect(await logged('/api/projects')).toBe(1);
    expect(await logged('/git/nothing-here.git/info/refs?service=git-upload-pack')).toBe(1);
    expect(await logged('/health/live')).toBe(0);
    const name = `Survivor ${randomBytes(4).toString('hex')}`;
    const created = await api().post('/api/projects').send({ name }).expect(201);
    await api().put(`/api/projects/${created.body.id}/files`).send({ files: [{ path: 'README.md', content: '# kept\n' }] }).expect(200);

    expect(await first.stop()).toBe(0);
    expect(first.output()).toContain('SIGTERM');
    expect(await accepts(pgPort)).toBe(false);
    expect(await accepts(port)).toBe(false);

    const second = await start();
    // Keys exist now: nothing is printed again, and the first key still works.
    expect(second.output().match(TOKEN)).toBeNull();
    const again = () => request.agent(second.url).set('authorization', `Bearer ${apiKey}`);
    const stored = await again().get(`/api/projects/${created.body.id}`).expect(200);
    expect(stored.body).toMatchObject({ id: created.body.id, name, slug: created.body.slug, fileCount: 1, totalBytes: 7 });
    const readme = await again().get(`/api/projects/${created.body.id}/files/content`).query({ path: 'README.md' }).expect(200);
    expect(readme.text).toBe('# kept\n');

    // A second instance on the same data folder and port says why it cannot start.
    const clash = spawnService(MAIN, { ...env, PORT: String(await freePort()) });
    expect(await clash.exited).toBe(1);
    expect(clash.output()).toContain(`The embedded PostgreSQL did not start on 127.0.0.1:${pgPort}`);

    expect(await second.stop()).toBe(0);
    expect(await accepts(pgPort)).toBe(false);
  }, 120_000);

  it('cuts the connections still open after SHUTDOWN_TIMEOUT_MS, then stops the database and exits 0, even when signalled twice', async () => {
    // Only enqueueing (no worker runs steps): the run stays queued and its event stream stays open.
    env = { ...env, SHUTDOWN_TIMEOUT_MS: '300', WORKER_CONCURRENCY: '0' };
    const service = await start();
    const api = () => request.agent(service.url).set('authorization', `Bearer ${apiKey}`);
    const workflow = await api().post('/api/workflows').send({ name: 'never runs', steps: [{ id: 'p', type: 'create_project', config: { name: 'x' } }] }).expect(201);
    const run = await api().post(`/api/workflows/${workflow.body.id}/runs`).send({ input: {} }).expect(202);
    const stream = await fetch(`${service.url}/api/workflow-runs/${run.body.id}/events`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: snapshot');

    // A second signal while it shuts down (an impatient Ctrl-C) changes nothing: it still stops the database.
    const stopping = service.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    service.process.kill('SIGINT');
    expect(await stopping).toBe(0);
    expect(service.output()).toContain('SHUTDOWN_TIMEOUT_MS=300 passed');
    await expect(reader.read()).rejects.toThrow();
    expect(await accepts(pgPort)).toBe(false);
  }, 120_000);
});
