import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { binaryFile, bytesOf, FileInput, textFile } from '../factories/file.factory.js';
import { createProject, ProjectBody } from '../factories/project.factory.js';
import { expectError, expectErrorDetail, rawBody } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** PostgreSQL "C" collation order: plain UTF-8 byte order. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Every path the path rules refuse, with the rule each one breaks (see project-path.spec.ts). */
const BAD_PATHS: Array<[string, string]> = [
  ['', 'empty'],
  ['/abs', 'absolute'],
  ['..', 'dot-dot-segment'],
  ['a/../b', 'dot-dot-segment'],
  ['./a', 'dot-segment'],
  ['a/./b', 'dot-segment'],
  ['a//b', 'empty-segment'],
  ['a/', 'empty-segment'],
  ['a\\b', 'backslash'],
  ['a\u0000b', 'control-character'],
  ['a\u0001b', 'control-character'],
  ['a\u007fb', 'control-character'],
  ['.git/config', 'git-dir'],
  ['src/.GIT/x', 'git-dir'],
  ['.Git', 'git-dir'],
  ['GIT~1', 'git-dir'],
  ['.git.', 'git-dir'],
  [`src/${'a'.repeat(256)}`, 'segment-too-long'],
  [`src/${'é'.repeat(128)}`, 'segment-too-long'],
  [[...Array.from({ length: 4 }, () => 'b'.repeat(204)), 'b'.repeat(205)].join('/'), 'path-too-long'],
];

