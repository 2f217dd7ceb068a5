import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startGitHttpServer, GitHttpServer } from '../setup/git-http-server.js';
import { git, gitFails, readCheckout, scratch } from '../utils/git-cli.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

interface ExportBody {
  id: string;
  status: string;
  commitSha: string | null;
  parentSha: string | null;
  unchanged: boolean | null;
  fileCount: number | null;
  error: string | null;
  pushResult: { refs: Array<{ ref: string; ok: boolean }> } | null;
  remoteUrl: string | null;
  durationMs: number | null;
  [key: string]: unknown;
}

const REMOTE_USER = 'pusher';
const REMOTE_TOKEN = `remote-token-${randomBytes(8).toString('hex')}`;

/** Exports and Git over HTTP with the in-process job runner (no REDIS_URL). */
describe('exporter: projects to Git history, pushes and clones (in-process jobs)', () => {
  let t: TestApp;
  let remote: GitHttpServer;
  let other: GitHttpServer;
  const repos = scratch('repos');
  const work = scratch('work');

  beforeAll(async () => {
    remote = await startGitHttpServer({ credentials: { username: REMOTE_USER, token: REMOTE_TOKEN } });
    other = await startGitHttpServer();
    t = await startTestApp({
      REPOS_DIR: repos.path,
      GIT_ALLOW_HTTP: 'true',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      GIT_PUSH_TIMEOUT_MS: '3000',
      JOB_BACKOFF_MS: '50',
      JOB_ATTEMPTS: '2',
    });
  });

  afterAll(async () => {
    await t?.close();
    await remote?.close();
    await other?.close();
    repos.cleanup();
    work.cleanup();
  });

  async function project(files: Array<{ path: string; content: string; encoding?: string; executable?: boolean }>, slug?: string): Promise<{ id: string; slug: string }> {
    const created = await t.api.post('/api/projects').send({ name: `Export test ${randomBytes(3).toString('hex')}`, ...(slug ? { slug } : {}) }).expect(201);
    if (files.length > 0) await t.api.put(`/api/projects/${created.body.id}/files`).send({ files }).expect(200);
    return { id: created.body.id, slug: created.body.slug };
  }

  async function exported(projectId: string, body: Record<string, unknown> = {}): Promise<ExportBody> {
    const accepted = await t.api.post(`/api/projects/${projectId}/exports`).send(body).expect(202);
    expect(accepted.body.status).toMatch(/^(queued|running|succeeded)$/);
    return waitFor(accepted.body.id);
  }

  async function waitFor(exportId: string): Promise<ExportBody> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const res = await t.api.get(`/api/exports/${exportId}`).expect(200);
      if (res.body.status === 'succeeded' || res.body.status === 'failed') return res.body;
      if (Date.now() > deadline) throw new Error(`export ${exportId} still ${res.body.status}: ${JSON.stringify(res.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  const gitdirOf = (projectId: string) => join(repos.path, `${projectId}.git`);
  const cloneUrl = (slug: string, token = t.adminToken) => `${t.url.replace('http://', `http://forgeline:${token}@`)}/git/${slug}.git`;

  async function clone(url: string, env: Record<string, string> = {}): Promise<string> {
    const dir = join(work.path, `clone-${randomBytes(4).toString('hex')}`);
    await git(['clone', '--quiet', url, dir], { env });
    return dir;
  }

  it('exports the files as one commit that git fsck --strict accepts and git clone reproduces byte for byte', async () => {
    const binary = randomBytes(3000);
    const p = await project([
      { path: 'README.md', content: '# Hello\n' },
      { path: 'bin/run.sh', content: '#!/bin/sh\necho run\n', executable: true },
      { path: 'assets/logo.bin', content: binary.toString('base64'), encoding: 'base64' },
      { path: 'src/deep/er/than/before.ts', content: 'export const x = 1;\n' },
      { path: 'src/ünïcode – name.txt', content: 'ü\n' },
      { path: 'empty.txt', content: '' },
    ]);
    const result = await exported(p.id, { message: 'First export', author: { name: 'Ada Lovelace', email: 'ada@example.com' } });
    expect(result).toMatchObject({ status: 'succeeded', unchanged: false, parentSha: null, fileCount: 6, error: null });
    expect(result.commitSha).toMatch(/^[0-9a-f]{40}$/);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);

    await git(['--git-dir', gitdirOf(p.id), 'fsck', '--strict', '--no-dangling']);
    const dir = await clone(cloneUrl(p.slug));
    const files = readCheckout(dir);
    expect([...files.keys()].sort()).toEqual(['README.md', 'assets/logo.bin', 'bin/run.sh', 'empty.txt', 'src/deep/er/than/before.ts', 'src/ünïcode – name.txt']);
    expect(files.get('assets/logo.bin')?.content.equals(binary)).toBe(true);
    expect(files.get('bin/run.sh')).toEqual({ content: Buffer.from('#!/bin/sh\necho run\n'), executable: true });
    expect(files.get('README.md')?.executable).toBe(false);
    expect(await git(['ls-tree', '-r', 'HEAD', 'bin/run.sh'], { cwd: dir })).toMatch(/^100755 blob /);
    const head = await git(['log', '-1', '--format=%H%n%an <%ae>%n%cn <%ce>%n%(trailers:key=Forgeline-Project,valueonly)%(trailers:key=Forgeline-Export,valueonly)%B'], { cwd: dir });
    const [sha, author, committer, projectTrailer, exportTrailer] = head.split('\n');
    expect(sha).toBe(result.commitSha);
    expect(author).toBe('Ada Lovelace <ada@example.com>');
    expect(committer).toBe('Forgeline <forgeline@localhost>');
    expect([projectTrailer, exportTrailer]).toEqual([p.id, result.id]);
    expect(head).toContain('First export\n\nForgeline-Project: ');
  });

  it('exports a project of several chunks (compressed on the encoder thread) as git itself would', async () => {
    const files = Array.from({ length: 1_200 }, (_, i) => ({ path: `pkg${i % 7}/dir${i % 13}/file${i}.txt`, content: `line ${i}\n`.repeat(1 + (i % 50)), executable: i % 11 === 0 }));
    const p = await project(files);
    const result = await exported(p.id);
    expect(result).toMatchObject({ status: 'succeeded', fileCount: 1_200 });
    await git(['--git-dir', gitdirOf(p.id), 'fsck', '--strict', '--no-dangling']);
    const dir = await clone(cloneUrl(p.slug));
    const checkout = readCheckout(dir);
    expect(checkout.size).toBe(1_200);
    for (const file of files) expect(checkout.get(file.path)).toEqual({ content: Buffer.from(file.content), executable: file.executable });
    const rebuilt = join(work.path, `rebuilt-${randomBytes(3).toString('hex')}`);
    await git(['init', '--quiet', rebuilt]);
    await git(['--work-tree', dir, '--git-dir', join(rebuilt, '.git'), 'add', '-A']);
    expect((await git(['--git-dir', join(rebuilt, '.git'), 'write-tree'])).trim()).toBe((await git(['rev-parse', 'HEAD^{tree}'], { cwd: dir })).trim());
  });

  it('makes one commit per changing export, none for an unchanged one, and one with allowEmpty', async () => {
    const p = await project([{ path: 'a.txt', content: 'one\n' }, { path: 'dir/b.txt', content: 'b\n' }]);
    const first = await exported(p.id);
    const same = await exported(p.id);
    expect(same).toMatchObject({ status: 'succeeded', unchanged: true, commitSha: first.commitSha, parentSha: first.commitSha, fileCount: 2 });

    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'a.txt', content: 'two\n' }] }).expect(200);
    const second = await exported(p.id);
    expect(second).toMatchObject({ status: 'succeeded', unchanged: false, parentSha: first.commitSha });
    expect(second.commitSha).not.toBe(first.commitSha);

    const empty = await exported(p.id, { allowEmpty: true, message: 'Nothing changed, on purpose' });
    expect(empty).toMatchObject({ status: 'succeeded', unchanged: false, parentSha: second.commitSha });

    const gitdir = gitdirOf(p.id);
    expect((await git(['--git-dir', gitdir, 'rev-list', 'main'])).trim().split('\n')).toEqual([empty.commitSha, second.commitSha, first.commitSha]);
    expect(await git(['--git-dir', gitdir, 'rev-parse', `${empty.commitSha}^{tree}`])).toBe(await git(['--git-dir', gitdir, 'rev-parse', `${second.commitSha}^{tree}`]));
    await git(['--git-dir', gitdir, 'fsck', '--strict', '--no-dangling']);
  });

  it('follows deletions, renames, mode changes and folders that appear and vanish', async () => {
    const p = await project([
      { path: 'keep.txt', content: 'keep\n' },
      { path: 'gone/only.txt', content: 'bye\n' },
      { path: 'tool', content: '#!/bin/sh\n' },
      { path: 'old/name.txt', content: 'moving\n' },
    ]);
    await exported(p.id);
    await t.api.delete(`/api/projects/${p.id}/files`).query({ path: 'gone/only.txt' }).expect(204);
    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'tool', content: '#!/bin/sh\n', executable: true }, { path: 'new/deep/file.txt', content: 'new\n' }] }).expect(200);
    await t.api.post(`/api/projects/${p.id}/files/move`).send({ from: 'old/name.txt', to: 'renamed/name.txt' }).expect(200);
    const result = await exported(p.id);
    expect(result).toMatchObject({ status: 'succeeded', unchanged: false, fileCount: 4 });
    const dir = await clone(cloneUrl(p.slug));
    const files = readCheckout(dir);
    expect([...files.keys()].sort()).toEqual(['keep.txt', 'new/deep/file.txt', 'renamed/name.txt', 'tool']);
    expect(files.get('tool')?.executable).toBe(true);
    await git(['--git-dir', gitdirOf(p.id), 'fsck', '--strict', '--no-dangling']);
    // The tree is the one git itself would build from the same files.
    const rebuilt = join(work.path, `rebuilt-${randomBytes(3).toString('hex')}`);
    await git(['init', '--quiet', rebuilt]);
    await git(['--work-tree', dir, '--git-dir', join(rebuilt, '.git'), 'add', '-A']);
    expect((await git(['--git-dir', join(rebuilt, '.git'), 'write-tree'])).trim()).toBe((await git(['rev-parse', 'HEAD^{tree}'], { cwd: dir })).trim());
  });

  it('lists the branch\'s commits with their changed path counts, newest first', async () => {
    const p = await project([{ path: 'a.txt', content: '1' }, { path: 'b.txt', content: '2' }, { path: 'c/d.txt', content: '3' }]);
    const empty = await t.api.get(`/api/projects/${p.id}/commits`).expect(200);
    expect(empty.body).toEqual({ items: [], total: 0, limit: 20, offset: 0 });
    const first = await exported(p.id, { message: 'first' });
    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'a.txt', content: 'changed' }] }).expect(200);
    await t.api.delete(`/api/projects/${p.id}/files`).query({ path: 'c/d.txt' }).expect(204);
    const second = await exported(p.id, { message: 'second', author: { name: 'Grace Hopper', email: 'grace@example.com' } });
    const res = await t.api.get(`/api/projects/${p.id}/commits`).expect(200);
    expect(res.body.total).toBe(2);
    expect(res.body.items.map((c: { sha: string }) => c.sha)).toEqual([second.commitSha, first.commitSha]);
    expect(res.body.items[0]).toMatchObject({ changedPaths: 2, author: { name: 'Grace Hopper', email: 'grace@example.com' }, parents: [first.commitSha] });
    expect(res.body.items[0].message).toMatch(/^second\n\nForgeline-Project: /);
    expect(res.body.items[1]).toMatchObject({ changedPaths: 3, parents: [] });
    expect(Date.parse(res.body.items[0].date)).not.toBeNaN();
    const paged = await t.api.get(`/api/projects/${p.id}/commits`).query({ limit: 1, offset: 1 }).expect(200);
    expect(paged.body).toMatchObject({ total: 2, limit: 1, offset: 1, items: [{ sha: first.commitSha }] });
    // Beyond git's int an offset does not wrap around to the first page.
    for (const offset of ['2147483648', '9007199254740991']) {
      expect((await t.api.get(`/api/projects/${p.id}/commits`).query({ offset }).expect(200)).body).toMatchObject({ total: 2, items: [] });
    }
    const other = await t.api.get(`/api/projects/${p.id}/commits`).query({ branch: 'nope' }).expect(200);
    expect(other.body.total).toBe(0);
    const listed = await t.api.get(`/api/projects/${p.id}/exports`).expect(200);
    expect(listed.body.items.map((e: { id: string }) => e.id)).toEqual([second.id, first.id]);
  });

  it('exports to other branches and tags, and refuses to move an existing tag', async () => {
    const p = await project([{ path: 'x.txt', content: 'x' }]);
    const main = await exported(p.id, { tag: 'v1.0.0' });
    const feature = await exported(p.id, { branch: 'feature/one' });
    expect(feature).toMatchObject({ status: 'succeeded', parentSha: null, unchanged: false });
    const gitdir = gitdirOf(p.id);
    expect((await git(['--git-dir', gitdir, 'rev-parse', 'refs/tags/v1.0.0'])).trim()).toBe(main.commitSha);
    expect((await git(['--git-dir', gitdir, 'rev-parse', 'refs/heads/feature/one^{tree}'])).trim()).toBe((await git(['--git-dir', gitdir, 'rev-parse', 'main^{tree}'])).trim());
    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'x.txt', content: 'y' }] }).expect(200);
    const moved = await exported(p.id, { tag: 'v1.0.0' });
    expect(moved.status).toBe('failed');
    expect(moved.error).toMatch(/tag "v1.0.0" already exists/);
    expect(moved.commitSha).toMatch(/^[0-9a-f]{40}$/);
    expect((await git(['--git-dir', gitdir, 'rev-parse', 'refs/tags/v1.0.0'])).trim()).toBe(main.commitSha);
  });

  it('rejects branch and tag names that break git check-ref-format, naming the rule', async () => {
    const p = await project([{ path: 'x.txt', content: 'x' }]);
    const cases: Array<[string, string, string]> = [
      ['branch', 'HEAD', 'head'],
      ['branch', 'a..b', 'double-dot'],
      ['branch', '-x', 'leading-dash'],
      ['branch', 'a@{1}', 'at-brace'],
      ['branch', 'topic.lock', 'component-lock-suffix'],
      ['branch', 'has space', 'forbidden-character'],
      ['tag', 'v1~2', 'forbidden-character'],
      ['tag', 'what?', 'forbidden-character'],
      ['tag', 'a\u0001b', 'control-character'],
      ['branch', 'x/.hidden', 'component-leading-dot'],
      ['branch', 'ends.', 'trailing-dot'],
      ['branch', 'a//b', 'slash-position'],
      ['branch', '@', 'lone-at'],
      ['branch', '', 'empty'],
    ];
    for (const [field, value, rule] of cases) {
      const res = await t.api.post(`/api/projects/${p.id}/exports`).send({ [field]: value });
      expect([value, res.status, res.body.code, res.body.details?.[0]]).toEqual([value, 400, 'VALIDATION_FAILED', expect.objectContaining({ field, rule })]);
    }
    const remote = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url: remote_url(), branch: 'bad..name' } }).expect(400);
    expect(remote.body.details[0]).toMatchObject({ field: 'remote.branch', rule: 'double-dot' });
    expect((await t.api.get(`/api/projects/${p.id}/exports`).expect(200)).body.total).toBe(0);
  });

  function remote_url(): string {
    return `${remote.url}/never-used.git`;
  }

  it('refuses remotes it must not reach with a 400, without echoing them', async () => {
    const p = await project([{ path: 'x.txt', content: 'x' }]);
    const cases: Array<[string, string]> = [
      ['file:///etc/passwd', 'scheme-not-allowed'],
      ['ssh://git@example.com/repo.git', 'scheme-not-allowed'],
      ['git@example.com:acme/repo.git', 'scheme-not-allowed'],
      ['ext::sh -c touch% /tmp/pwned', 'scheme-not-allowed'],
      ['git://example.com/repo.git', 'scheme-not-allowed'],
      ['https://user:s3cr3t-in-url@example.com/repo.git', 'credentials-in-url'],
      ['https://example.com/repo.git?x=1', 'query-or-fragment'],
      ['not a url', 'not-a-url'],
    ];
    for (const [url, rule] of cases) {
      const res = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url } });
      expect([url, res.status, res.body.details?.[0]?.rule]).toEqual([url, 400, rule]);
      expect(JSON.stringify(res.body)).not.toContain('s3cr3t-in-url');
    }
    const both = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url: 'https://example.com/r.git', credentialId: '00000000-0000-4000-8000-000000000000', token: 'x' } }).expect(400);
    expect(both.body.details[0].rule).toBe('one-credential');
    const missing = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url: 'https://example.com/r.git', credentialId: '00000000-0000-4000-8000-000000000000' } }).expect(404);
    expect(missing.body.code).toBe('GIT_CREDENTIAL_NOT_FOUND');
  });

  it('pushes to a remote (inline credentials, used once and erased), fast-forwards, and the remote passes git fsck --strict', async () => {
    const p = await project([{ path: 'app.py', content: 'print(1)\n' }, { path: 'run', content: '#!/bin/sh\n', executable: true }]);
    const url = remote.createRepository(`push-${p.slug}`);
    const first = await exported(p.id, { remote: { url, username: REMOTE_USER, token: REMOTE_TOKEN }, tag: 'v1' });
    expect(first).toMatchObject({ status: 'succeeded', remoteUrl: url, error: null });
    expect(first.pushResult).toMatchObject({ remoteBranch: 'main', forced: false, refs: [{ ref: 'refs/heads/main', ok: true }, { ref: 'refs/tags/v1', ok: true }] });
    const remoteDir = remote.pathOf(`push-${p.slug}`);
    expect((await git(['--git-dir', remoteDir, 'rev-parse', 'main'])).trim()).toBe(first.commitSha);
    expect((await git(['--git-dir', remoteDir, 'rev-parse', 'v1'])).trim()).toBe(first.commitSha);

    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'app.py', content: 'print(2)\n' }] }).expect(200);
    const second = await exported(p.id, { remote: { url, branch: 'main', username: REMOTE_USER, token: REMOTE_TOKEN } });
    expect(second.status).toBe('succeeded');
    expect((await git(['--git-dir', remoteDir, 'rev-list', 'main'])).trim().split('\n')).toEqual([second.commitSha, first.commitSha]);
    await git(['--git-dir', remoteDir, 'fsck', '--strict', '--no-dangling']);
    const dir = await clone(url.replace('http://', `http://${REMOTE_USER}:${REMOTE_TOKEN}@`));
    expect(readCheckout(dir).get('run')?.executable).toBe(true);

    const rows = await t.sql<{ inline_credential: string | null }>(`SELECT inline_credential FROM repository_exports WHERE project_id = $1`, [p.id]);
    expect(rows.map((row) => row.inline_credential)).toEqual([null, null]);
    expect(JSON.stringify(await t.sql(`SELECT * FROM repository_exports`))).not.toContain(REMOTE_TOKEN);
    // Nothing of the push stays in Forgeline's own repository (no remote-tracking refs).
    expect(await git(['--git-dir', gitdirOf(p.id), 'for-each-ref', '--format=%(refname)'])).toBe('refs/heads/main\nrefs/tags/v1\n');
  });

  it('fails a non-fast-forward push with that reason, then overwrites the remote with force', async () => {
    const p = await project([{ path: 'a.txt', content: 'ours\n' }]);
    const url = remote.createRepository(`nff-${p.slug}`);
    const authed = url.replace('http://', `http://${REMOTE_USER}:${REMOTE_TOKEN}@`);
    // Someone else pushed a commit Forgeline never saw.
    const elsewhere = join(work.path, `elsewhere-${p.slug}`);
    await git(['init', '--quiet', '--initial-branch=main', elsewhere]);
    await git(['commit', '--quiet', '--allow-empty', '-m', 'theirs'], { cwd: elsewhere });
    await git(['push', '--quiet', authed, 'main'], { cwd: elsewhere });
    const theirs = (await git(['rev-parse', 'HEAD'], { cwd: elsewhere })).trim();

    const rejected = await exported(p.id, { remote: { url, username: REMOTE_USER, token: REMOTE_TOKEN } });
    expect(rejected.status).toBe('failed');
    expect(rejected.error).toMatch(/not a fast-forward/);
    expect(rejected.error).toMatch(/remote\.force/);
    expect(rejected.commitSha).toMatch(/^[0-9a-f]{40}$/);
    expect((await git(['--git-dir', remote.pathOf(`nff-${p.slug}`), 'rev-parse', 'main'])).trim()).toBe(theirs);

    const forced = await exported(p.id, { remote: { url, force: true, username: REMOTE_USER, token: REMOTE_TOKEN } });
    expect(forced).toMatchObject({ status: 'succeeded', unchanged: true, commitSha: rejected.commitSha, pushResult: { forced: true } });
    expect((await git(['--git-dir', remote.pathOf(`nff-${p.slug}`), 'rev-parse', 'main'])).trim()).toBe(rejected.commitSha);
  });

  it('fails on a wrong token with a clear message that does not contain it', async () => {
    const p = await project([{ path: 'a.txt', content: 'a' }]);
    const url = remote.createRepository(`auth-${p.slug}`);
    const wrong = `wrong-token-${randomBytes(8).toString('hex')}`;
    const failed = await exported(p.id, { remote: { url, username: REMOTE_USER, token: wrong } });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/authentication failed: 127\.0\.0\.1:\d+ refused the credentials/);
    const everything = JSON.stringify(await t.api.get(`/api/exports/${failed.id}`).expect(200).then((r) => r.body)) + JSON.stringify(await t.sql(`SELECT * FROM repository_exports`));
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(Buffer.from(`${REMOTE_USER}:${wrong}`).toString('base64'));
    const none = await exported(p.id, { remote: { url } });
    expect(none.error).toMatch(/authentication required/);
  });

  it('pushes with a stored credential whose token is write-only and encrypted at rest', async () => {
    const created = await t.api.post('/api/git-credentials').send({ name: `remote-${randomBytes(3).toString('hex')}`, username: REMOTE_USER, token: REMOTE_TOKEN, host: new URL(remote.url).host }).expect(201);
    expect(created.body).toMatchObject({ username: REMOTE_USER, tokenSet: true });
    expect(JSON.stringify(created.body)).not.toContain(REMOTE_TOKEN);
    const listed = await t.api.get('/api/git-credentials').expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(REMOTE_TOKEN);
    const stored = await t.sql<{ ciphertext: string }>(`SELECT ciphertext FROM git_credentials WHERE id = $1`, [created.body.id]);
    expect(stored[0].ciphertext).toMatch(/^v1\./);
    expect(stored[0].ciphertext).not.toContain(REMOTE_TOKEN);

    const p = await project([{ path: 'a.txt', content: 'a' }]);
    const url = remote.createRepository(`stored-${p.slug}`);
    const pushed = await exported(p.id, { remote: { url, credentialId: created.body.id } });
    expect(pushed).toMatchObject({ status: 'succeeded' });
    expect((await git(['--git-dir', remote.pathOf(`stored-${p.slug}`), 'rev-parse', 'main'])).trim()).toBe(pushed.commitSha);

    // A credential bound to a host is never sent to another one.
    const elsewhere = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url: `${other.url}/x.git`, credentialId: created.body.id } }).expect(400);
    expect(elsewhere.body.details[0].rule).toBe('credential-host');
    await t.api.post('/api/git-credentials').send({ name: created.body.name, username: 'u', token: 't', host: 'example.com' }).expect(409);
    const unbound = await t.api.post('/api/git-credentials').send({ name: 'no-host', username: 'u', token: 't' }).expect(400);
    expect(new Set(unbound.body.details.map((d: { field: string }) => d.field))).toEqual(new Set(['host']));
    // A credential stored without a host (before hosts were required) is sent to no host at all.
    await t.sql(`UPDATE git_credentials SET host = NULL WHERE id = $1`, [created.body.id]);
    const hostless = await t.api.post(`/api/projects/${p.id}/exports`).send({ remote: { url, credentialId: created.body.id } }).expect(400);
    expect(hostless.body.details[0]).toMatchObject({ field: 'remote.credentialId', rule: 'credential-host' });
    await t.api.delete(`/api/git-credentials/${created.body.id}`).expect(204);
    await t.api.delete(`/api/git-credentials/${created.body.id}`).expect(404);
  });

  it('never follows a redirect that would carry the credentials to another host', async () => {
    const p = await project([{ path: 'a.txt', content: 'a' }]);
    other.createRepository('target');
    const port = new URL(other.url).port;
    const before = other.requests.length;
    const failed = await exported(p.id, { remote: { url: `${remote.url}/redirect/${port}/target.git`, username: REMOTE_USER, token: REMOTE_TOKEN } });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/redirected to another host \(localhost:\d+\); not followed, because the request carries credentials/);
    expect(other.requests.slice(before).filter((r) => r.authorization)).toEqual([]);
    expect(JSON.stringify(other.requests)).not.toContain(Buffer.from(`${REMOTE_USER}:${REMOTE_TOKEN}`).toString('base64'));
  });

  it('says plainly when the host does not resolve or the push times out', async () => {
    const p = await project([{ path: 'a.txt', content: 'a' }]);
    const dns = await exported(p.id, { remote: { url: 'http://no-such-host.invalid/repo.git', username: 'u', token: REMOTE_TOKEN } });
    // NXDOMAIN, or a resolver that cannot answer right now (EAI_AGAIN, retried first): said plainly either way.
    expect(dns).toMatchObject({ status: 'failed', error: expect.stringMatching(/^could not resolve host no-such-host\.invalid( right now)? \(DNS/) });
    const slow = await exported(p.id, { remote: { url: `${remote.url}/hang/repo.git`, username: 'u', token: REMOTE_TOKEN } });
    expect(slow.status).toBe('failed');
    expect(slow.error).toMatch(/timed out after 3000 ms \(GIT_PUSH_TIMEOUT_MS\)/);
    expect(JSON.stringify([dns, slow])).not.toContain(REMOTE_TOKEN);
  });

  it('refuses to write a tree entry Git must not hold, whatever the database says', async () => {
    const p = await project([{ path: 'fine.txt', content: 'fine' }]);
    const first = await exported(p.id);
    for (const path of ['sub/.GIT/config', '.git', 'a/../b']) {
      await t.sql(`INSERT INTO project_files (project_id, path, content, size, sha256, mode) VALUES ($1, $2, 'x', 1, $3, 'regular')`, [p.id, path, 'f'.repeat(64)]);
      const failed = await exported(p.id);
      expect([path, failed.status]).toEqual([path, 'failed']);
      expect(failed.error).toMatch(/path Git must not store/);
      await t.sql(`DELETE FROM project_files WHERE project_id = $1 AND path = $2`, [p.id, path]);
    }
    expect((await git(['--git-dir', gitdirOf(p.id), 'rev-parse', 'main'])).trim()).toBe(first.commitSha);
  });

  it('turns two concurrent requests after one change into one commit and one unchanged, never a lost one', async () => {
    const p = await project([{ path: 'n.txt', content: '0' }]);
    let tip = (await exported(p.id)).commitSha;
    for (let round = 1; round <= 3; round++) {
      await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'n.txt', content: String(round) }] }).expect(200);
      const accepted = await Promise.all([1, 2].map(() => t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202)));
      const [a, b] = await Promise.all(accepted.map((res) => waitFor(res.body.id)));
      const made = [a, b].filter((r) => !r.unchanged);
      const same = [a, b].filter((r) => r.unchanged);
      expect([made.length, same.length]).toEqual([1, 1]);
      expect(made[0]).toMatchObject({ status: 'succeeded', parentSha: tip });
      expect(same[0]).toMatchObject({ status: 'succeeded', commitSha: made[0].commitSha });
      tip = made[0].commitSha;
    }
    expect((await git(['--git-dir', gitdirOf(p.id), 'rev-list', '--count', 'main'])).trim()).toBe('4');
  });

  it('keeps one linear history when exports and changes interleave', async () => {
    const p = await project([{ path: 'n.txt', content: '0' }]);
    await exported(p.id);
    const ids: string[] = [];
    for (let round = 1; round <= 3; round++) {
      await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'n.txt', content: String(round) }] }).expect(200);
      const accepted = await Promise.all([1, 2].map(() => t.api.post(`/api/projects/${p.id}/exports`).send({}).expect(202)));
      ids.push(...accepted.map((res) => res.body.id));
    }
    const results = await Promise.all(ids.map(waitFor));
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
    // Each export commits what it finds, or finds it committed already.
    const made = results.filter((r) => !r.unchanged);
    expect(made.length).toBeGreaterThanOrEqual(1);
    const log = (await git(['--git-dir', gitdirOf(p.id), 'log', '--format=%H %P', 'main'])).trim().split('\n').map((line) => line.split(' '));
    expect(log).toHaveLength(made.length + 1);
    // One line: every commit's parent is the next one down, and every commit made is in it.
    for (let i = 0; i < log.length - 1; i++) expect(log[i][1]).toBe(log[i + 1][0]);
    expect(new Set(made.map((r) => r.commitSha))).toEqual(new Set(log.slice(0, -1).map(([sha]) => sha)));
    expect(new Set(made.map((r) => r.parentSha)).size).toBe(made.length);
    for (const r of results.filter((r) => r.unchanged)) expect(r.commitSha).toBe(r.parentSha);
    expect(await git(['--git-dir', gitdirOf(p.id), 'show', 'main:n.txt'])).toBe('3');
  });

  it('re-enqueues at start-up the work PostgreSQL shows unfinished', async () => {
    const p = await project([{ path: 'late.txt', content: 'late' }]);
    const [row] = await t.sql<{ id: string }>(
      `INSERT INTO repository_exports (workspace_id, project_id, status, branch, message, author_name, author_email)
       SELECT workspace_id, id, 'running', 'main', 'left running by a crash', 'A', 'a@example.com' FROM generated_projects WHERE id = $1 RETURNING id`,
      [p.id],
    );
    const { JobQueue } = await import('../../src/queue/job-queue.js');
    await t.app.get(JobQueue).sweep();
    const done = await waitFor(row.id);
    expect(done).toMatchObject({ status: 'succeeded', unchanged: false, fileCount: 1 });
  });

  it('keeps the commit an interrupted export made, even when another export has committed on top meanwhile', async () => {
    const p = await project([{ path: 'v.txt', content: 'one' }]);
    const first = await exported(p.id);
    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'v.txt', content: 'two' }] }).expect(200);
    const second = await exported(p.id);
    // Left running after its commit was recorded (a crash before its push, say).
    const [row] = await t.sql<{ id: string }>(
      `INSERT INTO repository_exports (workspace_id, project_id, status, branch, message, author_name, author_email, commit_sha, unchanged, file_count)
       SELECT workspace_id, id, 'running', 'main', 'interrupted', 'A', 'a@example.com', $2, false, 1 FROM generated_projects WHERE id = $1 RETURNING id`,
      [p.id, first.commitSha],
    );
    const { JobQueue } = await import('../../src/queue/job-queue.js');
    await t.app.get(JobQueue).sweep();
    expect(await waitFor(row.id)).toMatchObject({ status: 'succeeded', commitSha: first.commitSha, unchanged: false });
    expect((await git(['--git-dir', gitdirOf(p.id), 'rev-list', 'main'])).trim().split('\n')).toEqual([second.commitSha, first.commitSha]);
  });

  it('pushes the commit an interrupted export made when it is retried, not what the branch points at since', async () => {
    const p = await project([{ path: 'v.txt', content: 'one' }]);
    const first = await exported(p.id);
    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'v.txt', content: 'two' }] }).expect(200);
    const second = await exported(p.id);
    const url = other.createRepository(`retry-${p.slug}`);
    // Left running after its commit was recorded and before its push (a crash, a failed push).
    const [row] = await t.sql<{ id: string }>(
      `INSERT INTO repository_exports (workspace_id, project_id, status, branch, message, author_name, author_email, commit_sha, unchanged, file_count, remote_url, remote_branch)
       SELECT workspace_id, id, 'running', 'main', 'interrupted', 'A', 'a@example.com', $2, false, 1, $3, 'main' FROM generated_projects WHERE id = $1 RETURNING id`,
      [p.id, first.commitSha, url],
    );
    const { JobQueue } = await import('../../src/queue/job-queue.js');
    await t.app.get(JobQueue).sweep();
    expect(await waitFor(row.id)).toMatchObject({ status: 'succeeded', commitSha: first.commitSha });
    expect((await git(['--git-dir', other.pathOf(`retry-${p.slug}`), 'rev-parse', 'main'])).trim()).toBe(first.commitSha);
    expect((await git(['--git-dir', gitdirOf(p.id), 'rev-parse', 'main'])).trim()).toBe(second.commitSha);
  });

  it('removes a deleted project\'s repository with it', async () => {
    const p = await project([{ path: 'gone.txt', content: 'soon gone' }]);
    await exported(p.id);
    expect(existsSync(gitdirOf(p.id))).toBe(true);
    await t.api.delete(`/api/projects/${p.id}`).expect(204);
    expect(existsSync(gitdirOf(p.id))).toBe(false);
  });

  it('refuses a branch or tag that would be a file where another is a folder, or the reverse', async () => {
    const p = await project([{ path: 'a.txt', content: 'a' }]);
    expect(await exported(p.id, { branch: 'release' })).toMatchObject({ status: 'succeeded' });
    const below = await exported(p.id, { branch: 'release/v2' });
    expect(below).toMatchObject({ status: 'failed', error: '"release/v2" cannot be created next to the existing "release": Git cannot hold a branch or tag and a folder of that name at once' });
    expect(await exported(p.id, { branch: 'topic/one' })).toMatchObject({ status: 'succeeded' });
    expect(await exported(p.id, { branch: 'topic' })).toMatchObject({ status: 'failed', error: expect.stringMatching(/"topic" cannot be created next to the existing "topic\/one"/) });
    expect(await exported(p.id, { tag: 'v1/rc' })).toMatchObject({ status: 'succeeded' });
    expect(await exported(p.id, { tag: 'v1' })).toMatchObject({ status: 'failed', error: expect.stringMatching(/"v1" cannot be created next to the existing "v1\/rc"/) });
    await git(['--git-dir', gitdirOf(p.id), 'fsck', '--strict', '--no-dangling']);
  });

  it('ends an export as failed when its last attempt cannot even take the project\'s lock', async () => {
    const p = await project([{ path: 'a.txt', content: 'a' }]);
    const holder = new pg.Client({ connectionString: t.databaseUrl });
    await holder.connect();
    const timeout = t.config.EXPORT_LOCK_TIMEOUT_MS;
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [`forgeline:export:${p.id}`]);
      t.config.EXPORT_LOCK_TIMEOUT_MS = 100;
      const blocked = await exported(p.id);
      // Not queued again and again by the recovery sweep: failed, saying why.
      expect(blocked).toMatchObject({ status: 'failed', error: expect.stringMatching(/EXPORT_LOCK_TIMEOUT_MS=100/) });
      expect((await t.app.get((await import('../../src/exporter/exports.service.js')).ExportsService).unfinished()).map((job) => job.data.exportId)).not.toContain(blocked.id);
    } finally {
      t.config.EXPORT_LOCK_TIMEOUT_MS = timeout;
      await holder.end();
    }
  });

  it('fails on a damaged branch ref instead of starting the branch over', async () => {
    const p = await project([{ path: 'a.txt', content: 'a' }]);
    await exported(p.id);
    writeFileSync(join(gitdirOf(p.id), 'refs', 'heads', 'main'), 'not a commit id\n');
    await t.api.put(`/api/projects/${p.id}/files`).send({ files: [{ path: 'a.txt', content: 'b' }] }).expect(200);
    const damaged = await exported(p.id);
    expect(damaged).toMatchObject({ status: 'failed', error: expect.stringMatching(/refs\/heads\/main is damaged/) });
    expect(readFileSync(join(gitdirOf(p.id), 'refs', 'heads', 'main'), 'utf8')).toBe('not a commit id\n');
  });

  describe('the /git/ endpoint', () => {
    it('clones with the stock git client over the smart protocol and, for old clients, the dumb one', async () => {
      const p = await project([{ path: 'a/b.txt', content: 'smart or dumb\n' }, { path: 'x', content: 'y', executable: true }]);
      await exported(p.id);
      const before = t.url;
      const smart = await clone(cloneUrl(p.slug));
      expect(readCheckout(smart).get('a/b.txt')?.content.toString()).toBe('smart or dumb\n');
      const dumb = await clone(cloneUrl(p.slug), { GIT_SMART_HTTP: '0' });
      expect(readCheckout(dumb).get('x')).toEqual({ content: Buffer.from('y'), executable: true });
      await git(['fsck', '--strict', '--no-dangling'], { cwd: dumb });
      expect(t.url).toBe(before);
    });

    it('clones with isomorphic-git too (it takes only a 200 from upload-pack)', async () => {
      const p = await project([{ path: 'iso.txt', content: 'isomorphic\n' }]);
      await exported(p.id);
      const { default: isogit } = await import('isomorphic-git');
      const { default: http } = await import('isomorphic-git/http/node');
      const fs = await import('node:fs');
      const dir = join(work.path, `iso-${p.slug}`);
      await isogit.clone({ fs, http, dir, url: `${t.url}/git/${p.slug}.git`, onAuth: () => ({ username: 'forgeline', password: t.adminToken }) });
      expect(fs.readFileSync(join(dir, 'iso.txt'), 'utf8')).toBe('isomorphic\n');
    });

    it('needs an API key (401 with WWW-Authenticate: Basic), finds only the key\'s workspace, and accepts a read key', async () => {
      const p = await project([{ path: 'a.txt', content: 'a' }]);
      await exported(p.id);
      const { default: request } = await import('supertest');
      const anonymous = await request(t.url).get(`/git/${p.slug}.git/info/refs?service=git-upload-pack`).expect(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm=/);
      const wrong = await gitFails(['ls-remote', cloneUrl(p.slug, 'fl_not-a-real-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')]);
      expect(wrong.stderr).toMatch(/Authentication failed|401/);
      const read = await t.api.post('/api/api-keys').send({ name: 'reader', scopes: ['read'] }).expect(201);
      expect(await git(['ls-remote', cloneUrl(p.slug, read.body.token)])).toMatch(/refs\/heads\/main/);
      const tenant = await t.api.post('/api/workspaces').send({ name: `Other ${randomBytes(3).toString('hex')}` }).expect(201);
      await request(t.url).get(`/git/${p.slug}.git/info/refs?service=git-upload-pack`).auth('x', tenant.body.apiKey.token).expect(404);
      const never = await project([]);
      const missing = await request(t.url).get(`/git/${never.slug}.git/info/refs?service=git-upload-pack`).auth('x', t.adminToken).expect(404);
      expect(missing.body.code).toBe('REPOSITORY_NOT_FOUND');
    });

    it('is read-only: pushes are refused', async () => {
      const p = await project([{ path: 'a.txt', content: 'a' }]);
      await exported(p.id);
      const dir = await clone(cloneUrl(p.slug));
      await git(['commit', '--quiet', '--allow-empty', '-m', 'sneaky'], { cwd: dir });
      const refused = await gitFails(['push', 'origin', 'main'], { cwd: dir });
      expect(refused.code).not.toBe(0);
      expect((await git(['--git-dir', gitdirOf(p.id), 'log', '--format=%s', 'main'])).trim()).not.toContain('sneaky');
    });
  });
});

