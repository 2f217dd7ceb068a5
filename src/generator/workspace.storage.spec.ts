import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '../common/domain-error.js';
import { statAt, WorkspaceStorage } from './workspace.storage.js';

const PROJECT = '7d9c1c1e-0000-4000-8000-000000000001';

function refusal(run: () => unknown): DomainError {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('was not refused');
}

async function refusalOf(run: () => Promise<unknown>): Promise<DomainError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('was not refused');
}

describe('workspace storage', () => {
  let scratch: string;
  let outside: string;
  let storage: WorkspaceStorage;

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'fl-storage-'));
    outside = mkdtempSync(join(tmpdir(), 'fl-storage-outside-'));
    storage = new WorkspaceStorage(join(scratch, 'workspaces'));
  });

  afterEach(async () => {
    await storage.onModuleDestroy();
    rmSync(scratch, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('writes files atomically with exact modes, even under a narrow umask, and leaves no temporary file', () => {
    const workspace = storage.open(PROJECT);
    const previous = process.umask(0o077);
    try {
      workspace.writeFile('run.sh', Buffer.from('#!/bin/sh\n'), true);
      workspace.writeFile('notes.txt', Buffer.from('v1'), false);
      const stat = workspace.writeFile('notes.txt', Buffer.from('v2!'), false);
      expect(stat).toMatchObject({ size: 3, executable: false });
    } finally {
      process.umask(previous);
    }
    expect(statSync(join(workspace.dir, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(workspace.dir, 'notes.txt')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(workspace.dir, 'notes.txt'), 'utf8')).toBe('v2!');
    expect(readdirSync(workspace.dir).sort()).toEqual(['notes.txt', 'run.sh']);
  });

  describe('replacing files on the writer thread', () => {
    const versions = (count: number, text: string) =>
      Array.from({ length: count }, (_, i) => ({ path: `src/f${i}.txt`, content: Buffer.from(`${text} ${i}`), executable: i === 0 }));

    async function writeAll(files: ReturnType<typeof versions>, replacing: ReadonlySet<string> = new Set()) {
      const workspace = storage.open(PROJECT);
      const stats: number[] = [];
      await workspace.writeFiles(files, (index, stat) => stats.push(stat.size), replacing);
      return stats;
    }

    it('swaps each file atomically (an open reader keeps the old bytes) and leaves no old version behind', async () => {
      mkdirSync(join(scratch, 'workspaces', PROJECT, 'src'), { recursive: true });
      await writeAll(versions(20, 'old'));
      const reader = openSync(join(scratch, 'workspaces', PROJECT, 'src/f3.txt'), 'r');
      try {
        const next = versions(20, 'new!');
        expect(await writeAll(next, new Set(next.map((file) => file.path)))).toEqual(next.map((file) => file.content.length));
        const old = Buffer.alloc(16);
        expect(old.toString('utf8', 0, readSync(reader, old, 0, 16, 0))).toBe('old 3');
      } finally {
        closeSync(reader);
      }
      for (const [i, name] of ['f0.txt', 'f7.txt'].entries()) {
        expect(readFileSync(join(scratch, 'workspaces', PROJECT, 'src', name), 'utf8')).toBe(`new! ${i * 7}`);
      }
      expect(statSync(join(scratch, 'workspaces', PROJECT, 'src/f0.txt')).mode & 0o777).toBe(0o755);
      await storage.trashEmptied();
      expect(readdirSync(join(scratch, 'workspaces')).filter((name) => name !== '.trash')).toEqual([PROJECT]);
      expect(readdirSync(join(scratch, 'workspaces', '.trash'))).toEqual([]);
      expect(readdirSync(join(scratch, 'workspaces', PROJECT, 'src')).sort()).toEqual(versions(20, '').map((file) => file.path.slice(4)).sort());
    });

    it('never puts old versions through a trash folder that is a symlink', async () => {
      mkdirSync(join(scratch, 'workspaces', PROJECT, 'src'), { recursive: true });
      symlinkSync(outside, join(scratch, 'workspaces', '.trash'));
      await writeAll(versions(3, 'old'));
      const next = versions(3, 'new');
      await writeAll(next, new Set(next.map((file) => file.path)));
      await storage.trashEmptied();
      expect(readFileSync(join(scratch, 'workspaces', PROJECT, 'src/f2.txt'), 'utf8')).toBe('new 2');
      expect(readdirSync(outside)).toEqual([]);
    });
  });

  it('builds new folders under a temporary name and shows them only when complete', () => {
    const workspace = storage.open(PROJECT);
    workspace.stageDirs(['src', 'src/lib', 'docs']);
    workspace.writeFile('src/lib/a.ts', Buffer.from('a'), false);
    workspace.writeFile('docs/b.md', Buffer.from('b'), false);
    expect(existsSync(join(workspace.dir, 'src'))).toBe(false);
    expect(readdirSync(workspace.dir).every((name) => name.startsWith('.fl-tmp-'))).toBe(true);
    workspace.publishStaged();
    expect(readdirSync(workspace.dir).sort()).toEqual(['docs', 'src']);
    expect(readFileSync(join(workspace.dir, 'src/lib/a.ts'), 'utf8')).toBe('a');
  });

  it('scans folders, files and other entries, with the lstat of every file', async () => {
    const workspace = storage.open(PROJECT);
    const names = Array.from({ length: 31 }, (_, i) => `src/m${i % 3}/f${i}.txt`);
    for (const folder of ['src/m0', 'src/m1', 'src/m2']) mkdirSync(join(workspace.dir, folder), { recursive: true });
    for (const name of names) workspace.writeFile(name, Buffer.from(name), name.endsWith('7.txt'));
    execFileSync('mkfifo', [join(workspace.dir, 'a-fifo')]);
    const scan = await workspace.scan();
    expect([...scan.dirs].sort()).toEqual(['src', 'src/m0', 'src/m1', 'src/m2']);
    expect(scan.others).toEqual(['a-fifo']);
    expect([...scan.files].sort()).toEqual([...names].sort());
    scan.files.forEach((name, index) => {
      const stats = lstatSync(join(workspace.dir, name));
      expect(statAt(scan.stats, index)).toEqual({ size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, executable: name.endsWith('7.txt') });
    });
  });

  it('finds every entry of a tree wide and deep enough to be walked by both threads', async () => {
    const workspace = storage.open(PROJECT);
    const names = [
      ...Array.from({ length: 600 }, (_, i) => `top-${i}.txt`),
      ...Array.from({ length: 1200 }, (_, i) => `src/m${i % 40}/f${i}.txt`),
      ...Array.from({ length: 50 }, (_, i) => `src/m7/deep/er/g${i}.txt`),
    ];
    for (const name of names) {
      mkdirSync(join(workspace.dir, name, '..'), { recursive: true });
      workspace.writeFile(name, Buffer.from(name), name.endsWith('3.txt'));
    }
    execFileSync('mkfifo', [join(workspace.dir, 'src/m12/a-fifo')]);
    const scan = await workspace.scan();
    expect([...scan.files].sort()).toEqual([...names].sort());
    expect(scan.others).toEqual(['src/m12/a-fifo']);
    expect([...scan.dirs].sort()).toEqual(['src', ...Array.from({ length: 40 }, (_, i) => `src/m${i}`), 'src/m7/deep', 'src/m7/deep/er'].sort());
    scan.files.forEach((name, index) => {
      const stats = lstatSync(join(workspace.dir, name));
      expect([name, statAt(scan.stats, index)]).toEqual([name, { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, executable: name.endsWith('3.txt') }]);
    });
    symlinkSync(outside, join(workspace.dir, 'src/m7/deep/er/link'));
    symlinkSync('/etc/passwd', join(workspace.dir, 'src/m31/passwd'));
    const error = await refusalOf(() => workspace.scan());
    expect(error.code).toBe('WORKSPACE_UNSAFE');
    expect(error.details?.map((d) => d.path)).toEqual(['src/m31/passwd', 'src/m7/deep/er/link']);
  });

  it('refuses a workspace holding symlinks, naming each, without touching their targets', async () => {
    const workspace = storage.open(PROJECT);
    symlinkSync(outside, join(workspace.dir, 'linked-dir'));
    symlinkSync('/etc/passwd', join(workspace.dir, 'linked-file'));
    const error = await refusalOf(() => workspace.scan());
    expect(error.code).toBe('WORKSPACE_UNSAFE');
    expect(error.details?.map((d) => d.path)).toEqual(['linked-dir', 'linked-file']);
  });

  it('refuses to write through a folder swapped for a symlink after the scan', async () => {
    const workspace = storage.open(PROJECT);
    mkdirSync(join(workspace.dir, 'src'));
    await workspace.scan();
    rmSync(join(workspace.dir, 'src'), { recursive: true });
    symlinkSync(outside, join(workspace.dir, 'src'));
    const error = refusal(() => workspace.writeFile('src/evil.ts', Buffer.from('x'), false));
    expect(error.code).toBe('WORKSPACE_UNSAFE');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses a project folder that is a symlink; clean removes the link, not its target', () => {
    writeFileSync(join(outside, 'keep'), 'x');
    mkdirSync(join(scratch, 'workspaces'), { recursive: true });
    symlinkSync(outside, join(scratch, 'workspaces', PROJECT));
    expect(refusal(() => storage.open(PROJECT)).code).toBe('WORKSPACE_UNSAFE');
    const workspace = storage.open(PROJECT, { clean: true });
    expect(lstatSync(workspace.dir).isDirectory()).toBe(true);
    expect(readdirSync(outside)).toEqual(['keep']);
  });

  it('keeps a manifest outside the project folder and ignores a damaged one', () => {
    const workspace = storage.open(PROJECT);
    const stat = workspace.writeFile('a.txt', Buffer.from('a'), false);
    workspace.writeManifest(new Map([['a.txt', { ...stat, sha256: 'f'.repeat(64) }]]));
    expect(readdirSync(workspace.dir)).toEqual(['a.txt']);
    expect(storage.open(PROJECT).readManifest().get('a.txt')).toEqual({ ...stat, sha256: 'f'.repeat(64) });
    writeFileSync(join(scratch, 'workspaces', '.manifests', `${PROJECT}.json`), '{"version":1,"files":');
    expect(storage.open(PROJECT).readManifest().size).toBe(0);
  });

  describe('manifest journal', () => {
    const manifestFile = () => join(scratch, 'workspaces', '.manifests', `${PROJECT}.json`);
    const journalFile = () => join(scratch, 'workspaces', '.manifests', `${PROJECT}.journal`);
    const entry = (n: number, sha = 'a') => ({ size: n, mtimeMs: 1_700_000_000_000 + n, ino: 1000 + n, executable: n % 2 === 1, sha256: sha.repeat(64) });
    const initial = () => new Map(Array.from({ length: 20 }, (_, n) => [`f${n}.txt`, entry(n)]));
    /** What another process (no cache) reads. */
    const reread = () => new WorkspaceStorage(join(scratch, 'workspaces')).open(PROJECT).readManifest();

    it('appends only what changed, and another process reads snapshot and journal together', () => {
      const workspace = storage.open(PROJECT);
      const first = initial();
      workspace.writeManifest(first);
      const snapshot = readFileSync(manifestFile());
      const next = new Map(workspace.readManifest());
      next.set('f3.txt', entry(3, 'b'));
      next.set('new.txt', entry(99));
      next.delete('f7.txt');
      workspace.writeManifest(next);
      expect(readFileSync(manifestFile()).equals(snapshot)).toBe(true);
      expect(readFileSync(journalFile(), 'utf8').trim().split('\n')).toHaveLength(4);
      expect(reread()).toEqual(next);
    });

    it('appends the entries it is told changed, set or removed, and the result reads back whole', () => {
      const workspace = storage.open(PROJECT);
      workspace.writeManifest(initial());
      const next = new Map(workspace.readManifest());
      next.set('f3.txt', entry(3, 'b'));
      next.set('new.txt', entry(99));
      next.delete('f7.txt');
      workspace.writeManifest(next, ['f3.txt', 'new.txt', 'f7.txt', 'never-there.txt']);
      expect(readFileSync(journalFile(), 'utf8').trim().split('\n').slice(1).map((line) => JSON.parse(line)[0]).sort()).toEqual(['f3.txt', 'f7.txt', 'new.txt']);
      expect(reread()).toEqual(next);
    });

    it('ignores a torn last record and a journal of another snapshot', () => {
      const workspace = storage.open(PROJECT);
      workspace.writeManifest(initial());
      const next = new Map(workspace.readManifest());
      next.set('f1.txt', entry(1, 'c'));
      next.set('f2.txt', entry(2, 'c'));
      workspace.writeManifest(next);
      const journal = readFileSync(journalFile(), 'utf8');
      writeFileSync(journalFile(), journal.slice(0, -5));
      const torn = reread();
      expect([torn.get('f1.txt')?.sha256[0], torn.get('f2.txt')?.sha256[0]]).toEqual(['c', 'a']);

      // A new snapshot under a new token; the old journal put back beside it is not applied.
      new WorkspaceStorage(join(scratch, 'workspaces')).open(PROJECT).writeManifest(initial());
      expect(existsSync(journalFile())).toBe(false);
      writeFileSync(journalFile(), journal);
      expect(reread()).toEqual(initial());
    });

    it('folds a long journal into a new snapshot', () => {
      const workspace = storage.open(PROJECT);
      let current = initial();
      workspace.writeManifest(current);
      const snapshot = readFileSync(manifestFile());
      for (let round = 0; round < 30; round++) {
        current = new Map(current);
        for (let n = 0; n < 20; n++) current.set(`f${n}.txt`, entry(n, round % 2 ? 'd' : 'e'));
        workspace.writeManifest(current);
      }
      expect(readFileSync(manifestFile()).equals(snapshot)).toBe(false);
      expect(reread()).toEqual(current);
    });
  });

  it('reports filesystem errors with the project path only', () => {
    writeFileSync(join(scratch, 'not-a-folder'), '');
    const broken = new WorkspaceStorage(join(scratch, 'not-a-folder', 'workspaces'));
    const error = refusal(() => broken.open(PROJECT));
    expect(error.code).toBe('WORKSPACE_IO_FAILED');
    expect(error.message).not.toContain(scratch);
  });
});
