import { Worker } from 'node:worker_threads';

/**
 * A worker thread for a generation's bulk filesystem calls, so that they run while the main
 * thread talks to PostgreSQL:
 * - it walks a project's folder together with the main thread, each taking the next folder (or
 *   group of files) from a counter they share, reading folders and lstat-ing every regular file
 *   (measured: the walk and the lstat of 5,000 files were the largest part of a regeneration
 *   after a small change; sharing them as they go also leaves the main thread turns to read the
 *   database's listing meanwhile);
 * - it creates and replaces files (write), while the main thread reads the next batch (measured: a
 *   5,000-file generation ~25% faster).
 * It only performs the calls it is given: every path written was checked by ProjectWorkspace on
 * the main thread (real path of the folder, staging), every file is created with
 * O_EXCL | O_NOFOLLOW and then renamed into place, so nothing is written through or followed, and
 * neither lstat nor link follows a symlink.
 *
 * Its code is plain JavaScript in a string (an `eval` worker), so that it runs the same under
 * jest (which loads the TypeScript sources) as from dist/.
 */
const SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const failure = (error, path) => ({ code: error.code, syscall: error.syscall, message: String(error.message), path });
// Takes tasks from the counter it shares with the main thread until none is left: a task is a group
// of files to lstat (chunks) or a folder whose whole subtree is walked (dirs), never following a
// link. Per regular file: size, mtimeMs, ino and mode; size -1: no longer a regular file (or gone).
function walk({ id, root, chunks, dirs, counter }) {
  const claims = new Int32Array(counter);
  const files = [];
  const others = [];
  const folders = [];
  const links = [];
  let stats = new Float64Array(4096);
  const lstatInto = (path) => {
    let st;
    try {
      st = fs.lstatSync(root + '/' + path, { throwIfNoEntry: false });
    } catch (error) {
      throw Object.assign(failure(error, path), { action: 'inspect' });
    }
    const at = files.length * 4;
    if (at + 4 > stats.length) {
      const grown = new Float64Array(stats.length * 2);
      grown.set(stats);
      stats = grown;
    }
    files.push(path);
    if (st === undefined || !st.isFile()) {
      stats[at] = -1;
      return;
    }
    stats[at] = st.size;
    stats[at + 1] = st.mtimeMs;
    stats[at + 2] = st.ino;
    stats[at + 3] = st.mode;
  };
  try {
    for (let task = Atomics.add(claims, 0, 1); task < chunks.length + dirs.length; task = Atomics.add(claims, 0, 1)) {
      if (task < chunks.length) {
        for (const path of chunks[task]) lstatInto(path);
        continue;
      }
      const pending = [dirs[task - chunks.length]];
      while (pending.length > 0) {
        const relative = pending.pop();
        let listing;
        try {
          listing = fs.readdirSync(root + '/' + relative, { withFileTypes: true });
        } catch (error) {
          throw Object.assign(failure(error, relative), { action: 'read the folder' });
        }
        const here = [];
        for (const entry of listing) {
          const path = relative + '/' + entry.name;
          if (entry.isSymbolicLink()) links.push(path);
          else if (entry.isDirectory()) {
            folders.push(path);
            pending.push(path);
          } else if (entry.isFile()) here.push(path);
          else others.push(path);
        }
        for (const path of here) lstatInto(path);
      }
    }
  } catch (error) {
    return parentPort.postMessage({ id, error: error.action ? error : { ...failure(error, ''), action: 'inspect' } });
  }
  const used = stats.slice(0, files.length * 4);
  parentPort.postMessage({ id, files, stats: used, others, dirs: folders, links }, [used.buffer]);
}
parentPort.on('message', (message) => (message.jobs === undefined ? walk(message) : write(message)));
function write({ id, jobs, buffer }) {
  const data = Buffer.from(buffer);
  const stats = new Float64Array(jobs.length * 4);
  for (let index = 0; index < jobs.length; index++) {
    const [target, temp, offset, length, mode, keep] = jobs[index];
    const path = temp || target;
    let fd = -1;
    try {
      fd = fs.openSync(path, FLAGS, mode);
      for (let done = 0; done < length; ) done += fs.writeSync(fd, data, offset + done, length - done);
      let st = fs.fstatSync(fd);
      if ((st.mode & 0o777) !== mode) {
        fs.fchmodSync(fd, mode);
        st = fs.fstatSync(fd);
      }
      fs.closeSync(fd);
      fd = -1;
      if (temp) {
        if (keep) {
          // Best effort: without the second name the rename below frees the old file itself.
          try {
            fs.linkSync(target, keep);
          } catch {}
        }
        fs.renameSync(temp, target);
      }
      stats[index * 4] = st.size;
      stats[index * 4 + 1] = st.mtimeMs;
      stats[index * 4 + 2] = st.ino;
      stats[index * 4 + 3] = st.mode;
    } catch (error) {
      try {
        if (fd !== -1) fs.closeSync(fd);
        fs.rmSync(path, { force: true });
      } catch {}
      parentPort.postMessage({ id, done: index, stats, error: { code: error.code, syscall: error.syscall, message: String(error.message) } }, [stats.buffer]);
      return;
    }
  }
  parentPort.postMessage({ id, done: jobs.length, stats }, [stats.buffer]);
}
`;

/** One file to create: `temp` set means create there, then rename onto `target`. */
export interface WriteJob {
  target: string;
  temp: string | null;
  content: Buffer;
  mode: number;
  /**
   * With `temp`: a second name given to the file at `target` just before the rename replaces it
   * (a hard link, which never follows a symlink). The rename then only drops a name, and the old
   * file's blocks are freed when `keep` is removed later, off the generation's path (measured on
   * ext4: a rename that frees a 4 KiB file waits ~0.3 ms for the disk; one that does not, ~0.05 ms).
   */
  keep?: string | null;
}

export interface WrittenStat {
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
}

/** Thrown for the first job that failed; the ones before it were written. */
export class WriteJobError extends Error {
  constructor(
    readonly index: number,
    readonly written: WrittenStat[],
    readonly code: string | undefined,
    readonly syscall: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  id: number;
  done: number;
  stats: Float64Array;
  error?: { code?: string; syscall?: string; message: string };
}

/** Reading a folder or lstat-ing a file (`path`, relative) failed, for another reason than a file's absence. */
export class WalkError extends Error {
  constructor(
    readonly path: string,
    readonly action: 'read the folder' | 'inspect',
    readonly code: string | undefined,
    readonly syscall: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Per file, STAT_FIELDS numbers: size (-1: no longer a regular file), mtimeMs, ino, mode. */
export const STAT_FIELDS = 4;

/** What the writer thread found in the tasks it took (paths relative to the walk's root). */
export interface WalkFound {
  /** Regular files as the folder listing said, with their lstat in `stats` (STAT_FIELDS each). */
  files: string[];
  stats: Float64Array;
  others: string[];
  dirs: string[];
  links: string[];
}

interface WalkReply {
  id: number;
  files: string[];
  stats: Float64Array;
  others: string[];
  dirs: string[];
  links: string[];
  error?: { code?: string; syscall?: string; message: string; path: string; action: 'read the folder' | 'inspect' };
}

/** The writer thread: started on first use, unref'd (it never keeps the process alive). */
export class FileWriter {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (reply: never) => void; reject: (error: Error) => void }>();

  /**
   * Walks under `root` (an absolute real path; the paths are relative to it) alongside the caller:
   * task `i` of `chunks` followed by `dirs` is taken by whichever thread first gets `i` from
   * `Atomics.add` on the Int32 at the start of `counter`. A chunk's files are lstat'ed; a folder's
   * subtree is read and each regular file in it lstat'ed, never following a link. Resolves once
   * no task is left, with what this thread found; rejects with a WalkError.
   */
  async walk(root: string, chunks: readonly string[][], dirs: readonly string[], counter: SharedArrayBuffer): Promise<WalkFound> {
    const reply = await this.call<WalkReply>((id) => ({ id, root, chunks, dirs, counter }));
    if (reply.error) throw new WalkError(reply.error.path, reply.error.action, reply.error.code, reply.error.syscall, reply.error.message);
    return { files: reply.files, stats: reply.stats, others: reply.others, dirs: reply.dirs, links: reply.links };
  }

  /** Creates the files in order; resolves with their stats, or rejects with a WriteJobError. */
  async write(jobs: readonly WriteJob[]): Promise<WrittenStat[]> {
    if (jobs.length === 0) return [];
    const total = jobs.reduce((sum, job) => sum + job.content.length, 0);
    // One transferable buffer for the whole batch: no copy of the contents on the way over.
    const packed = Buffer.allocUnsafeSlow(total);
    let offset = 0;
    const messageJobs = jobs.map((job) => {
      job.content.copy(packed, offset);
      const entry = [job.target, job.temp, offset, job.content.length, job.mode, job.keep ?? null] as const;
      offset += job.content.length;
      return entry;
    });
    const reply = await this.call<Reply>((id) => ({ id, jobs: messageJobs, buffer: packed.buffer }), [packed.buffer as ArrayBuffer]);
    const written: WrittenStat[] = [];
    for (let index = 0; index < reply.done; index++) {
      const at = index * 4;
      written.push({ size: reply.stats[at], mtimeMs: reply.stats[at + 1], ino: reply.stats[at + 2], mode: reply.stats[at + 3] });
    }
    if (reply.error) throw new WriteJobError(reply.done, written, reply.error.code, reply.error.syscall, reply.error.message);
    return written;
  }

  private call<T>(message: (id: number) => object, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: never) => void, reject });
      try {
        this.thread().postMessage(message(id), transfer);
      } catch (error) {
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (reply: { id: number }) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiter?.resolve(reply as never);
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the file writer thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}
