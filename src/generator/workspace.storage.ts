import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { rm as rmAsync } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DomainError, ErrorDetail } from '../common/domain-error.js';
import { FileWriter, STAT_FIELDS, WalkError, WriteJob, WriteJobError } from './file-writer.worker.js';
import type { WorkspaceScan } from './workspace-plan.js';

/**
 * The one place the generator touches the filesystem. Operations are synchronous on purpose: a
 * generation makes thousands of small calls, and a trip through libuv's thread pool per call
 * costs more than the call itself (measured: 5,000 files take ~1.5-2x longer with fs/promises).
 * The generator runs them in short slices and yields to the event loop between them. The
 * exception: files are written in batches on a writer thread (writeFiles, see
 * file-writer.worker.ts), while the main thread reads the next batch. A file that replaces an
 * existing one first gives the old file a second name in a trash folder beside the workspaces
 * (TRASH_FOLDER), so that the rename does not wait for ext4 to free the old blocks; the trash is
 * emptied in the background once the batch is written.
 *
 * Safety rules: a symlink is never followed (walks use lstat semantics, files are opened with
 * O_NOFOLLOW, and a rename replaces a link rather than writing through it); before anything is
 * written into a folder its real path is checked to be the expected path inside the project's
 * folder; and a workspace holding a symlink is refused with WORKSPACE_UNSAFE, not repaired.
 */

export interface FileStat {
  size: number;
  mtimeMs: number;
  ino: number;
  executable: boolean;
}

/** What the last generation wrote: a file whose size, mtime and inode still match is not hashed again. */
export interface ManifestEntry extends FileStat {
  sha256: string;
}

/** A walk of the project's folder, with the lstat of each regular file taken during it. */
export interface StatedScan extends WorkspaceScan {
  /**
   * Per entry of `files`, STAT_FIELDS numbers from its lstat: size (-1 when it stopped being a
   * regular file before its lstat), mtimeMs, ino, mode. Numbers rather than an object per file:
   * a regeneration makes thousands of them (statAt gives one as a FileStat).
   */
  stats: Float64Array;
}

/** The stat of `scan.files[index]`, or null when it is no longer a regular file. */
export function statAt(stats: Float64Array, index: number): FileStat | null {
  const at = index * STAT_FIELDS;
  return stats[at] < 0 ? null : { size: stats[at], mtimeMs: stats[at + 1], ino: stats[at + 2], executable: (stats[at + 3] & 0o111) !== 0 };
}

/** What the main thread found in its part of a walk. */
class Found {
  readonly files: string[] = [];
  stats = new Float64Array(1024 * STAT_FIELDS);
  readonly others: string[] = [];
  readonly dirs: string[] = [];
  readonly links: string[] = [];

  addFile(path: string, stat: Stats | undefined): void {
    const at = this.files.length * STAT_FIELDS;
    if (at + STAT_FIELDS > this.stats.length) {
      const grown = new Float64Array(this.stats.length * 2);
      grown.set(this.stats);
      this.stats = grown;
    }
    this.files.push(path);
    if (!stat?.isFile()) {
      this.stats[at] = -1;
      return;
    }
    this.stats[at] = stat.size;
    this.stats[at + 1] = stat.mtimeMs;
    this.stats[at + 2] = stat.ino;
    this.stats[at + 3] = stat.mode;
  }
}

type ManifestRow = [sha256: string, size: number, mtimeMs: number, ino: number, executable: 0 | 1];

/** Version 2 adds the journal's token; a version 1 manifest is still read (without a journal). */
const MANIFEST_VERSION = 2;
const MANIFEST_FOLDER = '.manifests';
/** Old versions of replaced files, until they are removed in the background (never read). */
const TRASH_FOLDER = '.trash';
/**
 * The journal is folded into a new snapshot once it would hold more records than this share of
 * the project's files (and at least JOURNAL_MIN_RECORDS): appending costs what changed, a
 * snapshot what the project holds.
 */
