import type { FileMode } from '../projects/project-file.entity.js';
import { checkTreeEntryName, EMPTY_TREE_OID, encodeObject, encodeTreeBody, EncodedObject, EntryMode, TreeEntry, TreeEntryRule } from './git-objects.js';

/**
 * From the project's files to Git trees, bottom-up, without reading any tree back: a snapshot
 * of the previous export (path → blob id, folder → tree id, kept in PostgreSQL) tells which
 * blobs and trees can be reused, so an export rewrites only what changed. Plain functions.
 */

export interface FileRecord {
  path: string;
  sha256: string;
  mode: FileMode;
}

export interface SnapshotFile {
  sha256: string;
  mode: FileMode;
  oid: string;
}

/** What one commit's tree is made of. Folder "" is the root. */
export interface TreeSnapshot {
  files: Map<string, SnapshotFile>;
  trees: Map<string, string>;
}

export interface ExportPlan {
  /** Files whose blob has to be written: new, or content changed (a mode change alone reuses the blob). */
  needBlobs: FileRecord[];
  /** Blob ids already known, by path. */
  knownOids: Map<string, string>;
  /** Folders whose tree must be rebuilt: every ancestor of an added, changed or removed path. */
  changedFolders: Set<string>;
  /** Paths added, changed (content or mode) or removed relative to the base snapshot. */
  changedPaths: number;
}

export class TreeEntryError extends Error {
  constructor(
    readonly path: string,
    readonly rule: TreeEntryRule,
  ) {
    super(`refusing to write "${path}" into a Git tree: its name breaks the rule "${rule}"`);
  }
}

const MODE: Record<FileMode, EntryMode> = { regular: '100644', executable: '100755' };

function folderOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

function ancestorsOf(path: string, into: Set<string>): void {
  let folder = folderOf(path);
  for (;;) {
    if (into.has(folder)) return; // Its ancestors are in already.
    into.add(folder);
    if (folder === '') return;
    folder = folderOf(folder);
  }
}

export function planExport(files: FileRecord[], base: TreeSnapshot | null): ExportPlan {
  const needBlobs: FileRecord[] = [];
  const knownOids = new Map<string, string>();
  const changedFolders = new Set<string>();
  let changedPaths = 0;
  for (const file of files) {
    const old = base?.files.get(file.path);
    if (old && old.sha256 === file.sha256) {
      knownOids.set(file.path, old.oid);
      if (old.mode === file.mode) continue;
    } else {
      needBlobs.push(file);
    }
    changedPaths++;
    ancestorsOf(file.path, changedFolders);
  }
  if (base) {
    const present = new Set(files.map((file) => file.path));
    for (const path of base.files.keys()) {
      if (present.has(path)) continue;
      changedPaths++;
      ancestorsOf(path, changedFolders);
    }
  }
  if (!base) changedFolders.add('');
  return { needBlobs, knownOids, changedFolders, changedPaths };
}

export interface BuiltTrees {
  root: string;
  /** Folder → tree id of the new commit (the next export's snapshot). */
  trees: Map<string, string>;
  /** The trees that have to be written, children before parents. */
  written: EncodedObject[];
}

/**
 * Builds every folder's tree, deepest first, reusing the base's tree id for folders outside
 * `changedFolders`. Each name of each tree written is checked (TreeEntryError otherwise).
 */
export function buildTrees(files: Array<FileRecord & { oid: string }>, base: TreeSnapshot | null, changedFolders: Set<string>): BuiltTrees {
  const fileEntries = new Map<string, TreeEntry[]>([['', []]]);
  const subfolders = new Map<string, string[]>();
  for (const file of files) {
    const folder = folderOf(file.path);
    let entries = fileEntries.get(folder);
    if (!entries) {
      entries = [];
      fileEntries.set(folder, entries);
      // Link the new folder (and any new ancestors) to their parents.
      let child = folder;
      while (child !== '') {
        const parent = folderOf(child);
        const siblings = subfolders.get(parent) ?? [];
        siblings.push(child);
        subfolders.set(parent, siblings);
        if (fileEntries.has(parent)) break;
        fileEntries.set(parent, []);
        child = parent;
      }
    }
    entries.push({ name: file.path.slice(folder.length === 0 ? 0 : folder.length + 1), mode: MODE[file.mode], oid: file.oid });
  }

  const depth = (folder: string) => (folder === '' ? 0 : folder.split('/').length);
  const folders = [...fileEntries.keys()].sort((a, b) => depth(b) - depth(a));
  const trees = new Map<string, string>();
  const written: EncodedObject[] = [];
  for (const folder of folders) {
    const reused = changedFolders.has(folder) ? undefined : base?.trees.get(folder);
    if (reused) {
      trees.set(folder, reused);
      continue;
    }
    const entries = [...(fileEntries.get(folder) ?? [])];
    for (const child of subfolders.get(folder) ?? []) {
      entries.push({ name: child.slice(folder.length === 0 ? 0 : folder.length + 1), mode: '40000', oid: trees.get(child) as string });
    }
    for (const entry of entries) {
      const rule = checkTreeEntryName(entry.name);
      if (rule) throw new TreeEntryError(folder ? `${folder}/${entry.name}` : entry.name, rule);
    }
    const tree = encodeObject('tree', encodeTreeBody(entries));
    trees.set(folder, tree.oid);
    written.push(tree);
  }
  const root = trees.get('') ?? EMPTY_TREE_OID;
  return { root, trees, written };
}

/** The snapshot of the commit just built. */
export function snapshotOf(files: Array<FileRecord & { oid: string }>, trees: Map<string, string>): TreeSnapshot {
  return { files: new Map(files.map((file) => [file.path, { sha256: file.sha256, mode: file.mode, oid: file.oid }])), trees };
}

/** Compact JSON for PostgreSQL: `{ v, files: [[path, sha256, "x"|"", oid]], trees: [[folder, oid]] }`. */
export function serialiseSnapshot(snapshot: TreeSnapshot): string {
  const files = [...snapshot.files].map(([path, f]) => [path, f.sha256, f.mode === 'executable' ? 'x' : '', f.oid]);
  return JSON.stringify({ v: 1, files, trees: [...snapshot.trees] });
}

export function parseSnapshot(json: unknown): TreeSnapshot | null {
  const value = (typeof json === 'string' ? JSON.parse(json) : json) as { v?: number; files?: string[][]; trees?: string[][] } | null;
  if (!value || value.v !== 1 || !Array.isArray(value.files) || !Array.isArray(value.trees)) return null;
  return {
    files: new Map(value.files.map(([path, sha256, mode, oid]) => [path, { sha256, mode: mode === 'x' ? 'executable' : 'regular', oid }])),
    trees: new Map(value.trees.map(([folder, oid]) => [folder, oid])),
  };
}
