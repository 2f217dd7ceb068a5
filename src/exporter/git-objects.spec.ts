import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { checkTreeEntryName, EMPTY_TREE_OID, encodeCommitBody, encodeObject, encodeTreeBody, hashObject, readTrailer, sortTreeEntries, withTrailers } from './git-objects.js';

const env = { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const gitHash = (type: string, body: Buffer) => execFileSync('git', ['hash-object', '-t', type, '--stdin', '--literally'], { input: body, env }).toString().trim();

describe('git object encodings', () => {
  it('hashes blobs exactly as git hash-object does, binary included', () => {
    for (const body of [Buffer.alloc(0), Buffer.from('hello\n'), Buffer.from([0, 1, 2, 255, 254, 0, 10])]) {
      expect(hashObject('blob', body)).toBe(gitHash('blob', body));
      const { oid, deflated } = encodeObject('blob', body);
      expect(oid).toBe(hashObject('blob', body));
      expect(inflateSync(deflated).equals(Buffer.concat([Buffer.from(`blob ${body.length}\0`), body]))).toBe(true);
    }
  });

  it('writes the empty tree git knows', () => {
    expect(encodeObject('tree', encodeTreeBody([])).oid).toBe(EMPTY_TREE_OID);
  });

  it('orders tree entries as git does: a folder sorts as if its name ended with "/"', () => {
    const blob = hashObject('blob', Buffer.from('x'));
    const entries = [
      { name: 'a.b', mode: '100644' as const, oid: blob },
      { name: 'a', mode: '40000' as const, oid: EMPTY_TREE_OID },
      { name: 'a-b', mode: '100755' as const, oid: blob },
      { name: 'a0', mode: '100644' as const, oid: blob },
      { name: 'Z', mode: '100644' as const, oid: blob },
      { name: 'é', mode: '100644' as const, oid: blob },
    ];
    expect(sortTreeEntries(entries).map((e) => e.name)).toEqual(['Z', 'a-b', 'a.b', 'a', 'a0', 'é']);
    // git mktree sorts its input itself; the same bytes give the same id.
    const mktree = entries.map((e) => `${e.mode === '40000' ? '040000 tree' : `${e.mode} blob`} ${e.oid}\t${e.name}`).join('\n') + '\n';
    const repo = mkdtempSync(join(tmpdir(), 'fl-mktree-'));
    try {
      execFileSync('git', ['init', '--quiet', '--bare', repo], { env });
      const gitTree = execFileSync('git', ['mktree', '--missing'], { input: mktree, env: { ...env, GIT_DIR: repo } }).toString().trim();
      expect(encodeObject('tree', encodeTreeBody(entries)).oid).toBe(gitTree);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('encodes a commit git reads back, with trailers as its last paragraph', () => {
    const message = withTrailers('Subject\n\nBody.\n\n\n', [['Forgeline-Project', 'p1'], ['Forgeline-Export', 'e1']]);
    expect(message).toBe('Subject\n\nBody.\n\nForgeline-Project: p1\nForgeline-Export: e1\n');
    expect(readTrailer(message, 'Forgeline-Export')).toBe('e1');
    const body = encodeCommitBody({
      tree: EMPTY_TREE_OID,
      parents: [],
      author: { name: 'Ada', email: 'ada@example.com', timestamp: 1_700_000_000 },
      committer: { name: 'Forgeline', email: 'f@localhost', timestamp: 1_700_000_001 },
      message,
    });
    expect(body.toString()).toBe(`tree ${EMPTY_TREE_OID}\nauthor Ada <ada@example.com> 1700000000 +0000\ncommitter Forgeline <f@localhost> 1700000001 +0000\n\n${message}`);
    expect(hashObject('commit', body)).toBe(gitHash('commit', body));
  });

  it.each([
    ['', 'empty'],
    ['.', 'dot'],
    ['..', 'dot-dot'],
    ['.git', 'git-dir'],
    ['.GIT', 'git-dir'],
    ['.Git.', 'git-dir'],
    ['.git ', 'git-dir'],
    ['git~1', 'git-dir'],
    ['.g\u200cit', 'git-dir'],
    ['.git::$INDEX_ALLOCATION', 'git-dir'],
    ['.git . :x', 'git-dir'],
    ['a/b', 'slash'],
    ['a\0b', 'nul'],
  ])('refuses the tree entry name %j (%s)', (name, rule) => {
    expect(checkTreeEntryName(name)).toBe(rule);
  });

  it.each(['.gitignore', '.github', 'git', 'a.git', '...', '.git-hooks'])('accepts the tree entry name %j', (name) => {
    expect(checkTreeEntryName(name)).toBeNull();
  });
});
