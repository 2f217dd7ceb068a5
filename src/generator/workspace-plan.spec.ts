import { DesiredFile, planWorkspace } from './workspace-plan.js';

const file = (path: string): DesiredFile => ({ path, sha256: 'x'.repeat(64), size: 1, executable: false });

describe('workspace plan', () => {
  it('writes everything into an empty folder, parents first', () => {
    const plan = planWorkspace([file('a/b/c.txt'), file('a/d.txt'), file('e.txt')], { entries: new Map(), dirs: new Set() });
    expect(plan.createDirs).toEqual(['a', 'a/b']);
    expect(plan.missing.map((f) => f.path)).toEqual(['a/b/c.txt', 'a/d.txt', 'e.txt']);
    expect(plan).toMatchObject({ deleteEntries: [], deleteDirs: [], present: [] });
  });

  it('deletes files the project no longer has and folders left without project files, deepest first', () => {
    const plan = planWorkspace([file('keep/k.txt')], {
      entries: new Map([['keep/k.txt', 'file'], ['old/x/y.txt', 'file'], ['old/z.txt', 'file'], ['keep/.fl-tmp-1', 'file']]),
      dirs: new Set(['keep', 'old', 'old/x']),
    });
    expect(plan.deleteEntries).toEqual(['keep/.fl-tmp-1', 'old/x/y.txt', 'old/z.txt']);
    expect(plan.deleteDirs).toEqual(['old/x', 'old']);
    expect(plan.present.map((f) => f.path)).toEqual(['keep/k.txt']);
  });

  it('replaces a file where a folder must go, and a folder where a file must go', () => {
    const plan = planWorkspace([file('a/inside.txt'), file('b')], {
      entries: new Map([['a', 'file'], ['b/old.txt', 'file']]),
      dirs: new Set(['b']),
    });
    expect(plan.deleteEntries).toEqual(['a', 'b/old.txt']);
    expect(plan.deleteDirs).toEqual(['b']);
    expect(plan.createDirs).toEqual(['a']);
    expect(plan.missing.map((f) => f.path)).toEqual(['a/inside.txt', 'b']);
  });

  it('replaces a FIFO or socket standing where a file must go', () => {
    const plan = planWorkspace([file('p')], { entries: new Map([['p', 'other']]), dirs: new Set() });
    expect(plan.deleteEntries).toEqual(['p']);
    expect(plan.missing.map((f) => f.path)).toEqual(['p']);
  });
});