const JOURNAL_SHARE = 0.25;
const JOURNAL_MIN_RECORDS = 256;
/** A journal record: one file's manifest entry, or `[path]` when the file is no longer recorded. */
type JournalRecord = [path: string, ...row: ManifestRow] | [path: string];
const TEMP_PREFIX = '.fl-tmp-';
/** A walk shares out folders once a level of the tree holds this many (or the tree ends). */
const SHARED_FOLDERS_MIN = 16;
/** Files found above the shared folders are lstat'ed in groups of this many. */
const LSTAT_CHUNK = 256;
/** The longest the main thread walks before the event loop gets a turn (the listing arrives meanwhile). */
const WALK_SLICE_MS = 4;
const MAX_LISTED = 20;
const READ_CHUNK = 1024 * 1024;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const permissions = (executable: boolean) => (executable ? 0o755 : 0o644);

const statOf = (stats: Stats): FileStat => ({ size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, executable: (stats.mode & 0o111) !== 0 });

function unsafe(message: string, details: ErrorDetail[]): DomainError {
  return new DomainError('WORKSPACE_UNSAFE', `${message}. Nothing was written; generate with "clean": true to rebuild the workspace from the database`, details);
}

/** Maps a filesystem error to the API's error: the message names the project path, never the host's folders. */
export function workspaceIoError(error: unknown, action: string, path: string): DomainError {
  if (error instanceof DomainError) return error;
  const { code = 'EIO', syscall } = error as NodeJS.ErrnoException;
  const shown = path === '' ? 'the project folder' : `"${path}"`;
  if (code === 'ELOOP') return unsafe(`${shown} became a symbolic link while it was being written`, [{ field: 'path', rule: 'symlink', message: `${shown} is a symbolic link`, path }]);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const message = `No space left on the workspace disk to ${action} ${shown} (${code}); the project in the database is unchanged`;
    return new DomainError('WORKSPACE_FULL', message, [{ field: 'path', rule: code, message, path }]);
  }
  const message = `Could not ${action} ${shown} in the workspace (${code}${syscall ? ` in ${syscall}` : ''}); the project in the database is unchanged`;
  return new DomainError('WORKSPACE_IO_FAILED', message, [{ field: 'path', rule: code, message, path }]);
}

function guard<T>(action: string, path: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    throw workspaceIoError(error, action, path);
  }
}

/** Which version of a file was read: a file whose inode, size or mtime differ was changed since. */
interface FileVersion {
  ino: number;
  size: number;
  mtimeMs: number;
}

const versionOf = (stats: Stats | undefined): FileVersion | null => (stats ? { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs } : null);
const sameVersion = (a: FileVersion | null, b: FileVersion | null) => (a === null || b === null ? a === b : a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs);

/** A manifest as read or written: its snapshot, the journal records applied on top, and the result. */
interface LoadedManifest {
  snapshot: FileVersion | null;
  journal: FileVersion | null;
  /** The snapshot's token, which the first line of its journal repeats (null: no usable snapshot). */
  token: string | null;
  /** Records in the journal (each one file's entry or its removal). */
  records: number;
  entries: ReadonlyMap<string, ManifestEntry>;
}

/** Manifests last read or written by this process, while their files are unchanged (a few projects). */
class ManifestCache {
  private readonly entries = new Map<string, LoadedManifest>();

  constructor(private readonly capacity: number) {}

  get(path: string): LoadedManifest | undefined {
    return this.entries.get(path);
  }

  remember(path: string, manifest: LoadedManifest): void {
    this.entries.delete(path);
    this.entries.set(path, manifest);
    // A Map iterates in insertion order: the first key is the least recently remembered.
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(path: string): void {
    this.entries.delete(path);
  }
}

/** Manifests kept in memory: each costs about 100 bytes per file of its project. */
const CACHED_MANIFESTS = 8;

/** The journal beside a manifest: `<id>.json` → `<id>.journal`. */
const journalOf = (manifestPath: string) => `${manifestPath.slice(0, -'.json'.length)}.journal`;

/** Reads a whole file without following a symlink. */
function readWhole(path: string): Buffer {
  const fd = openSync(path, READ_FLAGS);
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, buffer, read, size - read, null);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

const rowOf = (entry: ManifestEntry): ManifestRow => [entry.sha256, entry.size, entry.mtimeMs, entry.ino, entry.executable ? 1 : 0];

function entryOf(row: unknown[]): ManifestEntry | null {
  const [sha256, size, mtimeMs, ino, executable] = row;
  if (row.length !== 5 || typeof sha256 !== 'string' || typeof size !== 'number' || typeof mtimeMs !== 'number' || typeof ino !== 'number') return null;
  return { sha256, size, mtimeMs, ino, executable: executable === 1 };
}

/** Removals of trash folders still running in the background. */
class TrashBin {
  private readonly pending = new Set<Promise<void>>();

