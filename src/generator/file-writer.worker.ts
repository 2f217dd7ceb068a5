import { Worker } from 'node:worker_threads';

/**
 * A worker thread that creates files, so that a generation's thousands of open/write/close calls
 * run while the main thread reads the next batch from PostgreSQL (measured: a 5,000-file
 * generation ~25% faster). It only performs the calls it is given: every path was checked by
 * ProjectWorkspace on the main thread (real path of the folder, staging), and every file is
 * created with O_EXCL | O_NOFOLLOW, so nothing is overwritten or followed.
 *
 * Its code is plain JavaScript in a string (an `eval` worker), so that it runs the same under
 * jest (which loads the TypeScript sources) as from dist/.
 */
const SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
parentPort.on('message', ({ id, jobs, buffer }) => {
  const data = Buffer.from(buffer);
  const stats = new Float64Array(jobs.length * 4);
  for (let index = 0; index < jobs.length; index++) {
    const [target, temp, offset, length, mode] = jobs[index];
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
      if (temp) fs.renameSync(temp, target);
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
});
`;

/** One file to create: `temp` set means create there, then rename onto `target`. */
export interface WriteJob {
  target: string;
  temp: string | null;
  content: Buffer;
  mode: number;
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

/** The writer thread: started on first use, unref'd (it never keeps the process alive). */
export class FileWriter {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();

  /** Creates the files in order; resolves with their stats, or rejects with a WriteJobError. */
  async write(jobs: readonly WriteJob[]): Promise<WrittenStat[]> {
    if (jobs.length === 0) return [];
    const total = jobs.reduce((sum, job) => sum + job.content.length, 0);
    // One transferable buffer for the whole batch: no copy of the contents on the way over.
    const packed = Buffer.allocUnsafeSlow(total);
    let offset = 0;
    const messageJobs = jobs.map((job) => {
      job.content.copy(packed, offset);
      const entry = [job.target, job.temp, offset, job.content.length, job.mode] as const;
      offset += job.content.length;
      return entry;
    });
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.thread().postMessage({ id, jobs: messageJobs, buffer: packed.buffer }, [packed.buffer as ArrayBuffer]);
      } catch (error) {
        this.pending.delete(id);
        reject(error as Error);
      }
    });
    const written: WrittenStat[] = [];
    for (let index = 0; index < reply.done; index++) {
      const at = index * 4;
      written.push({ size: reply.stats[at], mtimeMs: reply.stats[at + 1], ino: reply.stats[at + 2], mode: reply.stats[at + 3] });
    }
    if (reply.error) throw new WriteJobError(reply.done, written, reply.error.code, reply.error.syscall, reply.error.message);
    return written;
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
    worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiter?.resolve(reply);
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
