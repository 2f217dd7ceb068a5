import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { binaryFile, bytesOf, FileInput, textFile } from '../factories/file.factory.js';
import { createProject, ProjectBody } from '../factories/project.factory.js';
import { putFiles, readTree } from '../utils/file-tree.js';
import { expectError, rawBody } from '../utils/http.js';
import { freePort, MAIN, ServiceProcess, spawnService, until } from '../utils/service-process.js';
import { startTestApp, TestApp } from '../utils/test-app.js';
import { createTestDatabase, TestDatabase } from '../utils/test-database.js';

const MiB = 1024 * 1024;

describe('generator: GET /api/projects/{id}/archive', () => {
  let t: TestApp;
  let scratch: string;
  let project: ProjectBody;
  const files: FileInput[] = [
    textFile('README.md', '# Archived\n'),
    textFile('bin/cli.sh', '#!/bin/sh\necho "hi"\n', { executable: true }),
    textFile('scripts/nested/deploy', 'echo deploy\n', { executable: true }),
    binaryFile('assets/logo.png', randomBytes(70_000)),
    textFile('docs/caf\u00e9 \u2013 notes.md', 'unicode name\n'),
    textFile('empty.txt', ''),
    textFile(`deep/${'segment-'.repeat(12)}/${'long-name-'.repeat(12)}.txt`, 'a path over 100 bytes needs a PAX header in tar\n'),
    ...Array.from({ length: 200 }, (_, i) => textFile(`src/m${i % 7}/file-${i}.ts`, `export const n${i} = ${i};\n`.repeat(1 + (i % 40)))),
  ];

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'fl-archive-'));
    t = await startTestApp({ WORKSPACES_DIR: join(scratch, 'workspaces') });
    project = await createProject(t.api, { name: 'Archive me', slug: 'archive-me' });
    await putFiles(t.api, project.id, files);
  });

  afterAll(async () => {
    await t?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function download(format?: string): Promise<{ body: Buffer; headers: Record<string, string> }> {
    const res = await t.api.get(`/api/projects/${project.id}/archive`).query(format ? { format } : {}).buffer(true).parse(rawBody);
    if (res.status !== 200) throw new Error(`archive answered ${res.status}: ${res.body.toString()}`);
    return { body: res.body as Buffer, headers: res.headers as Record<string, string> };
  }

  function expectExtracted(dir: string): void {
    const tree = readTree(join(dir, 'archive-me'));
    expect([...tree.keys()].sort()).toEqual(files.map((file) => file.path).sort());
    for (const file of files) {
      const found = tree.get(file.path)!;
      expect([file.path, found.content.equals(bytesOf(file)), found.executable]).toEqual([file.path, true, file.executable ?? false]);
    }
  }

  it('streams a zip that the system unzip extracts byte for byte, executable bits included', async () => {
    const { body, headers } = await download('zip');
    expect(headers['content-type']).toBe('application/zip');
    expect(headers['content-disposition']).toBe('attachment; filename="archive-me.zip"');
    const archive = join(scratch, 'p.zip');
    writeFileSync(archive, body);
    const out = mkdtempSync(join(scratch, 'unzip-'));
    execFileSync('unzip', ['-q', archive, '-d', out]);
    expectExtracted(out);
  });

  it('streams a tar.gz that the system tar extracts byte for byte, executable bits included', async () => {
    const { body, headers } = await download('tar.gz');
    expect(headers['content-type']).toBe('application/gzip');
    expect(headers['content-disposition']).toBe('attachment; filename="archive-me.tar.gz"');
    const archive = join(scratch, 'p.tar.gz');
    writeFileSync(archive, body);
    const out = mkdtempSync(join(scratch, 'untar-'));
    execFileSync('tar', ['-xzf', archive, '-C', out]);
    expectExtracted(out);
  });

  it('stops streaming when the client goes away mid-download, and keeps serving', async () => {
    const big = await createProject(t.api, { slug: 'goes-away' });
    for (let i = 0; i < 24; i++) {
      await t.sql(`INSERT INTO project_files (project_id, path, content, size, sha256, mode) VALUES ($1, $2, $3, $4, encode(sha256($3), 'hex'), 'regular')`, [
        big.id,
        `blob-${i}.bin`,
        randomBytes(MiB),
        MiB,
      ]);
    }
    for (const format of ['tar.gz', 'zip']) {
      // A raw request whose socket is destroyed after the first bytes of the body.
      await new Promise<void>((resolve, reject) => {
        const req = httpGet(`${t.url}/api/projects/${big.id}/archive?format=${format}`, { headers: { authorization: `Bearer ${t.adminToken}` }, agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (error) => (req.destroyed ? undefined : reject(error)));
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { body } = await download('tar.gz');
    const archive = join(scratch, 'after-abort.tar.gz');
    writeFileSync(archive, body);
    const out = mkdtempSync(join(scratch, 'untar-after-abort-'));
    execFileSync('tar', ['-xzf', archive, '-C', out]);
    expectExtracted(out);
  });

  it('cuts the download short, rather than finish it, when the project\'s files change while it is read', async () => {
    const moving = await createProject(t.api, { slug: 'moves-meanwhile' });
    await putFiles(t.api, moving.id, Array.from({ length: 24 }, (_, i) => binaryFile(`d/blob-${String(i).padStart(2, '0')}.bin`, randomBytes(MiB))));
    let round = 0;
    for (const format of ['tar.gz', 'zip']) {
      const complete = await new Promise<boolean>((resolve, reject) => {
        const req = httpGet(`${t.url}/api/projects/${moving.id}/archive?format=${format}`, { headers: { authorization: `Bearer ${t.adminToken}` }, agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            // The client stops reading; meanwhile the last file moves to a path already read past.
            res.pause();
            void t.api
              .post(`/api/projects/${moving.id}/files/move`)
              .send({ from: `d/blob-${String(23 - round).padStart(2, '0')}.bin`, to: `a-${round++}.bin` })
              .expect(200)
              .then(() => res.resume(), reject);
          });
          res.on('data', () => undefined);
          res.on('error', () => undefined);
          res.on('close', () => resolve(res.complete));
        });
        req.on('error', () => undefined);
      });
      expect([format, complete]).toEqual([format, false]);
    }
    // Unchanged since, the next download is whole.
    const { body } = await (async () => {
      const res = await t.api.get(`/api/projects/${moving.id}/archive`).query({ format: 'tar.gz' }).buffer(true).parse(rawBody).expect(200);
      return { body: res.body as Buffer };
    })();
    const out = mkdtempSync(join(scratch, 'untar-moved-'));
    writeFileSync(join(scratch, 'moved.tar.gz'), body);
    execFileSync('tar', ['-xzf', join(scratch, 'moved.tar.gz'), '-C', out]);
    expect(readTree(join(out, 'moves-meanwhile')).size).toBe(24);
  });

  it('defaults to zip and refuses an unknown format', async () => {
    const { headers } = await download();
    expect(headers['content-disposition']).toBe('attachment; filename="archive-me.zip"');
    expectError(await t.api.get(`/api/projects/${project.id}/archive`).query({ format: 'rar' }), 400, 'VALIDATION_FAILED');
  });

  it('archives an empty project as a valid empty archive', async () => {
    const empty = await createProject(t.api, { slug: 'nothing-here' });
    const res = await t.api.get(`/api/projects/${empty.id}/archive`).query({ format: 'tar.gz' }).buffer(true).parse(rawBody).expect(200);
    const archive = join(scratch, 'empty.tar.gz');
    writeFileSync(archive, res.body as Buffer);
    expect(execFileSync('tar', ['-tzf', archive]).toString()).toBe('');
  });

  it('answers 404 for another workspace\'s project before sending any archive byte', async () => {
    const other = await t.api.post('/api/workspaces').send({ name: 'Archive tenant' }).expect(201);
    const foreign = await createProject(t.as(other.body.apiKey.token));
    const res = await t.api.get(`/api/projects/${foreign.id}/archive`);
    expectError(res, 404, 'PROJECT_NOT_FOUND');
  });
});

/**
 * Memory is measured on a service process of its own (`node dist/src/main.js`): jest's process
 * holds every test file's modules, and forcing its collector to sample it measures jest.
 */
describe('generator: archive memory of a separate service process', () => {
  let service: ServiceProcess | undefined;
  let database: TestDatabase | undefined;
  let dataDir: string;
  let pool: pg.Pool | undefined;

  afterAll(async () => {
    await service?.stop();
    await pool?.end();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stays flat while a slow client downloads a 200 MiB project, as zip and as tar.gz', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fl-archive-memory-'));
    database = await createTestDatabase();
    const token = `fl_${randomBytes(32).toString('base64url')}`;
    const port = await freePort();
    service = spawnService(MAIN, {
      DATABASE_URL: database.url,
      PORT: String(port),
      BOOTSTRAP_API_KEY: token,
      SECRETS_KEY: randomBytes(32).toString('hex'),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    });
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    await until('the service to listen', async () => (await fetch(`${base}/health/live`)).ok, 60_000, service);
    const create = async (name: string) => (await (await fetch(`${base}/api/projects`, { method: 'POST', headers, body: JSON.stringify({ name }) })).json()) as ProjectBody;
    const [small, big] = [await create('Small project'), await create('Big project')];
    // 50 files of 4 MiB of random bytes (incompressible: the archive is as big as the project),
    // written straight into the table (the upload path has its own tests).
    pool = new pg.Pool({ connectionString: database.url, max: 1 });
    for (const [project, files] of [[small, 2], [big, 50]] as const) {
      for (let i = 0; i < files; i++) {
        await pool.query(
          `INSERT INTO project_files (project_id, path, content, size, sha256, mode) VALUES ($1, $2, $3, $4, encode(sha256($3), 'hex'), 'regular')`,
          [project.id, `blob-${i}.bin`, randomBytes(4 * MiB), 4 * MiB],
        );
      }
      await pool.query(`UPDATE generated_projects SET file_count = $2, total_bytes = $2 * 4194304 WHERE id = $1`, [project.id, files]);
    }

    const download = async (projectId: string, format: string, onChunk: () => void = () => undefined): Promise<number> => {
      const response = await fetch(`${base}/api/projects/${projectId}/archive?format=${format}`, { headers });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      let received = 0;
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        received += chunk.value.length;
        onChunk();
        // A slow client: the server must wait for it rather than buffer the project.
        if (received % (8 * MiB) < chunk.value.length) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return received;
    };
    for (const format of ['zip', 'tar.gz']) {
      // A small project's download warms the code paths up (archiver or tar-stream, zlib, COPY buffers); then the big one is measured.
      await download(small.id, format);
      const baseline = service.rss();
      let peak = baseline;
      const received = await download(big.id, format, () => (peak = Math.max(peak, service!.rss())));
      expect(received).toBeGreaterThan(200 * MiB);
      // The project is 200 MiB; the service holds a batch or two (GENERATOR_BATCH_BYTES), not the project.
      expect([format, peak - baseline < 100 * MiB]).toEqual([format, true]);
    }
  }, 240_000);
});