describe('project files', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const filesUrl = (project: { id: string }) => `/api/projects/${project.id}/files`;
  const upsert = (project: { id: string }, files: FileInput[]) => t.api.put(filesUrl(project)).send({ files });

  async function seed(project: { id: string }, files: FileInput[]): Promise<void> {
    const res = await upsert(project, files);
    if (res.status !== 200) throw new Error(`seeding answered ${res.status}: ${JSON.stringify(res.body)}`);
  }

  /** GET …/files/content as raw bytes. */
  function download(project: { id: string }, path: string) {
    return t.api.get(`${filesUrl(project)}/content`).query({ path }).buffer(true).parse(rawBody);
  }

  async function storedFiles(project: { id: string }): Promise<Array<{ path: string; size: number; mode: string }>> {
    return t.sql('SELECT path, size, mode FROM project_files WHERE project_id = $1 ORDER BY path', [project.id]);
  }

  async function storedCount(project: { id: string }): Promise<number> {
    const [{ n }] = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM project_files WHERE project_id = $1', [project.id]);
    return n;
  }

  /**
   * The project's fileCount and totalBytes, as the API reports them, equal what the rows hold,
   * and every row's size and sha256 match its content. Returns the totals.
   */
  async function expectExactTotals(project: { id: string }, expected?: { fileCount: number; totalBytes: number }) {
    const res = await t.api.get(`/api/projects/${project.id}`).expect(200);
    const [rows] = await t.sql<{ files: number; bytes: number; bad: number }>(
      `SELECT count(*)::int AS files, coalesce(sum(octet_length(content)), 0)::bigint::float8 AS bytes,
              count(*) FILTER (WHERE size <> octet_length(content) OR sha256 <> encode(sha256(content), 'hex'))::int AS bad
         FROM project_files WHERE project_id = $1`,
      [project.id],
    );
    expect(rows.bad).toBe(0);
    expect({ fileCount: res.body.fileCount, totalBytes: res.body.totalBytes }).toEqual({ fileCount: rows.files, totalBytes: rows.bytes });
    if (expected) expect({ fileCount: res.body.fileCount, totalBytes: res.body.totalBytes }).toEqual(expected);
    return { fileCount: res.body.fileCount as number, totalBytes: res.body.totalBytes as number };
  }

  describe('round trip', () => {
    /** 1,000 files: UTF-8 text and random binary, some executable, in nested folders. */
    function thousandFiles(): FileInput[] {
      const texts = ['', 'plain ascii\n', 'ünïcödé ✓ 文件 🚀\n', 'crlf\r\nline\r\n', '\ufeffbom first', 'no trailing newline', '{"json": true}\n', 'tab\tand\u0000nul'];
      const extensions = ['txt', 'ts', 'json', 'md', 'bin', 'png', 'sh', ''];
      return Array.from({ length: 1000 }, (_, i) => {
        const folder = [`d${i % 10}`, `s${i % 7}`, i % 3 === 0 ? 'deep/er/still' : ''].filter(Boolean).join('/');
        const extension = extensions[i % extensions.length];
        const name = `f${i}${i % 11 === 0 ? ' spaced ü' : ''}${extension ? `.${extension}` : ''}`;
        const path = `${folder}/${name}`;
        const executable = i % 13 === 0 ? true : i % 17 === 0 ? false : undefined;
        const extra = executable === undefined ? {} : { executable };
        if (i % 2 === 0) return textFile(path, `${texts[i % texts.length]}${i}\n`.repeat(1 + (i % 5)), extra);
        return binaryFile(path, randomBytes(i % 97 === 0 ? 0 : (i * 37) % 3000), extra);
      });
    }

    it('stores 1,000 text and binary files and returns each byte for byte', async () => {
      const project = await createProject(t.api);
      const files = thousandFiles();
      const res = await upsert(project, files).expect(200);
      expect(res.body).toMatchObject({ created: 1000, updated: 0, unchanged: 0 });
      expect(res.body.files).toHaveLength(1000);
      res.body.files.forEach((result: { path: string; sha256: string; size: number; status: string }, i: number) => {
        const bytes = bytesOf(files[i]);
        expect(result).toEqual({ path: files[i].path, sha256: sha256(bytes), size: bytes.length, status: 'created' });
      });

      const expectedBytes = files.reduce((sum, file) => sum + bytesOf(file).length, 0);
      await expectExactTotals(project, { fileCount: 1000, totalBytes: expectedBytes });

      for (let start = 0; start < files.length; start += 25) {
        await Promise.all(
          files.slice(start, start + 25).map(async (file) => {
            const got = await download(project, file.path).expect(200);
            const bytes = bytesOf(file);
            if (!Buffer.isBuffer(got.body) || !got.body.equals(bytes)) throw new Error(`${file.path}: downloaded bytes differ`);
            expect(got.headers.etag).toBe(`"${sha256(bytes)}"`);
            expect(Number(got.headers['content-length'])).toBe(bytes.length);
          }),
        );
      }

      const listed: Array<{ path: string; size: number; sha256: string; mode: string }> = [];
      for (let offset = 0; ; offset += 100) {
        const page = await t.api.get(filesUrl(project)).query({ limit: 100, offset }).expect(200);
        expect(page.body.total).toBe(1000);
        listed.push(...page.body.items);
        if (page.body.items.length < 100) break;
      }
      expect(listed.map((f) => f.path)).toEqual(files.map((f) => f.path).sort(byteOrder));
      const byPath = new Map(files.map((file) => [file.path, file]));
      for (const item of listed) {
        const file = byPath.get(item.path)!;
        expect(item).toMatchObject({ size: bytesOf(file).length, sha256: sha256(bytesOf(file)), mode: file.executable ? 'executable' : 'regular' });
      }
    });

    it('gives the sha256 as a quoted ETag and answers 304 to a matching If-None-Match', async () => {
      const project = await createProject(t.api);
      const bytes = randomBytes(300);
      await seed(project, [binaryFile('img/logo.png', bytes)]);
      const first = await download(project, 'img/logo.png').expect(200);
      const etag = `"${sha256(bytes)}"`;
      expect(first.headers.etag).toBe(etag);

      const cached = await t.api.get(`${filesUrl(project)}/content`).query({ path: 'img/logo.png' }).set('if-none-match', etag).buffer(true).parse(rawBody);
      expect(cached.status).toBe(304);
      expect(cached.body).toHaveLength(0);
      expect(cached.headers.etag).toBe(etag);

      const oneOfMany = await t.api.get(`${filesUrl(project)}/content`).query({ path: 'img/logo.png' }).set('if-none-match', `"${'0'.repeat(64)}", ${etag}`);
      expect(oneOfMany.status).toBe(304);

      const stale = await t.api.get(`${filesUrl(project)}/content`).query({ path: 'img/logo.png' }).set('if-none-match', `"${'0'.repeat(64)}"`).buffer(true).parse(rawBody);
      expect(stale.status).toBe(200);
      expect(stale.body.equals(bytes)).toBe(true);
    });

    it('answers 304 to a weak validator of the same sha256 (If-None-Match uses weak comparison)', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('e.txt', 'e')]);
      const res = await t.api.get(`${filesUrl(project)}/content`).query({ path: 'e.txt' }).set('if-none-match', `W/"${sha256(Buffer.from('e'))}"`);
      expect(res.status).toBe(304);
    });

    it('answers 304 to If-None-Match: * for a file that exists', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('e.txt', 'e')]);
      const res = await t.api.get(`${filesUrl(project)}/content`).query({ path: 'e.txt' }).set('if-none-match', '*');
      expect(res.status).toBe(304);
    });

    it('changes the ETag when the content changes', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a.txt', 'one')]);
      const before = (await download(project, 'a.txt').expect(200)).headers.etag;
      await seed(project, [textFile('a.txt', 'two')]);
      const after = await t.api.get(`${filesUrl(project)}/content`).query({ path: 'a.txt' }).set('if-none-match', before);
      expect(after.status).toBe(200);
      expect(after.headers.etag).toBe(`"${sha256(Buffer.from('two'))}"`);
    });

    it.each([
      ['package.json', '{"name":"x"}\n', /^application\/json/],
      ['src/index.ts', 'export const a = 1;\n', /^text\/plain; charset=utf-8$/],
      ['styles/site.css', 'body{}\n', /^text\/css/],
      ['README.md', '# hi\n', /^text\/markdown/],
      ['notes.unknownext', 'just words\n', /^text\/plain; charset=utf-8$/],
      ['Makefile', 'all:\n\techo hi\n', /^text\/plain; charset=utf-8$/],
    ])('serves %s with a sensible Content-Type', async (path, text, contentType) => {
      const project = await createProject(t.api);
      await seed(project, [textFile(path, text)]);
      const res = await download(project, path).expect(200);
      expect(res.headers['content-type']).toMatch(contentType);
      expect(res.body.toString('utf8')).toBe(text);
    });

    it.each([
      ['assets/logo.png', /^image\/png$/],
      ['blob.unknownext', /^application\/octet-stream$/],
      ['no-extension', /^application\/octet-stream$/],
    ])('serves binary %s with a sensible Content-Type', async (path, contentType) => {
      const project = await createProject(t.api);
      const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe]), randomBytes(100)]);
      await seed(project, [binaryFile(path, bytes)]);
      const res = await download(project, path).expect(200);
      expect(res.headers['content-type']).toMatch(contentType);
      expect(res.body.equals(bytes)).toBe(true);
    });

    it('serves file bytes with a sandboxing Content-Security-Policy', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('page.html', '<script>alert(1)</script>')]);
      const res = await download(project, 'page.html').expect(200);
      expect(res.headers['content-security-policy']).toMatch(/sandbox/);
    });

    it('answers 404 FILE_NOT_FOUND for a missing file and 400 for a missing or bad path', async () => {
      const project = await createProject(t.api);
      expectError(await t.api.get(`${filesUrl(project)}/content`).query({ path: 'nope.txt' }), 404, 'FILE_NOT_FOUND');
      expectErrorDetail(await t.api.get(`${filesUrl(project)}/content`), 400, 'VALIDATION_FAILED', { field: 'path' });
      expectErrorDetail(await t.api.get(`${filesUrl(project)}/content`).query({ path: '../etc/passwd' }), 400, 'PATH_INVALID', { field: 'path', rule: 'dot-dot-segment' });
    });
  });

  describe('upsert', () => {
    it('reports created, updated and unchanged per file and in totals', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('same.txt', 'same'), textFile('changed.txt', 'old'), textFile('mode.sh', 'echo')]);
      const res = await upsert(project, [
        textFile('same.txt', 'same'),
        textFile('changed.txt', 'new and longer'),
        textFile('mode.sh', 'echo', { executable: true }),
        textFile('new.txt', 'fresh'),
      ]).expect(200);
      expect(res.body.files.map((f: { path: string; status: string }) => [f.path, f.status])).toEqual([
        ['same.txt', 'unchanged'],
        ['changed.txt', 'updated'],
        ['mode.sh', 'updated'],
        ['new.txt', 'created'],
      ]);
      expect(res.body).toMatchObject({ created: 1, updated: 2, unchanged: 1 });
      expect(res.body.files[1]).toMatchObject({ sha256: sha256(Buffer.from('new and longer')), size: 14 });
      await expectExactTotals(project, { fileCount: 4, totalBytes: 4 + 14 + 4 + 5 });
      expect((await download(project, 'changed.txt').expect(200)).body.toString()).toBe('new and longer');
    });

    it('reports a batch that changes nothing as all unchanged', async () => {
      const project = await createProject(t.api);
      const files = [textFile('a.txt', 'a'), binaryFile('b.bin', randomBytes(10), { executable: true })];
      await seed(project, files);
      const res = await upsert(project, files).expect(200);
      expect(res.body).toMatchObject({ created: 0, updated: 0, unchanged: 2 });
    });

    it('keeps the current mode when executable is omitted, and changes it when given', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('run.sh', '#!/bin/sh\n', { executable: true }), textFile('plain.txt', 'x')]);
      await seed(project, [textFile('run.sh', '#!/bin/sh\necho changed\n'), textFile('plain.txt', 'y')]);
      expect(await storedFiles(project)).toEqual([
        { path: 'plain.txt', size: 1, mode: 'regular' },
        { path: 'run.sh', size: 23, mode: 'executable' },
      ]);
      const unchanged = await upsert(project, [textFile('run.sh', '#!/bin/sh\necho changed\n')]).expect(200);
      expect(unchanged.body.files[0].status).toBe('unchanged');
      await seed(project, [textFile('run.sh', '#!/bin/sh\necho changed\n', { executable: false })]);
      expect((await storedFiles(project)).find((f) => f.path === 'run.sh')?.mode).toBe('regular');
    });

    it('makes a new file regular when executable is omitted', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('x.sh')]);
      expect((await storedFiles(project))[0].mode).toBe('regular');
    });

    it.each(BAD_PATHS.map(([path, rule]) => [JSON.stringify(path.length > 40 ? `${path.slice(0, 40)}…` : path), path, rule]))(
      'refuses the bad path %s inside a batch of valid files and stores nothing of it',
      async (_label, path, rule) => {
        const project = await createProject(t.api);
        await seed(project, [textFile('existing.txt', 'kept')]);
        const res = await upsert(project, [textFile('ok/one.txt', 'new'), textFile('existing.txt', 'overwritten?'), textFile(path, 'bad'), textFile('ok/two.txt')]);
        expectErrorDetail(res, 400, 'PATH_INVALID', { field: 'files[2].path', rule });
        expect(res.body.message).toContain('files[2].path');
        expect(await storedFiles(project)).toEqual([{ path: 'existing.txt', size: 4, mode: 'regular' }]);
        await expectExactTotals(project, { fileCount: 1, totalBytes: 4 });
        expect((await download(project, 'existing.txt').expect(200)).body.toString()).toBe('kept');
      },
    );

    it('refuses two paths that are the same after NFC normalisation, storing nothing', async () => {
      const project = await createProject(t.api);
      const res = await upsert(project, [textFile('other.txt'), textFile('caf\u00e9.txt', 'nfc'), textFile('cafe\u0301.txt', 'nfd')]);
      expectErrorDetail(res, 400, 'PATH_INVALID', { field: 'files[2].path' });
      expect(await storedCount(project)).toBe(0);
      await expectExactTotals(project, { fileCount: 0, totalBytes: 0 });
    });

    it('refuses paths that are not well-formed Unicode, which would collide once stored as UTF-8', async () => {
      const project = await createProject(t.api);
      // Refused as the JSON body is read, like a lone surrogate in any field.
      const res = await upsert(project, [textFile('x\ud800', '1'), textFile('x\udc00', '2')]);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field: 'files[0].path', rule: 'well-formed-unicode' });
      expect(await storedCount(project)).toBe(0);
    });

    it('stores a path with astral characters (emoji) exactly', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('docs/🚀/𝒳.md', 'rocket')]);
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['docs/🚀/𝒳.md']);
      expect((await download(project, 'docs/🚀/𝒳.md').expect(200)).body.toString()).toBe('rocket');
    });

    it('refuses the same path twice in one batch', async () => {
      const project = await createProject(t.api);
      const res = await upsert(project, [textFile('a.txt', '1'), textFile('a.txt', '2')]);
      expectErrorDetail(res, 400, 'PATH_INVALID', { field: 'files[1].path' });
      expect(await storedCount(project)).toBe(0);
    });

    it('stores an NFD path in NFC and finds it by either form', async () => {
      const project = await createProject(t.api);
      const nfd = 'docs/re\u0301sume\u0301.md';
      const nfc = nfd.normalize('NFC');
      const res = await upsert(project, [textFile(nfd, 'cv')]).expect(200);
      expect(res.body.files[0].path).toBe(nfc);
      expect((await storedFiles(project)).map((f) => f.path)).toEqual([nfc]);
      expect((await download(project, nfd).expect(200)).body.toString()).toBe('cv');
      expect((await download(project, nfc).expect(200)).body.toString()).toBe('cv');
      const again = await upsert(project, [textFile(nfc, 'cv')]).expect(200);
      expect(again.body.files[0].status).toBe('unchanged');
      const listed = await t.api.get(filesUrl(project)).query({ prefix: 'docs/re\u0301' }).expect(200);
      expect(listed.body.items.map((f: { path: string }) => f.path)).toEqual([nfc]);
    });

    it.each([
      ['a character outside the alphabet', 'QQ$='],
      ['a newline', 'QUJD\nQUJD'],
      ['missing padding', 'QQ'],
      ['non-canonical final bits', 'QR=='],
      ['the URL-safe alphabet', 'ab-_'],
    ])('refuses base64 content with %s, naming files[i].content, and stores nothing', async (_label, content) => {
      const project = await createProject(t.api);
      const res = await upsert(project, [textFile('fine.txt'), { path: 'bad.bin', content, encoding: 'base64' }]);
      expectErrorDetail(res, 400, 'CONTENT_INVALID', { field: 'files[1].content' });
      expect(await storedCount(project)).toBe(0);
    });

    it('keeps fileCount and totalBytes exact when batches for one project arrive at once', async () => {
      const project = await createProject(t.api);
      const batches = Array.from({ length: 8 }, (_, b) => [
        ...Array.from({ length: 10 }, (_, i) => textFile(`batch${b}/f${i}.txt`, 'x'.repeat(b + i))),
        textFile('shared.txt', `written by batch ${b}`),
      ]);
      const responses = await Promise.all(batches.map((files) => upsert(project, files)));
      expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(responses.reduce((sum, r) => sum + r.body.created, 0)).toBe(81);
      const own = batches.flat().filter((f) => f.path !== 'shared.txt').reduce((sum, f) => sum + bytesOf(f).length, 0);
      const shared = (await download(project, 'shared.txt').expect(200)).body.length;
      await expectExactTotals(project, { fileCount: 81, totalBytes: own + shared });
    });

    it('stores an empty base64 content as an empty file', async () => {
      const project = await createProject(t.api);
      await seed(project, [{ path: 'empty.bin', content: '', encoding: 'base64' }]);
      expect((await download(project, 'empty.bin').expect(200)).body).toHaveLength(0);
      await expectExactTotals(project, { fileCount: 1, totalBytes: 0 });
    });

    it('stores text content as its UTF-8 bytes', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('u.txt', 'é€🚀')]);
      const [row] = await t.sql<{ size: number; hex: string }>("SELECT size, encode(content, 'hex') AS hex FROM project_files WHERE project_id = $1", [project.id]);
      expect(row).toEqual({ size: 9, hex: Buffer.from('é€🚀', 'utf8').toString('hex') });
    });

    it.each([
      ['an empty files array', { files: [] }, 'files'],
      ['files that is not an array', { files: 'a.txt' }, 'files'],
      ['a missing files field', {}, 'files'],
      ['a file without content', { files: [{ path: 'a.txt' }] }, 'files[0].content'],
      ['a file without path', { files: [{ content: 'x' }] }, 'files[0].path'],
      ['an unknown encoding', { files: [{ path: 'a.txt', content: 'x', encoding: 'hex' }] }, 'files[0].encoding'],
      ['a non-boolean executable', { files: [{ path: 'a.txt', content: 'x', executable: 'yes' }] }, 'files[0].executable'],
      ['an unknown field in a file', { files: [{ path: 'a.txt', content: 'x', colour: 'red' }] }, 'files[0].colour'],
      ['an unknown top-level field', { files: [{ path: 'a.txt', content: 'x' }], force: true }, 'force'],
    ])('refuses %s with 400 naming the field', async (_label, body, field) => {
      const project = await createProject(t.api);
      const res = await t.api.put(filesUrl(project)).send(body);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field });
      expect(await storedCount(project)).toBe(0);
    });
  });

  describe('files and folders', () => {
    it('refuses a file under a path that is a file (409 PATH_CONFLICT)', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a', 'file a')]);
      const res = await upsert(project, [textFile('ok.txt'), textFile('a/b', 'under a')]);
      // The detail names the request's entry, and the stored file it clashes with.
      expect(expectError(res, 409, 'PATH_CONFLICT').details).toEqual([expect.objectContaining({ field: 'files[1].path', rule: 'folder-is-file', path: 'a' })]);
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['a']);
      await expectExactTotals(project, { fileCount: 1, totalBytes: 6 });
    });

    it('refuses a file deeper under a path that is a file', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a/b', 'file')]);
      expectError(await upsert(project, [textFile('a/b/c/d.txt')]), 409, 'PATH_CONFLICT');
      expect(await storedCount(project)).toBe(1);
    });

    it('refuses a file at a path that is a folder (409 PATH_CONFLICT)', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a/b', 'inside')]);
      const res = await upsert(project, [textFile('a', 'would hide the folder')]);
      expect(expectError(res, 409, 'PATH_CONFLICT').details).toEqual([expect.objectContaining({ field: 'files[0].path', rule: 'file-is-folder', path: 'a' })]);
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['a/b']);
    });

    it('refuses a file at a path that is a folder higher up', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('x/y/z/w.txt')]);
      expectError(await upsert(project, [textFile('x/y')]), 409, 'PATH_CONFLICT');
      expectError(await upsert(project, [textFile('x')]), 409, 'PATH_CONFLICT');
      expect(await storedCount(project)).toBe(1);
    });

    it.each([
      // The entry named is the file that would be a folder.
      ['file first', ['a', 'a/b'], 'files[0].path'],
      ['folder first', ['a/b', 'a'], 'files[1].path'],
      ['deeper', ['p/q/r', 'p'], 'files[1].path'],
    ])('refuses a file and a folder of the same path inside one batch (%s)', async (_label, paths, field) => {
      const project = await createProject(t.api);
      const { details } = expectError(await upsert(project, paths.map((path) => textFile(path))), 409, 'PATH_CONFLICT');
      expect(details).toEqual([expect.objectContaining({ field, rule: 'file-is-folder' })]);
      expect(await storedCount(project)).toBe(0);
    });

    it('lets a file sit beside folders whose names merely start with its name', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a')]);
      const res = await upsert(project, [textFile('a.d/x'), textFile('a-d/x'), textFile('a0/x'), textFile('ab/x'), textFile('a.txt')]).expect(200);
      expect(res.body.created).toBe(5);
      const other = await createProject(t.api);
      await seed(other, [textFile('a.d/x'), textFile('a-d/x'), textFile('a0/x'), textFile('ab/x')]);
      expect((await upsert(other, [textFile('a')]).expect(200)).body.created).toBe(1);
    });
  });

  describe('list', () => {
    it('lists files ordered by path with a prefix and pagination', async () => {
      const project = await createProject(t.api);
      const paths = ['src/b.ts', 'src/a.ts', 'src/Z.ts', 'src/lib/x.ts', 'srcx.txt', 'README.md', 'src/ä.ts', 'src/_u.ts'];
      await seed(project, paths.map((path) => textFile(path)));
      const inSrc = paths.filter((p) => p.startsWith('src/')).sort(byteOrder);
      expect(inSrc).toEqual(['src/Z.ts', 'src/_u.ts', 'src/a.ts', 'src/b.ts', 'src/lib/x.ts', 'src/ä.ts']);

      const all = await t.api.get(filesUrl(project)).query({ prefix: 'src/' }).expect(200);
      expect(all.body).toMatchObject({ total: inSrc.length, limit: 20, offset: 0 });
      expect(all.body.items.map((f: { path: string }) => f.path)).toEqual(inSrc);
      expect(all.body.items[0]).toEqual({
        path: 'src/Z.ts',
        size: Buffer.byteLength('content of src/Z.ts\n'),
        sha256: sha256(Buffer.from('content of src/Z.ts\n')),
        mode: 'regular',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });

      const page = await t.api.get(filesUrl(project)).query({ prefix: 'src/', limit: 2, offset: 2 }).expect(200);
      expect(page.body).toMatchObject({ total: inSrc.length, limit: 2, offset: 2 });
      expect(page.body.items.map((f: { path: string }) => f.path)).toEqual(inSrc.slice(2, 4));

      const everything = await t.api.get(filesUrl(project)).expect(200);
      expect(everything.body.items.map((f: { path: string }) => f.path)).toEqual([...paths].sort(byteOrder));
    });

    it('treats "%" and "_" in a prefix literally', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a_b/x'), textFile('acb/x'), textFile('100%/y'), textFile('1000/y')]);
      const underscore = await t.api.get(filesUrl(project)).query({ prefix: 'a_' }).expect(200);
      expect(underscore.body.items.map((f: { path: string }) => f.path)).toEqual(['a_b/x']);
      const percent = await t.api.get(filesUrl(project)).query({ prefix: '100%' }).expect(200);
      expect(percent.body.items.map((f: { path: string }) => f.path)).toEqual(['100%/y']);
    });

    it.each([
      ['a limit over 100', { limit: 101 }, 'limit'],
      ['an offset beyond what PostgreSQL can skip', { offset: '100000000000000000000' }, 'offset'],
      ['a prefix with a NUL character', { prefix: 'a\u0000' }, 'prefix'],
    ])('refuses %s with 400 naming it', async (_label, query, field) => {
      const project = await createProject(t.api);
      expectErrorDetail(await t.api.get(filesUrl(project)).query(query), 400, 'VALIDATION_FAILED', { field });
    });
  });

  describe('delete', () => {
    it('deletes one file and updates the totals', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('keep.txt', '12345'), textFile('dir/gone.txt', '123')]);
      await expectExactTotals(project, { fileCount: 2, totalBytes: 8 });
      const res = await t.api.delete(filesUrl(project)).query({ path: 'dir/gone.txt' }).expect(204);
      expect(res.text).toBe('');
      await expectExactTotals(project, { fileCount: 1, totalBytes: 5 });
      expectError(await download(project, 'dir/gone.txt'), 404, 'FILE_NOT_FOUND');
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['keep.txt']);
    });

    it('deletes a file named by its NFD path', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('caf\u00e9.txt', 'x')]);
      await t.api.delete(filesUrl(project)).query({ path: 'cafe\u0301.txt' }).expect(204);
      await expectExactTotals(project, { fileCount: 0, totalBytes: 0 });
    });

    it('answers 404 FILE_NOT_FOUND for a missing file and changes nothing', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a/b.txt', 'abc')]);
      expectError(await t.api.delete(filesUrl(project)).query({ path: 'missing.txt' }), 404, 'FILE_NOT_FOUND');
      expectError(await t.api.delete(filesUrl(project)).query({ path: 'a' }), 404, 'FILE_NOT_FOUND');
      await expectExactTotals(project, { fileCount: 1, totalBytes: 3 });
    });

    it('refuses a bad path with 400 naming path', async () => {
      const project = await createProject(t.api);
      expectErrorDetail(await t.api.delete(filesUrl(project)).query({ path: 'a//b' }), 400, 'PATH_INVALID', { field: 'path', rule: 'empty-segment' });
    });
  });

  describe('move', () => {
    const move = (project: { id: string }, body: Record<string, unknown>) => t.api.post(`${filesUrl(project)}/move`).send(body);

    it('moves a file, keeping its bytes and mode', async () => {
      const project = await createProject(t.api);
      const bytes = randomBytes(50);
      await seed(project, [binaryFile('old/tool.bin', bytes, { executable: true }), textFile('other.txt', 'o')]);
      const before = await expectExactTotals(project);
      const res = await move(project, { from: 'old/tool.bin', to: 'new/place/tool.bin' }).expect(200);
      expect(res.body).toEqual({ moved: [{ from: 'old/tool.bin', to: 'new/place/tool.bin' }] });
      expect((await download(project, 'new/place/tool.bin').expect(200)).body.equals(bytes)).toBe(true);
      expectError(await download(project, 'old/tool.bin'), 404, 'FILE_NOT_FOUND');
      expect(await storedFiles(project)).toEqual([
        { path: 'new/place/tool.bin', size: 50, mode: 'executable' },
        { path: 'other.txt', size: 1, mode: 'regular' },
      ]);
      await expectExactTotals(project, before);
    });

    it('moves a folder with all its files and nothing else', async () => {
      const project = await createProject(t.api);
      await seed(project, [
        textFile('src/a.ts', 'a'),
        textFile('src/lib/b.ts', 'bb'),
        textFile('src/lib/deep/c.ts', 'ccc'),
        textFile('srcx.txt', 'x'),
        textFile('src-old/d.ts', 'd'),
      ]);
      const before = await expectExactTotals(project);
      const res = await move(project, { from: 'src', to: 'packages/core/src' }).expect(200);
      expect(res.body.moved).toEqual([
        { from: 'src/a.ts', to: 'packages/core/src/a.ts' },
        { from: 'src/lib/b.ts', to: 'packages/core/src/lib/b.ts' },
        { from: 'src/lib/deep/c.ts', to: 'packages/core/src/lib/deep/c.ts' },
      ]);
      expect((await storedFiles(project)).map((f) => f.path)).toEqual([
        'packages/core/src/a.ts',
        'packages/core/src/lib/b.ts',
        'packages/core/src/lib/deep/c.ts',
        'src-old/d.ts',
        'srcx.txt',
      ]);
      expect((await download(project, 'packages/core/src/lib/deep/c.ts').expect(200)).body.toString()).toBe('ccc');
      await expectExactTotals(project, before);
    });

    it('moves a file up into the folder it leaves empty', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a/b', 'only child')]);
      await move(project, { from: 'a/b', to: 'a' }).expect(200);
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['a']);
    });

    it('moves a file down into a folder of its own name ("config" → "config/default")', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('config', 'settings')]);
      const res = await move(project, { from: 'config', to: 'config/default' }).expect(200);
      expect(res.body).toEqual({ moved: [{ from: 'config', to: 'config/default' }] });
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['config/default']);
      expect((await download(project, 'config/default').expect(200)).body.toString()).toBe('settings');
    });

    it('refuses to move a file onto an existing file unless overwrite is true', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('from.txt', 'winner'), textFile('to.txt', 'loser, longer')]);
      const res = await move(project, { from: 'from.txt', to: 'to.txt' });
      expectError(res, 409, 'PATH_CONFLICT');
      expect((await download(project, 'to.txt').expect(200)).body.toString()).toBe('loser, longer');
      await expectExactTotals(project, { fileCount: 2, totalBytes: 6 + 13 });

      const overwritten = await move(project, { from: 'from.txt', to: 'to.txt', overwrite: true }).expect(200);
      expect(overwritten.body).toEqual({ moved: [{ from: 'from.txt', to: 'to.txt' }] });
      expect((await download(project, 'to.txt').expect(200)).body.toString()).toBe('winner');
      expectError(await download(project, 'from.txt'), 404, 'FILE_NOT_FOUND');
      await expectExactTotals(project, { fileCount: 1, totalBytes: 6 });
    });

    it('refuses to move a folder onto existing files, even with overwrite', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('x/1.txt', 'new'), textFile('y/1.txt', 'old')]);
      expectError(await move(project, { from: 'x', to: 'y' }), 409, 'PATH_CONFLICT');
      expectError(await move(project, { from: 'x', to: 'y', overwrite: true }), 409, 'PATH_CONFLICT');
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['x/1.txt', 'y/1.txt']);
      await expectExactTotals(project, { fileCount: 2, totalBytes: 6 });
    });

    it('refuses to move a folder into itself', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a/x.txt')]);
      const res = await move(project, { from: 'a', to: 'a/b' });
      expectErrorDetail(res, 409, 'PATH_CONFLICT', { field: 'to', rule: 'inside-source' });
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['a/x.txt']);
    });

    it('refuses to move a file under a path that is a file, or onto a folder', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('f.txt'), textFile('g.txt'), textFile('dir/inner.txt')]);
      expectError(await move(project, { from: 'f.txt', to: 'g.txt/f.txt' }), 409, 'PATH_CONFLICT');
      expectError(await move(project, { from: 'f.txt', to: 'dir' }), 409, 'PATH_CONFLICT');
      expectError(await move(project, { from: 'f.txt', to: 'dir', overwrite: true }), 409, 'PATH_CONFLICT');
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['dir/inner.txt', 'f.txt', 'g.txt']);
      await expectExactTotals(project, { fileCount: 3, totalBytes: (await storedFiles(project)).reduce((s, f) => s + f.size, 0) });
    });

    it.each([
      ['to', { from: 'a.txt', to: '../a.txt' }, 'dot-dot-segment'],
      ['to', { from: 'a.txt', to: '.git/hooks/pre-commit' }, 'git-dir'],
      ['to', { from: 'a.txt', to: 'b/' }, 'empty-segment'],
      ['from', { from: '/a.txt', to: 'b.txt' }, 'absolute'],
    ])('refuses an invalid %s path with 400 and moves nothing', async (field, body, rule) => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a.txt')]);
      expectErrorDetail(await move(project, body), 400, 'PATH_INVALID', { field, rule });
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['a.txt']);
    });

    it('refuses a folder move that would make a path too long, moving nothing', async () => {
      const project = await createProject(t.api);
      const long = `${'s'.repeat(250)}/${'t'.repeat(250)}/${'u'.repeat(250)}/${'x'.repeat(250)}.txt`;
      await seed(project, [textFile(`d/${long}`), textFile('d/short.txt')]);
      const res = await move(project, { from: 'd', to: `${'v'.repeat(250)}/w` });
      expectError(res, 400, 'PATH_INVALID');
      expect(res.body.details[0].rule).toBe('path-too-long');
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['d/short.txt', `d/${long}`]);
    });

    it('answers 404 FILE_NOT_FOUND when there is nothing at from', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('ab/c.txt')]);
      expectError(await move(project, { from: 'a', to: 'z' }), 404, 'FILE_NOT_FOUND');
      expectError(await move(project, { from: 'missing.txt', to: 'z' }), 404, 'FILE_NOT_FOUND');
    });

    it('stores the target of a move in NFC', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('a.txt', 'x')]);
      const res = await move(project, { from: 'a.txt', to: 'cafe\u0301.txt' }).expect(200);
      expect(res.body.moved[0].to).toBe('caf\u00e9.txt');
      expect((await storedFiles(project)).map((f) => f.path)).toEqual(['caf\u00e9.txt']);
    });

    it('refuses unknown body fields', async () => {
      const project = await createProject(t.api);
      expectErrorDetail(await move(project, { from: 'a', to: 'b', force: true }), 400, 'VALIDATION_FAILED', { field: 'force' });
    });

    it('moves nothing onto itself, and says so only of a file or folder that exists', async () => {
      const project = await createProject(t.api);
      await seed(project, [textFile('dir/a.txt', 'x')]);
      expect((await move(project, { from: 'dir/a.txt', to: 'dir/a.txt' }).expect(200)).body).toEqual({ moved: [] });
      expect((await move(project, { from: 'dir', to: 'dir' }).expect(200)).body).toEqual({ moved: [] });
      expectError(await move(project, { from: 'nothing.txt', to: 'nothing.txt' }), 404, 'FILE_NOT_FOUND');
    });
  });

  describe('unknown and malformed project ids', () => {
    const requests = (id: string): Array<[string, () => Promise<Response>]> => [
      ['upsert', async () => t.api.put(`/api/projects/${id}/files`).send({ files: [textFile('a.txt')] })],
      ['list', async () => t.api.get(`/api/projects/${id}/files`)],
      ['content', async () => t.api.get(`/api/projects/${id}/files/content`).query({ path: 'a.txt' })],
      ['delete', async () => t.api.delete(`/api/projects/${id}/files`).query({ path: 'a.txt' })],
      ['move', async () => t.api.post(`/api/projects/${id}/files/move`).send({ from: 'a.txt', to: 'b.txt' })],
      ['move onto itself', async () => t.api.post(`/api/projects/${id}/files/move`).send({ from: 'a.txt', to: 'a.txt' })],
    ];

    it('answers 404 PROJECT_NOT_FOUND on every files route of an unknown project', async () => {
      for (const [, call] of requests(randomUUID())) expectError(await call(), 404, 'PROJECT_NOT_FOUND');
      const [{ n }] = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM project_files f LEFT JOIN generated_projects p ON p.id = f.project_id WHERE p.id IS NULL');
      expect(n).toBe(0);
    });

    it('answers 400 naming id on every files route of a malformed id', async () => {
      for (const [, call] of requests('not-a-uuid')) expectErrorDetail(await call(), 400, 'VALIDATION_FAILED', { field: 'id' });
    });
  });
});

