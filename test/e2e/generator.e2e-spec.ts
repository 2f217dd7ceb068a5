import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { createApp } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { generationLockKey } from '../../src/generator/project-content.repository.js';
import { binaryFile, bytesOf, FileInput, textFile } from '../factories/file.factory.js';
import { createProject, ProjectBody } from '../factories/project.factory.js';
import { foldersOf, putFiles, readTree } from '../utils/file-tree.js';
import { expectError } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

type Agent = TestApp['api'];

/** `count` text files of about 1 KiB spread over nested folders. */
function manyFiles(count: number, prefix = 'src'): FileInput[] {
  return Array.from({ length: count }, (_, i) => textFile(`${prefix}/m${i % 10}/s${i % 3}/file-${i}.ts`, `export const v${i} = ${i};\n${'x'.repeat(1000 + (i % 50))}\n`));
}

/** Inode and mtime of every file: a rewritten file (temporary file + rename) gets a new inode. */
function fingerprints(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const path of readTree(dir).keys()) {
    const stats = statSync(join(dir, path), { bigint: true });
    out.set(path, `${stats.ino}:${stats.mtimeNs}`);
  }
  return out;
}

function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after.keys()].filter((path) => before.has(path) && before.get(path) !== after.get(path)).sort();
}

describe('generator: POST /api/projects/{id}/generate', () => {
  let t: TestApp;
  let root: string;
  let outside: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fl-workspaces-'));
    outside = mkdtempSync(join(tmpdir(), 'fl-outside-'));
    t = await startTestApp({ WORKSPACES_DIR: root });
  });

  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  async function projectWith(files: FileInput[], api: Agent = t.api): Promise<ProjectBody> {
    const project = await createProject(api);
    await putFiles(api, project.id, files);
    return project;
  }

  const generate = (id: string, body: Record<string, unknown> = {}, api: Agent = t.api) => api.post(`/api/projects/${id}/generate`).send(body);

  async function generateOk(id: string, body: Record<string, unknown> = {}) {
    const res = await generate(id, body);
    if (res.status !== 200) throw new Error(`generate answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as { outputDir: string; written: number; unchanged: number; deleted: number; bytes: number; durationMs: number };
  }

  /** The folder holds exactly `files`, byte for byte, with their executable bits. */
  function expectMirror(dir: string, files: FileInput[]): void {
    const tree = readTree(dir);
    expect([...tree.keys()].sort()).toEqual(files.map((file) => file.path.normalize('NFC')).sort());
    for (const file of files) {
      const found = tree.get(file.path.normalize('NFC'))!;
      expect([file.path, found.content.equals(bytesOf(file)), found.executable]).toEqual([file.path, true, file.executable ?? false]);
    }
  }

  it('writes every file into WORKSPACES_DIR/<projectId>/ with its bytes and executable bit, and reports it', async () => {
    const files = [
      textFile('README.md', '# Hello\n'),
      textFile('bin/run.sh', '#!/bin/sh\necho hi\n', { executable: true }),
      binaryFile('assets/logo.png'),
      textFile('docs/cafe\u0301.md', 'NFD name, stored as NFC\n'),
      textFile('empty.txt', ''),
      ...manyFiles(30),
    ];
    const project = await projectWith(files);
    const result = await generateOk(project.id);
    expect(result).toEqual({
      outputDir: join(root, project.id),
      written: files.length,
      unchanged: 0,
      deleted: 0,
      bytes: files.reduce((sum, file) => sum + bytesOf(file).length, 0),
      durationMs: expect.any(Number),
    });
    expectMirror(result.outputDir, files);
    expect(statSync(join(result.outputDir, 'bin/run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(result.outputDir, 'README.md')).mode & 0o777).toBe(0o644);
    // No temporary files are left behind, and the manifest lives outside the project's folder.
    expect([...readTree(result.outputDir).keys()].some((path) => path.includes('.fl-tmp-'))).toBe(false);
    expect(existsSync(join(root, '.manifests', `${project.id}.json`))).toBe(true);
  });

  it('rewrites nothing when nothing changed', async () => {
    const files = manyFiles(50);
    const project = await projectWith(files);
    const { outputDir } = await generateOk(project.id);
    const before = fingerprints(outputDir);
    const again = await generateOk(project.id);
    expect(again).toMatchObject({ written: 0, unchanged: 50, deleted: 0, bytes: 0 });
    expect(fingerprints(outputDir)).toEqual(before);
  });

  it('after 1% of files changed, writes exactly those files', async () => {
    const files = manyFiles(500);
    const project = await projectWith(files);
    const { outputDir } = await generateOk(project.id);
    const before = fingerprints(outputDir);
    const changed = [3, 77, 150, 299, 480].map((i) => textFile(files[i].path, `changed ${i}\n`));
    await putFiles(t.api, project.id, changed);
    const result = await generateOk(project.id);
    expect(result).toMatchObject({ written: 5, unchanged: 495, deleted: 0, bytes: changed.reduce((sum, f) => sum + bytesOf(f).length, 0) });
    expect(changedPaths(before, fingerprints(outputDir))).toEqual(changed.map((f) => f.path).sort());
    const current = files.map((file) => changed.find((c) => c.path === file.path) ?? file);
    expectMirror(outputDir, current);
  });

  it('deletes files the project no longer has and removes emptied folders', async () => {
    const files = [textFile('keep/a.txt'), textFile('gone/deep/b.txt'), textFile('gone/c.txt'), textFile('keep/d.txt')];
    const project = await projectWith(files);
    const { outputDir } = await generateOk(project.id);
    for (const path of ['gone/deep/b.txt', 'gone/c.txt', 'keep/d.txt']) {
      await t.api.delete(`/api/projects/${project.id}/files`).query({ path }).expect(204);
    }
    const result = await generateOk(project.id);
    expect(result).toMatchObject({ written: 0, unchanged: 1, deleted: 3 });
    expectMirror(outputDir, [files[0]]);
    expect(foldersOf(outputDir)).toEqual(['keep']);
  });

  it('sets and clears the executable bit without rewriting the bytes', async () => {
    const files = [textFile('tool.sh', 'echo tool\n'), textFile('other.sh', 'echo other\n', { executable: true })];
    const project = await projectWith(files);
    const { outputDir } = await generateOk(project.id);
    const before = fingerprints(outputDir);
    await putFiles(t.api, project.id, [textFile('tool.sh', 'echo tool\n', { executable: true }), textFile('other.sh', 'echo other\n', { executable: false })]);
    const result = await generateOk(project.id);
    expect(result).toMatchObject({ written: 2, unchanged: 0, bytes: 0 });
    expect(statSync(join(outputDir, 'tool.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(outputDir, 'other.sh')).mode & 0o777).toBe(0o644);
    // Same inode: only the mode changed.
    const after = fingerprints(outputDir);
    for (const path of ['tool.sh', 'other.sh']) expect(after.get(path)!.split(':')[0]).toBe(before.get(path)!.split(':')[0]);
  });

  it('puts a file where a folder was and a folder where a file was, after a rename', async () => {
    const files = [textFile('a/one.txt', 'one\n'), textFile('b.txt', 'bee\n')];
    const project = await projectWith(files);
    const { outputDir } = await generateOk(project.id);
    await t.api.delete(`/api/projects/${project.id}/files`).query({ path: 'a/one.txt' }).expect(204);
    await t.api.post(`/api/projects/${project.id}/files/move`).send({ from: 'b.txt', to: 'a' }).expect(200);
    await putFiles(t.api, project.id, [textFile('b.txt/inner.txt', 'inner\n')]);
    const result = await generateOk(project.id);
    expectMirror(outputDir, [textFile('a', 'bee\n'), textFile('b.txt/inner.txt', 'inner\n')]);
    expect(result).toMatchObject({ written: 2, deleted: 2 });
    // A file moved into a folder of its own name: the file on disk gives way to the folder.
    await t.api.post(`/api/projects/${project.id}/files/move`).send({ from: 'a', to: 'a/bee.txt' }).expect(200);
    expect(await generateOk(project.id)).toMatchObject({ written: 1, unchanged: 1, deleted: 1 });
    expectMirror(outputDir, [textFile('a/bee.txt', 'bee\n'), textFile('b.txt/inner.txt', 'inner\n')]);
  });

  describe('a damaged workspace is rebuilt from the database', () => {
    const files = [...manyFiles(40), textFile('run.sh', 'echo run\n', { executable: true }), binaryFile('data.bin')];
    let project: ProjectBody;
    let outputDir: string;

    beforeAll(async () => {
      project = await projectWith(files);
      outputDir = (await generateOk(project.id)).outputDir;
    });

    it('rebuilds a deleted folder completely', async () => {
      rmSync(outputDir, { recursive: true });
      const result = await generateOk(project.id);
      expect(result).toMatchObject({ written: files.length, unchanged: 0 });
      expectMirror(outputDir, files);
    });

    it('hashes what is on disk when the manifest is gone, and rewrites nothing that is right', async () => {
      rmSync(join(root, '.manifests', `${project.id}.json`));
      expect(await generateOk(project.id)).toMatchObject({ written: 0, unchanged: files.length });
      writeFileSync(join(root, '.manifests', `${project.id}.json`), '{not json');
      expect(await generateOk(project.id)).toMatchObject({ written: 0, unchanged: files.length });
    });

    it('repairs edited, truncated, re-moded and replaced files, and removes strays', async () => {
      const [edited, truncated, replaced] = [files[0].path, files[1].path, files[2].path];
      writeFileSync(join(outputDir, edited), readFileSync(join(outputDir, edited)).map((byte) => (byte === 0x78 ? 0x79 : byte)));
      writeFileSync(join(outputDir, truncated), '');
      rmSync(join(outputDir, replaced));
      mkdirSync(join(outputDir, replaced, 'inside'), { recursive: true });
      writeFileSync(join(outputDir, replaced, 'inside', 'x.txt'), 'stray');
      execFileSync('chmod', ['-x', join(outputDir, 'run.sh')]);
      writeFileSync(join(outputDir, 'stray.txt'), 'not in the project');
      mkdirSync(join(outputDir, 'stray-folder/empty'), { recursive: true });
      execFileSync('mkfifo', [join(outputDir, 'a-fifo')]);
      const result = await generateOk(project.id);
      expect(result).toMatchObject({ written: 4, deleted: 3 });
      expectMirror(outputDir, files);
      expect(foldersOf(outputDir).some((folder) => folder.startsWith('stray-folder'))).toBe(false);
    });
  });

  describe('symbolic links', () => {
    const files = [textFile('README.md', '# safe\n'), textFile('src/index.ts', 'export {};\n')];

    it('refuses a workspace holding planted symlinks, writes nothing through them, and rebuilds with clean', async () => {
      const target = join(outside, 'planted');
      mkdirSync(target, { recursive: true });
      writeFileSync(join(target, 'secret.txt'), 'outside\n');
      const project = await projectWith(files);
      const { outputDir } = await generateOk(project.id);
      // A link where a project file is, and a link where a project folder is.
      unlinkSync(join(outputDir, 'README.md'));
      symlinkSync(join(target, 'secret.txt'), join(outputDir, 'README.md'));
      rmSync(join(outputDir, 'src'), { recursive: true });
      symlinkSync(target, join(outputDir, 'src'));
      await putFiles(t.api, project.id, [textFile('README.md', '# changed\n'), textFile('src/index.ts', 'export const changed = 1;\n')]);

      const res = await generate(project.id);
      const body = expectError(res, 409, 'WORKSPACE_UNSAFE');
      expect(body.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ rule: 'symlink', path: 'README.md' }), expect.objectContaining({ rule: 'symlink', path: 'src' })]),
      );
      expect(readdirSync(target)).toEqual(['secret.txt']);
      expect(readFileSync(join(target, 'secret.txt'), 'utf8')).toBe('outside\n');

      const rebuilt = await generateOk(project.id, { clean: true });
      expectMirror(outputDir, [textFile('README.md', '# changed\n'), textFile('src/index.ts', 'export const changed = 1;\n')]);
      expect(rebuilt.written).toBe(2);
      expect(lstatSync(join(outputDir, 'src')).isDirectory()).toBe(true);
      expect(readdirSync(target)).toEqual(['secret.txt']);
      expect(readFileSync(join(target, 'secret.txt'), 'utf8')).toBe('outside\n');
    });

    it('refuses a project folder that is a symlink, and clean replaces the link (never its target)', async () => {
      const target = join(outside, 'linked-workspace');
      mkdirSync(target, { recursive: true });
      writeFileSync(join(target, 'sentinel'), 'keep me');
      const project = await projectWith(files);
      symlinkSync(target, join(root, project.id));

      expectError(await generate(project.id), 409, 'WORKSPACE_UNSAFE');
      expect(readdirSync(target)).toEqual(['sentinel']);

      const result = await generateOk(project.id, { clean: true });
      expect(lstatSync(result.outputDir).isDirectory()).toBe(true);
      expectMirror(result.outputDir, files);
      expect(readdirSync(target)).toEqual(['sentinel']);
    });
  });

  describe('concurrency', () => {
    it('waits for a generation holding the project\'s PostgreSQL advisory lock', async () => {
      const files = manyFiles(20);
      const project = await projectWith(files);
      const holder = new pg.Client({ connectionString: t.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1, $2)', generationLockKey(project.id));
        let finished = false;
        const pending = generate(project.id).then((res) => {
          finished = true;
          return res;
        });
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(finished).toBe(false);
        expect(existsSync(join(root, project.id))).toBe(false);
        await holder.query('COMMIT');
        const res = await pending;
        expect(res.status).toBe(200);
        expect(res.body.written).toBe(20);
      } finally {
        await holder.end();
      }
    });

    describe('with a second app on the same database (another process\'s view)', () => {
      let other: NestFastifyApplication;
      let otherApi: Agent;

      beforeAll(async () => {
        const config = Object.assign(new AppConfig(), t.config, { GENERATE_LOCK_TIMEOUT_MS: 300 });
        other = await createApp({ config, databaseUrl: t.databaseUrl, migrations: [] });
        await other.listen({ port: 0, host: '127.0.0.1' });
        otherApi = request.agent((await other.getUrl()).replace('[::1]', '127.0.0.1')).set('authorization', `Bearer ${t.adminToken}`);
      });

      afterAll(async () => {
        await other?.close();
      });

      it('never interleaves generations of one project: the first writes everything, the others find it done', async () => {
        const files = manyFiles(1500);
        const project = await projectWith(files);
        const responses = await Promise.all([generate(project.id), generate(project.id, {}, otherApi), generate(project.id), generate(project.id, {}, otherApi)]);
        const ok = responses.filter((res) => res.status === 200).map((res) => res.body);
        const busy = responses.filter((res) => res.status === 409);
        for (const res of busy) expectError(res, 409, 'GENERATION_BUSY');
        expect(ok.length + busy.length).toBe(4);
        expect(ok.filter((body) => body.written > 0)).toEqual([expect.objectContaining({ written: 1500, unchanged: 0 })]);
        for (const body of ok.filter((b) => b.written === 0)) expect(body.unchanged).toBe(1500);
        expectMirror(join(root, project.id), files);
      });

      it('answers 409 GENERATION_BUSY when the lock is not free within GENERATE_LOCK_TIMEOUT_MS', async () => {
        const project = await projectWith(manyFiles(3));
        const holder = new pg.Client({ connectionString: t.databaseUrl });
        await holder.connect();
        try {
          await holder.query('BEGIN');
          await holder.query('SELECT pg_advisory_xact_lock($1, $2)', generationLockKey(project.id));
          expectError(await generate(project.id, {}, otherApi), 409, 'GENERATION_BUSY');
        } finally {
          await holder.query('COMMIT');
          await holder.end();
        }
        expect((await generate(project.id, {}, otherApi)).status).toBe(200);
      });
    });
  });

  it('removes a deleted project\'s folder and manifest with it', async () => {
    const project = await projectWith(manyFiles(5));
    const { outputDir } = await generateOk(project.id);
    expect(existsSync(join(root, '.manifests', `${project.id}.json`))).toBe(true);
    await t.api.delete(`/api/projects/${project.id}`).expect(204);
    expect(existsSync(outputDir)).toBe(false);
    expect(existsSync(join(root, '.manifests', `${project.id}.json`))).toBe(false);
  });

  describe('a project deleted during generation', () => {
    it('answers 404 and leaves no folder when the project goes while the generation waits for its lock', async () => {
      const project = await projectWith(manyFiles(10));
      const holder = new pg.Client({ connectionString: t.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1, $2)', generationLockKey(project.id));
        // supertest sends a request only once it is awaited or then()-ed.
        const pending = generate(project.id).then((res) => res);
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(existsSync(join(root, project.id))).toBe(false);
        await t.api.delete(`/api/projects/${project.id}`).expect(204);
        await holder.query('COMMIT');
        expectError(await pending, 404, 'PROJECT_NOT_FOUND');
      } finally {
        await holder.end();
      }
      expect(existsSync(join(root, project.id))).toBe(false);
      expect(existsSync(join(root, '.manifests', `${project.id}.json`))).toBe(false);
    });

    it('stops writing, answers 404 and removes the folder when the project goes mid-way', async () => {
      const config = Object.assign(new AppConfig(), t.config, { GENERATOR_BATCH_BYTES: 64 * 1024 });
      const slow = await createApp({ config, databaseUrl: t.databaseUrl, migrations: [] });
      await slow.listen({ port: 0, host: '127.0.0.1' });
      try {
        const slowApi = request.agent((await slow.getUrl()).replace('[::1]', '127.0.0.1')).set('authorization', `Bearer ${t.adminToken}`);
        const project = await projectWith(Array.from({ length: 3000 }, (_, i) => textFile(`f/${i % 20}/${i}.txt`, `${i}`.padEnd(4096, '.'))));
        const dir = join(root, project.id);
        const pending = generate(project.id, {}, slowApi).then((res) => res);
        const deadline = Date.now() + 20_000;
        while (!(existsSync(dir) && readdirSync(dir, { recursive: true }).length > 50) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        await t.api.delete(`/api/projects/${project.id}`).expect(204);
        expectError(await pending, 404, 'PROJECT_NOT_FOUND');
        expect(existsSync(dir)).toBe(false);
      } finally {
        await slow.close();
      }
    });
  });

  it('keeps another workspace\'s project out of reach (404) and validates the body', async () => {
    const other = await t.api.post('/api/workspaces').send({ name: 'Other tenant' }).expect(201);
    const foreign = await projectWith([textFile('x.txt')], t.as(other.body.apiKey.token));
    expectError(await generate(foreign.id), 404, 'PROJECT_NOT_FOUND');
    expect(existsSync(join(root, foreign.id))).toBe(false);
    expectError(await generate(foreign.id, { clean: 'yes' }), 400, 'VALIDATION_FAILED');
    expectError(await t.api.post('/api/projects/not-a-uuid/generate').send({}), 400, 'VALIDATION_FAILED');
  });

  describe('disk errors are reported and leave the database as it was', () => {
    it('answers 500 WORKSPACE_IO_FAILED naming the path when a folder cannot be written, then recovers', async () => {
      const files = [textFile('locked/a.txt', 'a\n'), textFile('open/b.txt', 'b\n')];
      const project = await projectWith(files);
      const { outputDir } = await generateOk(project.id);
      try {
        execFileSync('chattr', ['+i', join(outputDir, 'locked')], { stdio: 'ignore' });
      } catch {
        console.warn('chattr is not available here: skipping the write-error case');
        return;
      }
      try {
        await putFiles(t.api, project.id, [textFile('locked/a.txt', 'changed\n')]);
        const body = expectError(await generate(project.id), 500, 'WORKSPACE_IO_FAILED');
        expect(body.message).toContain('locked/a.txt');
        expect(body.message).not.toContain(root);
      } finally {
        execFileSync('chattr', ['-i', join(outputDir, 'locked')]);
      }
      const content = await t.api.get(`/api/projects/${project.id}/files/content`).query({ path: 'locked/a.txt' }).expect(200);
      expect(content.text).toBe('changed\n');
      expect((await generateOk(project.id)).written).toBe(1);
      expect(readFileSync(join(outputDir, 'locked/a.txt'), 'utf8')).toBe('changed\n');
    });

    it('answers 507 WORKSPACE_FULL when the disk fills up, then a retry completes the workspace', async () => {
      const small = mkdtempSync(join(tmpdir(), 'fl-small-disk-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small], { stdio: 'ignore' });
      } catch {
        rmSync(small, { recursive: true, force: true });
        console.warn('cannot mount a tmpfs here: skipping the disk-full case');
        return;
      }
      const config = Object.assign(new AppConfig(), t.config, { WORKSPACES_DIR: small });
      const app = await createApp({ config, databaseUrl: t.databaseUrl, migrations: [] });
      await app.listen({ port: 0, host: '127.0.0.1' });
      try {
        const api = request.agent((await app.getUrl()).replace('[::1]', '127.0.0.1')).set('authorization', `Bearer ${t.adminToken}`);
        const files = Array.from({ length: 24 }, (_, i) => binaryFile(`blob-${i}.bin`, Buffer.alloc(100 * 1024, i)));
        const project = await projectWith(files);
        const body = expectError(await generate(project.id, {}, api), 507, 'WORKSPACE_FULL');
        expect(body.message).toMatch(/ENOSPC/);
        const stored = await t.api.get(`/api/projects/${project.id}`).expect(200);
        expect(stored.body).toMatchObject({ fileCount: 24, totalBytes: 24 * 100 * 1024 });

        execFileSync('mount', ['-o', 'remount,size=8m', small]);
        const retry = await generate(project.id, {}, api);
        expect(retry.status).toBe(200);
        expect(retry.body.written + retry.body.unchanged).toBe(24);
        expect(retry.body.unchanged).toBeGreaterThan(0);
        expectMirror(join(small, project.id), files);
      } finally {
        await app.close();
        execFileSync('umount', [small]);
        rmSync(small, { recursive: true, force: true });
      }
    });
  });
});
