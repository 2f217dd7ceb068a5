import { createHash } from 'node:crypto';
import { hashObject } from './git-objects.js';
import { buildTrees, FileRecord, parseSnapshot, planExport, serialiseSnapshot, snapshotOf, TreeEntryError, TreeSnapshot } from './tree-builder.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A project as the database holds it: path → content and mode. */
type Project = Record<string, { content: string; executable?: boolean }>;

function records(project: Project): FileRecord[] {
  return Object.entries(project)
    .map(([path, file]) => ({ path, sha256: sha256(file.content), mode: file.executable ? ('executable' as const) : ('regular' as const) }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Plans, "writes" the blobs the plan asks for, builds the trees: what the exporter does. */
function exportOf(project: Project, base: TreeSnapshot | null) {
  const files = records(project);
  const plan = planExport(files, base);
  for (const file of plan.needBlobs) plan.knownOids.set(file.path, hashObject('blob', Buffer.from(project[file.path].content)));
  const withOids = files.map((file) => ({ ...file, oid: plan.knownOids.get(file.path) as string }));
  const built = buildTrees(withOids, base, plan.changedFolders);
  return { plan, built, snapshot: snapshotOf(withOids, built.trees) };
}

describe('tree builder', () => {
  const project: Project = {
    'README.md': { content: '# x\n' },
    'bin/run': { content: '#!/bin/sh\n', executable: true },
    'src/a/one.ts': { content: '1' },
    'src/a/two.ts': { content: '2' },
    'src/b/three.ts': { content: '3' },
    'docs/guide.md': { content: 'guide' },
  };

  it('rewrites only what changed, and ends at the tree a full build makes', () => {
    const first = exportOf(project, null);
    expect(first.plan.needBlobs).toHaveLength(6);
    expect(first.built.written.length).toBe(first.built.trees.size); // every folder, the root included

    const changed: Project = { ...project, 'src/a/one.ts': { content: 'one!' } };
    const second = exportOf(changed, first.snapshot);
    expect(second.plan.needBlobs.map((f) => f.path)).toEqual(['src/a/one.ts']);
    expect([...second.plan.changedFolders].sort()).toEqual(['', 'src', 'src/a']);
    expect(second.built.written).toHaveLength(3);
    expect(second.built.root).toBe(exportOf(changed, null).built.root);
    expect(second.built.trees.get('docs')).toBe(first.built.trees.get('docs'));
  });

  it('notices removals, new folders and a mode change without new content', () => {
    const first = exportOf(project, null);
    const next: Project = { ...project, 'bin/run': { content: '#!/bin/sh\n' }, 'new/deep/x': { content: 'x' } };
    delete next['src/b/three.ts'];
    const second = exportOf(next, first.snapshot);
    expect(second.plan.needBlobs.map((f) => f.path)).toEqual(['new/deep/x']); // the mode change reuses its blob
    expect(second.plan.changedPaths).toBe(3);
    expect(second.built.trees.has('src/b')).toBe(false);
    expect(second.built.root).toBe(exportOf(next, null).built.root);
  });

  it('finds nothing to write when nothing changed', () => {
    const first = exportOf(project, null);
    const again = exportOf(project, first.snapshot);
    expect(again.plan.needBlobs).toEqual([]);
    expect(again.built.written).toEqual([]);
    expect(again.built.root).toBe(first.built.root);
  });

  it('survives the trip through PostgreSQL\'s JSON', () => {
    const { snapshot } = exportOf(project, null);
    const back = parseSnapshot(JSON.parse(serialiseSnapshot(snapshot)));
    expect(back).toEqual(snapshot);
    expect(parseSnapshot({ v: 2 })).toBeNull();
  });

  it('refuses to build a tree with a name git must not hold', () => {
    const bad = { ...project, 'sub/.GIT/config': { content: 'x' } };
    expect(() => exportOf(bad, null)).toThrow(TreeEntryError);
    expect(() => exportOf({ ...project, 'a/../b': { content: 'x' } }, null)).toThrow(/dot-dot/);
  });
});