  /** Removes `folder` and what it holds, in the background; a failure leaves it for the next start. */
  empty(folder: string): void {
    const removal = rmAsync(folder, { recursive: true, force: true }).catch(() => undefined);
    this.pending.add(removal);
    void removal.then(() => this.pending.delete(removal));
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}

/** The folder under WORKSPACES_DIR that holds every project's workspace and manifest. */
export class WorkspaceStorage {
  private readonly manifests = new ManifestCache(CACHED_MANIFESTS);
  private readonly writer = new FileWriter();
  private readonly trash = new TrashBin();

  constructor(private readonly rootDir: string) {}

  /**
   * Empties the trash a stopped process may have left (Nest calls this at start). Another process
   * sharing the folder loses nothing by it: a replacement whose trash folder went replaces the old
   * file directly, and its own background removal finds nothing to do.
   */
  async onModuleInit(): Promise<void> {
    await rmAsync(join(resolve(this.rootDir), TRASH_FOLDER), { recursive: true, force: true }).catch(() => undefined);
  }

  /** Waits for the trash to be emptied, then stops the writer thread (Nest calls this at shutdown). */
  async onModuleDestroy(): Promise<void> {
    await this.trash.settled();
    await this.writer.close();
  }

  /** Resolves once every trash folder scheduled for removal so far is gone (or failed to go). */
  trashEmptied(): Promise<void> {
    return this.trash.settled();
  }

  /** The folder that holds the projects' folders, created on first use (its real path). */
  root(): string {
    return guard('create', '', () => {
      mkdirSync(this.rootDir, { recursive: true });
      return realpathSync.native(resolve(this.rootDir));
    });
  }

  /** Where a project's files go (whether or not it exists yet). */
  pathOf(projectId: string): string {
    return join(this.root(), projectId);
  }

  /**
   * Opens (creating when missing) a project's folder. A folder that is a symlink is refused,
   * unless `clean`, which removes the link itself (never its target) and everything inside the
   * folder, then starts empty. A file in the folder's place is damage: it is removed.
   */
  open(projectId: string, options: { clean?: boolean } = {}): ProjectWorkspace {
    const root = this.root();
    const dir = join(root, projectId);
    const manifest = join(root, MANIFEST_FOLDER, `${projectId}.json`);
    return guard('prepare', '', () => {
      if (options.clean) {
        rmSync(dir, { recursive: true, force: true });
        rmSync(manifest, { force: true });
        rmSync(journalOf(manifest), { force: true });
        this.manifests.forget(manifest);
      }
      const existing = lstatSync(dir, { throwIfNoEntry: false });
      if (existing?.isSymbolicLink()) {
        throw unsafe('The project folder is a symbolic link', [{ field: 'outputDir', rule: 'symlink', message: 'the project folder is a symbolic link' }]);
      }
      if (existing && !existing.isDirectory()) unlinkSync(dir);
      if (!existing?.isDirectory()) mkdirSync(dir, { mode: 0o755 });
      if (realpathSync.native(dir) !== dir) {
        throw unsafe('The project folder resolves outside the workspaces folder', [{ field: 'outputDir', rule: 'escapes-workspace', message: 'the project folder resolves elsewhere' }]);
      }
      return new ProjectWorkspace(dir, manifest, this.manifests, this.writer, join(root, TRASH_FOLDER), this.trash);
    });
  }

  /** Removes a project's folder and manifest (the project is gone); a symlink is removed, not followed. */
  async remove(projectId: string): Promise<void> {
    const root = this.root();
    const manifest = join(root, MANIFEST_FOLDER, `${projectId}.json`);
    this.manifests.forget(manifest);
    // Asynchronous: a large folder takes a while to delete, and the event loop goes on meanwhile.
    try {
      await rmAsync(join(root, projectId), { recursive: true, force: true });
      await rmAsync(manifest, { force: true });
      await rmAsync(journalOf(manifest), { force: true });
    } catch (error) {
      throw workspaceIoError(error, 'remove', '');
    }
  }
}

/** One project's folder. Paths given to its methods are project paths (relative, already validated). */
export class ProjectWorkspace {
  private readonly verifiedDirs = new Set<string>(['']);
  private readonly tempPrefix = `${TEMP_PREFIX}${randomBytes(4).toString('hex')}-`;
  private tempCounter = 0;
  /** Folder path → where it is being built (see stageDirs). */
  private readonly staged = new Map<string, string>();
  private stagedRoots: string[] = [];

