import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join, resolve } from 'node:path';
import request from 'supertest';

const MAIN = resolve('dist/src/main.js');

/** A port that was free a moment ago: listen on port 0, read it, close. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

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

interface Service {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs `node dist/src/main.js` as `npm start` does and waits for its "listening" line. */
async function startService(env: NodeJS.ProcessEnv, timeoutMs = 40_000): Promise<Service> {
  const child = spawn(process.execPath, [MAIN], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no "listening" line within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => /listening/i.test(l));
      if (line) {
        clearTimeout(timer);
        done(`http://127.0.0.1:${env.PORT}`);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`the service exited with ${code} before listening:\n${output}`));
    });
  });
  return { child, url, output: () => output, exited };
}

/** SIGTERM, then the exit code (null when it had to be killed after `timeoutMs`). */
async function stopService(service: Service, timeoutMs = 20_000): Promise<number | null> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return service.child.exitCode;
  service.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((done) => {
    timer = setTimeout(() => done('timeout'), timeoutMs);
  });
  const result = await Promise.race([service.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    service.child.kill('SIGKILL');
    await service.exited;
    return null;
  }
  return result;
}

describe('npm start', () => {
  // Under the repository, not os.tmpdir(): the embedded PostgreSQL runs as the `postgres` user,
  // who must be able to traverse every parent folder.
  const dataDir = resolve(join('.data', `npm-start-${randomBytes(6).toString('hex')}`));
  const apiKey = `fl_${randomBytes(32).toString('base64url')}`;
  const running: Service[] = [];

  afterAll(async () => {
    for (const service of running) await stopService(service);
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('boots with an embedded PostgreSQL, shuts down cleanly on SIGTERM, and keeps data across restarts', async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" first`);
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    const [port, pgPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      EMBEDDED_PG_PORT: String(pgPort),
      DATA_DIR: dataDir,
      BOOTSTRAP_API_KEY: apiKey,
      LOG_LEVEL: 'warn',
    };
    delete env.DATABASE_URL;
    delete env.NODE_OPTIONS;

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

    expect(await stopService(first)).toBe(0);
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

    expect(await stopService(second)).toBe(0);
    expect(await accepts(pgPort)).toBe(false);
  }, 90_000);
});
