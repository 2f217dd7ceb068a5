import { Worker } from 'node:worker_threads';

/**
 * A worker thread for a generation's bulk filesystem calls, so that they run while the main
 * thread talks to PostgreSQL:
 * - it lstats half of the files a walk of a project's folder found, while the main thread lstats
 *   the other half (measured: the lstat of 5,000 files was the largest part of a regeneration
 *   after a small change);
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
function lstat({ id, root, paths }) {
  // size, mtimeMs, ino, mode per path; size -1: not a regular file (or gone).
  const stats = new Float64Array(paths.length * 4);
  for (let index = 0; index < paths.length; index++) {
    let st;
    try {
      st = fs.lstatSync(root + '/' + paths[index], { throwIfNoEntry: false });
    } catch (error) {
      return parentPort.postMessage({ id, error: failure(error, paths[index]) });
    }
    if (st === undefined || !st.isFile()) {
      stats[index * 4] = -1;
      continue;
    }
    stats[index * 4] = st.size;
    stats[index * 4 + 1] = st.mtimeMs;
    stats[index * 4 + 2] = st.ino;
    stats[index * 4 + 3] = st.mode;
  }
  parentPort.postMessage({ id, stats }, [stats.buffer]);
}
parentPort.on('message', (message) => (message.paths === undefined ? write(message) : lstat(message)));
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

/** lstat failed on `path` (relative) for another reason than its absence. */
export class LstatError extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    readonly syscall: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

interface LstatReply {
  id: number;
  stats: Float64Array;
  error?: { code?: string; syscall?: string; message: string; path: string };
}

/** The writer thread: started on first use, unref'd (it never keeps the process alive). */
export class FileWriter {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (reply: never) => void; reject: (error: Error) => void }>();

  /**
   * lstat of each path under `root` (an absolute real path; paths relative to it), never
   * following a symlink: the stat of a regular file, or null for anything else or nothing.
   */
  async lstat(root: string, paths: readonly string[]): Promise<Array<WrittenStat | null>> {
    if (paths.length === 0) return [];
    const reply = await this.call<LstatReply>((id) => ({ id, root, paths }));
    if (reply.error) throw new LstatError(reply.error.path, reply.error.code, reply.error.syscall, reply.error.message);
    const stats: Array<WrittenStat | null> = new Array(paths.length);
    for (let index = 0; index < paths.length; index++) {
      const at = index * 4;
      stats[index] = reply.stats[at] < 0 ? null : { size: reply.stats[at], mtimeMs: reply.stats[at + 1], ino: reply.stats[at + 2], mode: reply.stats[at + 3] };
    }
    return stats;
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