describe('exporter: outbound rules with the production defaults', () => {
  let t: TestApp;
  let remote: GitHttpServer;
  const repos = scratch('repos-strict');

  beforeAll(async () => {
    remote = await startGitHttpServer();
    // GIT_ALLOW_HTTP lets the loopback test server be named at all; OUTBOUND_ALLOW_PRIVATE stays off.
    t = await startTestApp({ REPOS_DIR: repos.path, GIT_ALLOW_HTTP: 'true', JOB_ATTEMPTS: '1' });
  });

  afterAll(async () => {
    await t?.close();
    await remote?.close();
    repos.cleanup();
  });

  it('refuses to push to a loopback or private address, after DNS resolution too', async () => {
    const project = await t.api.post('/api/projects').send({ name: 'Strict' }).expect(201);
    await t.api.put(`/api/projects/${project.body.id}/files`).send({ files: [{ path: 'a.txt', content: 'a' }] }).expect(200);
    const url = remote.createRepository('strict');
    for (const target of [url, url.replace('127.0.0.1', 'localhost')]) {
      const accepted = await t.api.post(`/api/projects/${project.body.id}/exports`).send({ remote: { url: target } }).expect(202);
      let body;
      for (let i = 0; i < 400; i++) {
        body = (await t.api.get(`/api/exports/${accepted.body.id}`).expect(200)).body;
        if (body.status === 'failed' || body.status === 'succeeded') break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(body).toMatchObject({ status: 'failed', error: expect.stringMatching(/^push refused: (127\.0\.0\.1|localhost):\d+ resolves to a loopback, private or link-local address/) });
    }
    expect(remote.requests).toEqual([]);
  });

  it('refuses plain http:// remotes unless GIT_ALLOW_HTTP', async () => {
    const strict = await startTestApp({ REPOS_DIR: repos.path });
    try {
      const project = await strict.api.post('/api/projects').send({ name: 'No http' }).expect(201);
      const res = await strict.api.post(`/api/projects/${project.body.id}/exports`).send({ remote: { url: 'http://example.com/repo.git' } }).expect(400);
      expect(res.body.details[0]).toMatchObject({ field: 'remote.url', rule: 'http-not-allowed' });
    } finally {
      await strict.close();
    }
  });
});