  constructor(
    /** Absolute real path of the project's folder. */
    readonly dir: string,
    private readonly manifestPath: string,
    private readonly manifests: ManifestCache,
    private readonly writer: FileWriter,
    private readonly trashDir: string,
    private readonly trash: TrashBin,
  ) {
    this.journalPath = journalOf(manifestPath);
  }

  private readonly journalPath: string;

  /**
   * Walks the folder without following anything, with the lstat of every regular file, and
   * refuses a workspace that holds a symlink. The main thread reads the top of the tree until a
   * level holds SHARED_FOLDERS_MIN folders; their subtrees (and the files found above them) are
   * then shared with the writer thread, each thread taking the next one from a shared counter, so
   * they finish together even while this one also takes turns for the event loop.
   */
  async scan(): Promise<StatedScan> {
    const found = new Found();
    const above: string[] = [];
    let level = [''];
    while (level.length > 0 && level.length < SHARED_FOLDERS_MIN) {
      const next: string[] = [];
      for (const folder of level) this.readFolder(folder, found, next, above);
      level = next;
    }
    const chunks: string[][] = [];
    for (let start = 0; start < above.length; start += LSTAT_CHUNK) chunks.push(above.slice(start, start + LSTAT_CHUNK));
    const counter = new SharedArrayBuffer(4);
    const claims = new Int32Array(counter);
    const tasks = chunks.length + level.length;
    const theirs = tasks > 0 ? this.writer.walk(this.dir, chunks, level, counter) : Promise.resolve({ files: [], stats: new Float64Array(0), others: [], dirs: [], links: [] });
    theirs.catch(() => undefined);
    let sliceStart = performance.now();
    for (let task = Atomics.add(claims, 0, 1); task < tasks; task = Atomics.add(claims, 0, 1)) {
      if (task < chunks.length) for (const path of chunks[task]) this.lstatInto(path, found);
      else this.walkFolder(level[task - chunks.length], found);
      if (performance.now() - sliceStart >= WALK_SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    let other: Awaited<typeof theirs>;
    try {
      other = await theirs;
    } catch (error) {
      if (!(error instanceof WalkError)) throw workspaceIoError(error, 'inspect', '');
      throw workspaceIoError({ code: error.code, syscall: error.syscall, message: error.message }, error.action, error.path);
    }
    const symlinks = [...found.links, ...other.links];
    if (symlinks.length > 0) {
      symlinks.sort();
      const details = symlinks.slice(0, MAX_LISTED).map((path) => ({ field: 'path', rule: 'symlink', message: `"${path}" is a symbolic link`, path }));
      const more = symlinks.length > MAX_LISTED ? ` (and ${symlinks.length - MAX_LISTED} more)` : '';
      throw unsafe(`The workspace holds symbolic links, which generation never follows: ${symlinks.slice(0, 3).map((p) => `"${p}"`).join(', ')}${more}`, details);
    }
    const stats = new Float64Array((found.files.length + other.files.length) * STAT_FIELDS);
    stats.set(found.stats.subarray(0, found.files.length * STAT_FIELDS));
    stats.set(other.stats.subarray(0, other.files.length * STAT_FIELDS), found.files.length * STAT_FIELDS);
    return {
      files: found.files.concat(other.files),
      stats,
      others: found.others.concat(other.others),
      dirs: new Set([...found.dirs, ...other.dirs]),
    };
  }

  /** Reads one folder: links, folders (also added to `subfolders`), other entries, and regular files into `files`. */
  private readFolder(relative: string, found: Found, subfolders: string[], files: string[]): void {
    const listing = guard('read the folder', relative, () => readdirSync(relative ? `${this.dir}/${relative}` : this.dir, { withFileTypes: true }));
    for (const entry of listing) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isSymbolicLink()) found.links.push(path);
      else if (entry.isDirectory()) {
        found.dirs.push(path);
        subfolders.push(path);
      } else if (entry.isFile()) files.push(path);
      else found.others.push(path);
    }
  }

