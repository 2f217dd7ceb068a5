import { DesiredFile, planWorkspace } from './workspace-plan.js';

const file = (path: string): DesiredFile => ({ path, sha256: 'x'.repeat(64), size: 1, executable: false });

describe('workspace plan', () => {
  it('writes everything into an empty folder, parents first', () => {
    const plan = planWorkspace([file('a/b/c.txt'), file('a/d.txt'), file('e.txt')], { files: [], others: [], dirs: new Set() });
    expect(plan.createDirs).toEqual(['a', 'a/b']);
    expect(plan.missing.map((f) => f.path)).toEqual(['a/b/c.txt', 'a/d.txt', 'e.txt']);
    expect(plan).toMatchObject({ deleteEntries: [], deleteDirs: [], present: [] });
  });

  it('deletes files the project no longer has and folders left without project files, deepest first', () => {
    const plan = planWorkspace([file('keep/k.txt')], {
      files: ['keep/k.txt', 'old/x/y.txt', 'old/z.txt', 'keep/.fl-tmp-1'],
      others: [],
      dirs: new Set(['keep', 'old', 'old/x']),
    });
    expect(plan.deleteEntries).toEqual(['keep/.fl-tmp-1', 'old/x/y.txt', 'old/z.txt']);
    expect(plan.deleteDirs).toEqual(['old/x', 'old']);
    expect(plan.present.map((p) => [p.file.path, p.at])).toEqual([['keep/k.txt', 0]]);
  });

  it('replaces a file where a folder must go, and a folder where a file must go', () => {
    const plan = planWorkspace([file('a/inside.txt'), file('b')], {
      files: ['a', 'b/old.txt'],
      others: [],
      dirs: new Set(['b']),
    });
    expect(plan.deleteEntries).toEqual(['a', 'b/old.txt']);
    expect(plan.deleteDirs).toEqual(['b']);
    expect(plan.createDirs).toEqual(['a']);
    expect(plan.missing.map((f) => f.path)).toEqual(['a/inside.txt', 'b']);
  });

  it('finds every needed folder when files of one folder are not listed together', () => {
    const plan = planWorkspace([file('a/b/1.txt'), file('a/c/2.txt'), file('a/b/3.txt'), file('d/4.txt'), file('a/b/e/5.txt')], {
      files: [],
      others: [],
      dirs: new Set(['a']),
    });
    expect(plan.createDirs).toEqual(['d', 'a/b', 'a/c', 'a/b/e']);
  });

  it('replaces a FIFO or socket standing where a file must go', () => {
    const plan = planWorkspace([file('p')], { files: [], others: ['p'], dirs: new Set() });
    expect(plan.deleteEntries).toEqual(['p']);
    expect(plan.missing.map((f) => f.path)).toEqual(['p']);
  });
});
