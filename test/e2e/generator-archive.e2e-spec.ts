import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { binaryFile, bytesOf, FileInput, textFile } from '../factories/file.factory.js';
import { createProject, ProjectBody } from '../factories/project.factory.js';
import { putFiles, readTree } from '../utils/file-tree.js';
import { expectError, rawBody } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

const MiB = 1024 * 1024;

/** The V8 collector as a function, without starting node with --expose-gc. */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

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

  it('keeps memory flat while streaming a 200 MiB project', async () => {
    const big = await createProject(t.api, { slug: 'big-project' });
    // 50 files of 4 MiB of random bytes (incompressible: the archive is as big as the project),
    // written straight into the table (the upload path has its own tests).
    for (let i = 0; i < 50; i++) {
      await t.sql(
        `INSERT INTO project_files (project_id, path, content, size, sha256, mode) VALUES ($1, $2, $3, $4, encode(sha256($3), 'hex'), 'regular')`,
        [big.id, `blob-${i}.bin`, randomBytes(4 * MiB), 4 * MiB],
      );
    }
    await t.sql(`UPDATE generated_projects SET file_count = 50, total_bytes = 50 * 4194304 WHERE id = $1`, [big.id]);
    // Live memory, not garbage waiting for the collector: collect before each sample.
    const gc = exposeGc();
    const live = () => {
      gc();
      const usage = process.memoryUsage();
      return usage.heapUsed + usage.arrayBuffers;
    };
    const baseline = live();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, live());
    }, 250);
    let received = 0;
    try {
      const response = await fetch(`${t.url}/api/projects/${big.id}/archive?format=zip`, { headers: { authorization: `Bearer ${t.adminToken}` } });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        received += chunk.value.length;
        // A slow client: the server must wait for it rather than buffer the project.
        if (received % (8 * MiB) < chunk.value.length) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      clearInterval(sampler);
    }
    expect(received).toBeGreaterThan(0);
    expect(received).toBeGreaterThan(200 * MiB);
    // The project is 200 MiB; the server (in this process) holds a batch or two, not the project.
    expect(peak - baseline).toBeLessThan(64 * MiB);
  }, 180_000);
});
