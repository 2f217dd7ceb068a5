import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '../common/domain-error.js';
import { WorkspaceStorage } from './workspace.storage.js';

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
    expect(scan.entries.get('a-fifo')).toBe('other');
    expect([...scan.stats.keys()].sort()).toEqual([...names].sort());
    for (const name of names) {
      const stats = lstatSync(join(workspace.dir, name));
      expect(scan.stats.get(name)).toEqual({ size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, executable: name.endsWith('7.txt') });
    }
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

  it('reports filesystem errors with the project path only', () => {
    writeFileSync(join(scratch, 'not-a-folder'), '');
    const broken = new WorkspaceStorage(join(scratch, 'not-a-folder', 'workspaces'));
    const error = refusal(() => broken.open(PROJECT));
    expect(error.code).toBe('WORKSPACE_IO_FAILED');
    expect(error.message).not.toContain(scratch);
  });
});
