/** A file the workspace must hold, as the database describes it. */
export interface DesiredFile {
  path: string;
  sha256: string;
  size: number;
  executable: boolean;
}

/** What a walk of the workspace found (paths relative to the project's folder). */
export interface WorkspaceScan {
  /** Regular files, as the folder listings showed them. */
  files: readonly string[];
  /** Other non-folder entries: FIFOs, sockets, devices. */
  others: readonly string[];
  dirs: ReadonlySet<string>;
}

export interface WorkspacePlan<T extends DesiredFile> {
  /** Entries that are not files of the project: unlinked first. */
  deleteEntries: string[];
  /** Folders no project file lives in, deepest first: removed once their entries are gone. */
  deleteDirs: string[];
  /** Folders the project needs that do not exist yet, parents first. */
  createDirs: string[];
  /**
   * Project files that exist on disk as regular files, each with its index in the scan's `files`:
   * unchanged unless their bytes or mode differ.
   */
  present: Array<{ file: T; at: number }>;
  /** Project files with nothing (usable) on disk: written. */
  missing: T[];
}

function depth(path: string): number {
  let count = 0;
  for (let index = path.indexOf('/'); index !== -1; index = path.indexOf('/', index + 1)) count++;
  return count;
}

/** Adds every folder above `path` to `folders`, stopping at the first one already there. */
function addParents(path: string, folders: Set<string>): void {
  for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
    const folder = path.slice(0, slash);
    if (folders.has(folder)) return;
    folders.add(folder);
  }
}

/**
 * Turns the difference between the project and its workspace into operations. A file where a
 * folder must go is deleted before the folder is made; a folder where a file must go is not a
 * needed folder, so it is removed before the file is written. (It runs on every file of every
 * generation: one map of the project's paths, looked up once per file found.)
 */
export function planWorkspace<T extends DesiredFile>(desired: readonly T[], scan: WorkspaceScan): WorkspacePlan<T> {
  const wanted = new Map<string, number>();
  const neededDirs = new Set<string>();
  let lastFolder = '';
  for (let index = 0; index < desired.length; index++) {
    const path = desired[index].path;
    wanted.set(path, index);
    const slash = path.lastIndexOf('/');
    // Files of one folder mostly come together: their parents are known already.
    if (slash <= 0 || (slash === lastFolder.length && path.startsWith(lastFolder))) continue;
    lastFolder = path.slice(0, slash);
    addParents(path, neededDirs);
  }

  const deleteEntries: string[] = [];
  const present: Array<{ file: T; at: number }> = [];
  const found = new Uint8Array(desired.length);
  for (let at = 0; at < scan.files.length; at++) {
    const index = wanted.get(scan.files[at]);
    if (index === undefined) deleteEntries.push(scan.files[at]);
    else {
      found[index] = 1;
      present.push({ file: desired[index], at });
    }
  }
  for (const path of scan.others) deleteEntries.push(path);
  const missing = desired.filter((_, index) => found[index] === 0);
  const deleteDirs = [...scan.dirs].filter((dir) => !neededDirs.has(dir)).sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
  const createDirs = [...neededDirs].filter((dir) => !scan.dirs.has(dir)).sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : 1));
  return { deleteEntries: deleteEntries.sort(), deleteDirs, createDirs, present, missing };
}