describe('project file limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ MAX_FILE_BYTES: '100', MAX_BATCH_FILES: '3', MAX_FILES_PER_PROJECT: '5', MAX_PROJECT_BYTES: '300', MAX_REQUEST_BYTES: '4096' });
  });
  afterAll(async () => {
    await t?.close();
  });

  const upsert = (project: ProjectBody, files: FileInput[]) => t.api.put(`/api/projects/${project.id}/files`).send({ files });
  const totals = async (project: ProjectBody) => {
    const res = await t.api.get(`/api/projects/${project.id}`).expect(200);
    const [{ n, bytes }] = await t.sql<{ n: number; bytes: number }>(
      'SELECT count(*)::int AS n, coalesce(sum(size), 0)::int AS bytes FROM project_files WHERE project_id = $1',
      [project.id],
    );
    expect({ fileCount: res.body.fileCount, totalBytes: res.body.totalBytes }).toEqual({ fileCount: n, totalBytes: bytes });
    return { fileCount: n, totalBytes: bytes };
  };

  it('accepts a file of exactly MAX_FILE_BYTES', async () => {
    const project = await createProject(t.api);
    await upsert(project, [binaryFile('max.bin', randomBytes(100))]).expect(200);
    expect(await totals(project)).toEqual({ fileCount: 1, totalBytes: 100 });
  });

  it.each([
    ['binary', binaryFile('big.bin', randomBytes(101))],
    ['multi-byte text (51 characters, 102 bytes)', textFile('big.txt', 'é'.repeat(51))],
  ])('refuses a %s file over MAX_FILE_BYTES with 413 FILE_TOO_LARGE and stores nothing', async (_label, big) => {
    const project = await createProject(t.api);
    const res = await upsert(project, [textFile('small.txt', 'ok'), big]);
    expectErrorDetail(res, 413, 'FILE_TOO_LARGE', { field: 'files[1].content' });
    expect(await totals(project)).toEqual({ fileCount: 0, totalBytes: 0 });
  });

  it('refuses a batch over MAX_BATCH_FILES with 413 TOO_MANY_FILES and stores nothing', async () => {
    const project = await createProject(t.api);
    const res = await upsert(project, ['a', 'b', 'c', 'd'].map((p) => textFile(p, 'x')));
    expectErrorDetail(res, 413, 'TOO_MANY_FILES', { field: 'files' });
    expect(await totals(project)).toEqual({ fileCount: 0, totalBytes: 0 });
  });

  it('refuses a batch that would put the project over MAX_FILES_PER_PROJECT, storing nothing of it', async () => {
    const project = await createProject(t.api);
    await upsert(project, ['a', 'b', 'c'].map((p) => textFile(p, 'x'))).expect(200);
    const res = await upsert(project, [textFile('d', 'x'), textFile('e', 'x'), textFile('f', 'x')]);
    expectError(res, 413, 'TOO_MANY_FILES');
    expect(await totals(project)).toEqual({ fileCount: 3, totalBytes: 3 });
    await upsert(project, [textFile('a', 'changed'), textFile('d', 'x'), textFile('e', 'x')]).expect(200);
    expect(await totals(project)).toEqual({ fileCount: 5, totalBytes: 7 + 4 });
    expectError(await upsert(project, [textFile('f', 'x')]), 413, 'TOO_MANY_FILES');
    await upsert(project, [textFile('a', 'still allowed: an update')]).expect(200);
  });

  it('refuses a batch that would put the project over MAX_PROJECT_BYTES, storing nothing of it', async () => {
    const project = await createProject(t.api);
    await upsert(project, [binaryFile('1', randomBytes(100)), binaryFile('2', randomBytes(100))]).expect(200);
    const res = await upsert(project, [binaryFile('3', randomBytes(100)), textFile('4', 'x')]);
    expectError(res, 413, 'PROJECT_TOO_LARGE');
    expect(await totals(project)).toEqual({ fileCount: 2, totalBytes: 200 });
    await upsert(project, [binaryFile('3', randomBytes(100))]).expect(200);
    expect(await totals(project)).toEqual({ fileCount: 3, totalBytes: 300 });
    expectError(await upsert(project, [textFile('4', 'x')]), 413, 'PROJECT_TOO_LARGE');
    expectError(await upsert(project, [binaryFile('1', randomBytes(100)), textFile('2', 'grow: 101 bytes'.padEnd(101, '!'))]), 413, 'FILE_TOO_LARGE');
    await upsert(project, [textFile('1', 'shrunk')]).expect(200);
    expect(await totals(project)).toEqual({ fileCount: 3, totalBytes: 206 });
  });

  it('refuses a request body over MAX_REQUEST_BYTES with 413 BODY_TOO_LARGE and stores nothing', async () => {
    const project = await createProject(t.api);
    const res = await upsert(project, [textFile('a.txt', 'x'.repeat(5000))]);
    expectError(res, 413, 'BODY_TOO_LARGE');
    expect(await totals(project)).toEqual({ fileCount: 0, totalBytes: 0 });
    const big = await t.api.post('/api/projects').send({ name: 'too big', description: 'd'.repeat(5000) });
    expectError(big, 413, 'BODY_TOO_LARGE');
  });
});
