/** A file the workspace must hold, as the database describes it. */
export interface DesiredFile {
  path: string;
  sha256: string;
  size: number;
  executable: boolean;
}

/** What a walk of the workspace found (paths relative to the project's folder). */
export interface WorkspaceScan {
  /** Regular files, and other non-folder entries (FIFOs, sockets, devices) as 'other'. */
  entries: Map<string, 'file' | 'other'>;
  dirs: Set<string>;
}

export interface WorkspacePlan {
  /** Entries that are not files of the project: unlinked first. */
  deleteEntries: string[];
  /** Folders no project file lives in, deepest first: removed once their entries are gone. */
  deleteDirs: string[];
  /** Folders the project needs that do not exist yet, parents first. */
  createDirs: string[];
  /** Project files that exist on disk as regular files: unchanged unless their bytes or mode differ. */
  present: DesiredFile[];
  /** Project files with nothing (usable) on disk: written. */
  missing: DesiredFile[];
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
 * needed folder, so it is removed before the file is written.
 */
export function planWorkspace(desired: readonly DesiredFile[], scan: WorkspaceScan): WorkspacePlan {
  const wanted = new Map(desired.map((file) => [file.path, file]));
  const neededDirs = new Set<string>();
  for (const file of desired) addParents(file.path, neededDirs);

  const deleteEntries: string[] = [];
  const present: DesiredFile[] = [];
  for (const [path, kind] of scan.entries) {
    const file = wanted.get(path);
    if (file && kind === 'file') present.push(file);
    else deleteEntries.push(path);
  }
  const presentPaths = new Set(present.map((file) => file.path));
  const missing = desired.filter((file) => !presentPaths.has(file.path));
  const deleteDirs = [...scan.dirs].filter((dir) => !neededDirs.has(dir)).sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
  const createDirs = [...neededDirs].filter((dir) => !scan.dirs.has(dir)).sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : 1));
  return { deleteEntries: deleteEntries.sort(), deleteDirs, createDirs, present, missing };
}