  /** Walks a folder's whole subtree, lstat-ing each regular file as its folder is read. */
  private walkFolder(folder: string, found: Found): void {
    const pending = [folder];
    const here: string[] = [];
    while (pending.length > 0) {
      here.length = 0;
      this.readFolder(pending.pop()!, found, pending, here);
      for (const path of here) this.lstatInto(path, found);
    }
  }

  /** Records a regular file the listing showed, with its lstat (null: no longer a regular file). */
  private lstatInto(path: string, found: Found): void {
    let stat: Stats | undefined;
    try {
      stat = lstatSync(`${this.dir}/${path}`, { throwIfNoEntry: false });
    } catch (error) {
      throw workspaceIoError(error, 'inspect', path);
    }
    found.addFile(path, stat);
  }

  /** SHA-256 of a file's bytes, read without following a symlink. */
  hash(path: string): string {
    return guard('read', path, () => {
      const fd = openSync(join(this.dir, path), READ_FLAGS);
      try {
        const hash = createHash('sha256');
        const buffer = Buffer.allocUnsafe(READ_CHUNK);
        for (let read = readSync(fd, buffer, 0, READ_CHUNK, null); read > 0; read = readSync(fd, buffer, 0, READ_CHUNK, null)) {
          hash.update(buffer.subarray(0, read));
        }
        return hash.digest('hex');
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Sets or clears the executable bit of an existing file, without following a symlink. */
  setExecutable(path: string, executable: boolean): FileStat {
    return guard('change the mode of', path, () => {
      const fd = openSync(join(this.dir, path), READ_FLAGS);
      try {
        fchmodSync(fd, permissions(executable));
        return statOf(fstatSync(fd));
      } finally {
        closeSync(fd);
      }
    });
  }

  /** Unlinks a file or other non-folder entry (a symlink would be removed, never followed). */
  removeEntry(path: string): void {
    guard('delete', path, () => unlinkSync(join(this.dir, path)));
  }

  /** Removes a folder whose entries are gone; one still holding entries is removed whole (never following links). */
  removeDir(path: string): void {
    guard('delete the folder', path, () => {
      try {
        rmdirSync(join(this.dir, path));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error;
        rmSync(join(this.dir, path), { recursive: true });
      }
    });
  }

  /**
   * Prepares folders that do not exist yet. Each new folder whose parent exists is built under a
   * temporary name beside its final place, with everything below it, and appears whole when
   * publishStaged() renames it in: files inside need no rename of their own.
   */
  stageDirs(paths: readonly string[]): void {
    const created = new Set(paths);
    for (const path of [...paths].sort((a, b) => a.length - b.length)) {
      const slash = path.lastIndexOf('/');
      const parent = slash === -1 ? '' : path.slice(0, slash);
      const stagedParent = this.staged.get(parent);
      if (stagedParent !== undefined) {
        guard('create the folder', path, () => mkdirSync(`${stagedParent}/${path.slice(slash + 1)}`, { mode: 0o755 }));
        this.staged.set(path, `${stagedParent}/${path.slice(slash + 1)}`);
        continue;
      }
      if (created.has(parent)) throw new Error(`stageDirs: "${parent}" must come before "${path}"`);
      this.assertRealDir(parent);
      const staging = `${this.dir}/${parent ? `${parent}/` : ''}${this.tempPrefix}${this.tempCounter++}`;
      guard('create the folder', path, () => mkdirSync(staging, { mode: 0o755 }));
      if (realpathSync.native(staging) !== staging) {
        throw unsafe(`"${parent}" resolves outside its place in the workspace`, [{ field: 'path', rule: 'escapes-workspace', message: `"${parent}" resolves elsewhere`, path: parent }]);
      }
      this.staged.set(path, staging);
      this.stagedRoots.push(path);
    }
  }

  /** Moves every staged folder to its place (each appears at once, complete). */
  publishStaged(): void {
    for (const path of this.stagedRoots) {
      guard('create the folder', path, () => renameSync(this.staged.get(path)!, `${this.dir}/${path}`));
    }
    this.staged.clear();
    this.stagedRoots = [];
  }

  /** Removes staged folders that will not be published (a failed generation). */
  discardStaged(): void {
    for (const path of this.stagedRoots) rmSync(this.staged.get(path)!, { recursive: true, force: true });
    this.staged.clear();
    this.stagedRoots = [];
  }

  /**
   * Writes a file atomically: a new temporary file beside it (O_EXCL | O_NOFOLLOW), then a rename
   * over the old one, so readers see the old bytes or the new ones, never a mix. In a staged
   * folder the file is created in place: the folder itself appears only once complete.
   * (The hot loop of a generation: plain string paths, no closures.)
   */
  writeFile(path: string, content: Buffer, executable: boolean): FileStat {
    const slash = path.lastIndexOf('/');
    const parent = slash === -1 ? '' : path.slice(0, slash);
    const stagedParent = this.staged.get(parent);
    if (stagedParent === undefined) this.assertRealDir(parent);
    const target = stagedParent === undefined ? `${this.dir}/${path}` : `${stagedParent}/${path.slice(slash + 1)}`;
    const temp = stagedParent === undefined ? `${this.dir}/${parent ? `${parent}/` : ''}${this.tempPrefix}${this.tempCounter++}` : target;
    const mode = permissions(executable);
    let fd = -1;
    try {
      fd = openSync(temp, WRITE_FLAGS, mode);
      for (let offset = 0; offset < content.length; ) offset += writeSync(fd, content, offset, content.length - offset);
      let stats = fstatSync(fd);
      if ((stats.mode & 0o777) !== mode) {
        // The process umask narrowed the mode at creation.
        fchmodSync(fd, mode);
        stats = fstatSync(fd);
      }
      closeSync(fd);
      fd = -1;
      if (temp !== target) renameSync(temp, target);
      return statOf(stats);
    } catch (error) {
      try {
        if (fd !== -1) closeSync(fd);
        rmSync(temp, { force: true });
      } catch {
        // Reported below; a leftover temporary file is deleted by the next generation.
      }
      throw workspaceIoError(error, 'write', path);
    }
  }

  /**
   * writeFile for many files at once, on the writer thread (file-writer.worker.ts), so the main
   * thread is free meanwhile. Paths are checked here first, exactly as writeFile does. The files
   * in `replacing` exist on disk: their old versions go to a trash folder as they are replaced
   * (see the note at the top), which is emptied in the background afterwards. Each file written
   * is reported to `onWritten` (also those before a failure), in order.
   */
  async writeFiles(
    files: ReadonlyArray<{ path: string; content: Buffer; executable: boolean }>,
    onWritten: (index: number, stat: FileStat) => void,
    replacing: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    /** This batch's trash folder: not made yet (undefined), or unavailable (null). */
    let trash: string | null | undefined;
    let kept = 0;
    const jobs: WriteJob[] = files.map((file) => {
      const slash = file.path.lastIndexOf('/');
      const parent = slash === -1 ? '' : file.path.slice(0, slash);
      const stagedParent = this.staged.get(parent);
      if (stagedParent !== undefined) {
        return { target: `${stagedParent}/${file.path.slice(slash + 1)}`, temp: null, content: file.content, mode: permissions(file.executable) };
      }
      this.assertRealDir(parent);
      const temp = `${this.dir}/${parent ? `${parent}/` : ''}${this.tempPrefix}${this.tempCounter++}`;
      if (!replacing.has(file.path)) return { target: `${this.dir}/${file.path}`, temp, content: file.content, mode: permissions(file.executable) };
      if (trash === undefined) trash = this.trashFolder();
      const keep = trash === null ? null : `${trash}/${kept++}`;
      return { target: `${this.dir}/${file.path}`, temp, content: file.content, mode: permissions(file.executable), keep };
    });
    try {
      const stats = await this.writer.write(jobs);
      stats.forEach((stat, index) => onWritten(index, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, executable: (stat.mode & 0o111) !== 0 }));
    } catch (error) {
      if (!(error instanceof WriteJobError)) throw workspaceIoError(error, 'write', files[0]?.path ?? '');
      error.written.forEach((stat, index) => onWritten(index, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, executable: (stat.mode & 0o111) !== 0 }));
      throw workspaceIoError({ code: error.code, syscall: error.syscall, message: error.message }, 'write', files[error.index].path);
    } finally {
      if (trash) this.trash.empty(trash);
    }
  }

  /** A new folder in the trash for one batch's old versions, or null (then replacements free them directly). */
  private trashFolder(): string | null {
    const folder = `${this.trashDir}/${this.tempPrefix}${this.tempCounter++}`;
    try {
      mkdirSync(this.trashDir, { recursive: true, mode: 0o700 });
      // Like every folder written into: exactly where it should be, never through a planted link.
      if (realpathSync.native(this.trashDir) !== this.trashDir) return null;
      mkdirSync(folder, { mode: 0o700 });
      return folder;
    } catch {
      return null;
    }
  }

  /**
   * The last generation's manifest (empty when missing or damaged): a snapshot (`<id>.json`) and
   * the journal appended since (`<id>.journal`), whose first line names the snapshot it extends.
   * A journal of another snapshot is ignored, and so is everything from its first damaged or
   * unfinished line on: a lost record leaves the previous entry of its file, whose inode, size or
   * mtime no longer match, so the file is hashed again (never trusted wrongly). A manifest this
   * process wrote or read is kept in memory while both files are unchanged.
   */
  readManifest(): ReadonlyMap<string, ManifestEntry> {
    const snapshot = versionOf(lstatSync(this.manifestPath, { throwIfNoEntry: false }));
    const journal = versionOf(lstatSync(this.journalPath, { throwIfNoEntry: false }));
    const cached = this.manifests.get(this.manifestPath);
    if (snapshot && cached && sameVersion(cached.snapshot, snapshot) && sameVersion(cached.journal, journal)) return cached.entries;
    const entries = new Map<string, ManifestEntry>();
    let token: string | null = null;
    try {
      const parsed = JSON.parse(readWhole(this.manifestPath).toString('utf8')) as { version?: number; token?: unknown; files?: Record<string, unknown> };
      if ((parsed.version !== 1 && parsed.version !== MANIFEST_VERSION) || typeof parsed.files !== 'object' || parsed.files === null) return entries;
      for (const [path, row] of Object.entries(parsed.files)) {
        const entry = Array.isArray(row) ? entryOf(row) : null;
        if (entry) entries.set(path, entry);
      }
      if (parsed.version === MANIFEST_VERSION && typeof parsed.token === 'string') token = parsed.token;
    } catch {
      // Missing or damaged: every file on disk is hashed once, and a good manifest is written.
      return entries;
    }
    let records = 0;
    if (token !== null && journal !== null) {
      const applied = this.applyJournal(token, entries);
      records = applied.records;
      // A journal not wholly usable is not appended to: the next write makes a new snapshot.
      if (!applied.whole) token = null;
    }
    // Versions as read before the contents: a change meanwhile only means reading again next time.
    this.manifests.remember(this.manifestPath, { snapshot, journal, token, records, entries });
    return entries;
  }

  /**
   * Records the manifest (it lives outside the project's folder); `entries` must not change
   * afterwards. When this process read or wrote the manifest on disk, only the entries that
   * differ from it are appended to the journal; otherwise, or once the journal is long, a new
   * snapshot replaces both atomically. `changed`, when given, names every path whose entry
   * differs from the manifest as read (set or removed), so that only those are compared.
   */
  writeManifest(entries: ReadonlyMap<string, ManifestEntry>, changed?: Iterable<string>): void {
    const cached = this.manifests.get(this.manifestPath);
    this.manifests.forget(this.manifestPath);
    guard('record the manifest of', '', () => {
      if (cached?.token) {
        const records: JournalRecord[] = [];
        if (changed) {
          for (const path of changed) {
            const entry = entries.get(path);
            if (entry === undefined) {
              if (cached.entries.has(path)) records.push([path]);
            } else if (cached.entries.get(path) !== entry) records.push([path, ...rowOf(entry)]);
          }
        } else {
          for (const [path, entry] of entries) if (cached.entries.get(path) !== entry) records.push([path, ...rowOf(entry)]);
          if (entries.size !== cached.entries.size || records.length > 0) for (const path of cached.entries.keys()) if (!entries.has(path)) records.push([path]);
        }
        const limit = Math.max(JOURNAL_MIN_RECORDS, Math.ceil(entries.size * JOURNAL_SHARE));
        const snapshot = versionOf(lstatSync(this.manifestPath, { throwIfNoEntry: false }));
        const journal = versionOf(lstatSync(this.journalPath, { throwIfNoEntry: false }));
        if (cached.records + records.length <= limit && sameVersion(snapshot, cached.snapshot) && sameVersion(journal, cached.journal)) {
          const appended = records.length === 0 ? journal : this.appendJournal(cached.token, journal === null, records);
          this.manifests.remember(this.manifestPath, { ...cached, journal: appended, records: cached.records + records.length, entries });
          return;
        }
      }
      this.writeSnapshot(entries);
    });
  }

  /**
   * Applies the journal's records made on top of snapshot `token`, up to the first damaged or
   * unfinished line; `whole` says whether that was all of it.
   */
  private applyJournal(token: string, entries: Map<string, ManifestEntry>): { records: number; whole: boolean } {
    let text: string;
    try {
      text = readWhole(this.journalPath).toString('utf8');
    } catch {
      return { records: 0, whole: false };
    }
    let start = text.indexOf('\n');
    if (start === -1 || text.slice(0, start) !== JSON.stringify({ token })) return { records: 0, whole: false };
    let records = 0;
    start += 1;
    for (let end = text.indexOf('\n', start); end !== -1; start = end + 1, end = text.indexOf('\n', start)) {
      let record: unknown;
      try {
        record = JSON.parse(text.slice(start, end));
      } catch {
        break;
      }
      if (!Array.isArray(record) || typeof record[0] !== 'string') break;
      if (record.length === 1) entries.delete(record[0]);
      else {
        const entry = entryOf(record.slice(1));
        if (!entry) break;
        entries.set(record[0], entry);
      }
      records++;
    }
    return { records, whole: start === text.length };
  }

  /** Appends records (one line each, in one write) to the journal, starting it when `create`. */
  private appendJournal(token: string, create: boolean, records: readonly JournalRecord[]): FileVersion {
    let text = create ? `${JSON.stringify({ token })}\n` : '';
    for (const record of records) text += `${JSON.stringify(record)}\n`;
    const content = Buffer.from(text);
    const fd = openSync(this.journalPath, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | (create ? constants.O_CREAT | constants.O_EXCL : 0), 0o644);
    try {
      for (let offset = 0; offset < content.length; ) offset += writeSync(fd, content, offset, content.length - offset);
      return versionOf(fstatSync(fd))!;
    } finally {
      closeSync(fd);
    }
  }

  /** Replaces the manifest with a snapshot of `entries` under a new token (atomically), then drops the old journal. */
  private writeSnapshot(entries: ReadonlyMap<string, ManifestEntry>): void {
    const files: Record<string, ManifestRow> = {};
    for (const [path, entry] of entries) files[path] = rowOf(entry);
    const token = randomBytes(8).toString('hex');
    const content = Buffer.from(JSON.stringify({ version: MANIFEST_VERSION, token, files }));
    const folder = dirname(this.manifestPath);
    mkdirSync(folder, { recursive: true });
    const temp = join(folder, `${this.tempPrefix}${this.tempCounter++}`);
    const fd = openSync(temp, WRITE_FLAGS, 0o644);
    let snapshot: FileVersion;
    try {
      for (let offset = 0; offset < content.length; ) offset += writeSync(fd, content, offset, content.length - offset);
      snapshot = versionOf(fstatSync(fd))!;
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.manifestPath);
    // The old journal names the old token: were it left behind by a crash here, it would be ignored.
    rmSync(this.journalPath, { force: true });
    this.manifests.remember(this.manifestPath, { snapshot, journal: null, token, records: 0, entries });
  }

  /** Refuses to write into a folder whose real path is not exactly where it should be. */
  private assertRealDir(path: string): void {
    if (this.verifiedDirs.has(path)) return;
    const expected = path ? `${this.dir}/${path}` : this.dir;
    const real = guard('inspect', path, () => realpathSync.native(expected));
    if (real !== expected) {
      const message = `"${path}" resolves outside its place in the workspace (a symbolic link)`;
      throw unsafe(message, [{ field: 'path', rule: 'escapes-workspace', message, path }]);
    }
    this.verifiedDirs.add(path);
  }
}
