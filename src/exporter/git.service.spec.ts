import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/app-config.js';
import { EMPTY_TREE_OID, encodeCommitBody, encodeObject, encodeTreeBody } from './git-objects.js';
import { GitService, RefConflictError, RefLockedError } from './git.service.js';
import { OutboundHttp } from './outbound-http.js';

const env = { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const git = (gitdir: string, ...args: string[]) => execFileSync('git', [`--git-dir=${gitdir}`, ...args], { env }).toString().trim();

describe('GitService: repositories, objects and compare-and-swap refs', () => {
  const root = mkdtempSync(join(tmpdir(), 'fl-git-service-'));
  const config = loadConfig({ REPOS_DIR: root }, '');
  const outbound = new OutboundHttp(config);
  const service = new GitService(config, outbound);
  afterAll(() => {
    outbound.onApplicationShutdown();
    rmSync(root, { recursive: true, force: true });
  });

  function commit(tree: string, parents: string[], message: string) {
    const who = { name: 'T', email: 't@example.com', timestamp: 1_700_000_000 };
    return encodeObject('commit', encodeCommitBody({ tree, parents, author: who, committer: who, message }));
  }

  it('creates a bare repository git accepts, once, even when asked twice at the same time', async () => {
    const id = randomUUID();
    const [a, b] = await Promise.all([service.open(id), service.open(id)]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(git(a.gitdir, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(service.exists(id)).toBe(true);
    expect(() => service.pathOf('../../etc')).toThrow(/not a project id/);
  });

  it('writes loose objects git can read, and skips those it has', async () => {
    const { gitdir } = await service.open(randomUUID());
    const blob = encodeObject('blob', Buffer.from('hello\n'));
    const tree = encodeObject('tree', encodeTreeBody([{ name: 'hello.txt', mode: '100644', oid: blob.oid }]));
    expect(await service.writeObjects(gitdir, [blob, tree, blob])).toBe(3);
    expect(git(gitdir, 'cat-file', '-p', blob.oid)).toBe('hello');
    expect(git(gitdir, 'ls-tree', tree.oid)).toBe(`100644 blob ${blob.oid}\thello.txt`);
  });

  it('moves a ref only from the expected value, and lets exactly one of many racing writers win', async () => {
    const { gitdir } = await service.open(randomUUID());
    await service.writeObjects(gitdir, [encodeObject('tree', encodeTreeBody([]))]);
    const first = commit(EMPTY_TREE_OID, [], 'first');
    await service.writeObjects(gitdir, [first]);
    await service.updateRef(gitdir, 'refs/heads/main', null, first.oid);
    await expect(service.updateRef(gitdir, 'refs/heads/main', null, first.oid)).rejects.toBeInstanceOf(RefConflictError);

    const racers = Array.from({ length: 8 }, (_, i) => commit(EMPTY_TREE_OID, [first.oid], `racer ${i}`));
    await service.writeObjects(gitdir, racers);
    const results = await Promise.allSettled(racers.map((racer) => service.updateRef(gitdir, 'refs/heads/main', first.oid, racer.oid)));
    const won = results.filter((result) => result.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const tip = await service.readRef(gitdir, 'refs/heads/main');
    expect(racers.map((racer) => racer.oid)).toContain(tip);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(RefConflictError);
    }
    git(gitdir, 'fsck', '--strict');
  });

  it('removes a ref lock left by a writer that died, and waits out a live one', async () => {
    const { gitdir } = await service.open(randomUUID());
    const first = commit(EMPTY_TREE_OID, [], 'first');
    await service.writeObjects(gitdir, [encodeObject('tree', encodeTreeBody([])), first]);
    const lock = join(gitdir, 'refs', 'heads', 'main.lock');
    mkdirSync(join(gitdir, 'refs', 'heads'), { recursive: true });
    writeFileSync(lock, '');
    await expect(service.updateRef(gitdir, 'refs/heads/main', null, first.oid)).rejects.toBeInstanceOf(RefLockedError);
    expect(git(gitdir, 'for-each-ref')).toBe('');
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    await service.updateRef(gitdir, 'refs/heads/main', null, first.oid);
    expect(git(gitdir, 'rev-parse', 'main')).toBe(first.oid);
    expect(existsSync(lock)).toBe(false);
  });

  it('reads refs that git packed, and updates them', async () => {
    const { gitdir } = await service.open(randomUUID());
    const first = commit(EMPTY_TREE_OID, [], 'first');
    const second = commit(EMPTY_TREE_OID, [first.oid], 'second');
    await service.writeObjects(gitdir, [encodeObject('tree', encodeTreeBody([])), first, second]);
    await service.updateRef(gitdir, 'refs/heads/main', null, first.oid);
    git(gitdir, 'pack-refs', '--all');
    expect(await service.readRef(gitdir, 'refs/heads/main')).toBe(first.oid);
    await service.updateRef(gitdir, 'refs/heads/main', first.oid, second.oid);
    expect(git(gitdir, 'rev-parse', 'main')).toBe(second.oid);
    const log = await service.log(gitdir, 'main', 10, 0);
    expect(log.total).toBe(2);
    expect(log.items.map((entry) => [entry.sha, entry.message, entry.changedPaths])).toEqual([[second.oid, 'second', 0], [first.oid, 'first', 0]]);
  });
});
