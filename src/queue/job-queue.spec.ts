import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../config/app-config.js';
import { bullRootOptions, BullJobQueue } from './bull-job-queue.js';
import { InProcessJobQueue } from './in-process-job-queue.js';
import { JobContext, JobQueue, sleep } from './job-queue.js';

const REDIS_URL = process.env.REDIS_URL;
/** One prefix per run of this file: other test files (and other runs) never see these jobs. */
const PREFIX = `fl-test-queue-${randomBytes(4).toString('hex')}`;

type Factory = (env?: Record<string, string>) => JobQueue;

const configOf = (env: Record<string, string>) =>
  loadConfig({ JOB_BACKOFF_MS: '50', JOB_ATTEMPTS: '3', JOB_SHUTDOWN_GRACE_MS: '300', QUEUE_SWEEP_INTERVAL_MS: '0', WORKER_CONCURRENCY: '2', ...env }, '');

const inProcess: Factory = (env = {}) => new InProcessJobQueue(configOf(env));
const bull: Factory = (env = {}) => {
  const config = configOf({ REDIS_URL: REDIS_URL as string, QUEUE_PREFIX: PREFIX, ...env });
  return new BullJobQueue(config, bullRootOptions(config));
};

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The same behaviours, whichever backend runs them. */
function behaves(backend: string, make: Factory) {
  describe(`job queue (${backend})`, () => {
    const open: JobQueue[] = [];
    const start = (env?: Record<string, string>) => {
      const queue = make(env);
      open.push(queue);
      return queue;
    };
    /** A job type name of its own per test, so tests sharing one Redis prefix never meet. */
    let type: string;
    beforeEach(() => {
      type = `t${randomBytes(4).toString('hex')}`;
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((queue) => queue.beforeApplicationShutdown()));
    });

    it('runs a job with its data (through JSON) and its context', async () => {
      const queue = start();
      const seen: Array<[unknown, Omit<JobContext, 'signal'>]> = [];
      queue.register<{ n: number; at: Date }>(type, async (data, { jobId, attempt, maxAttempts, enqueuedAt }) => void seen.push([data, { jobId, attempt, maxAttempts, enqueuedAt }]));
      queue.onApplicationBootstrap();
      const before = Date.now();
      await queue.enqueue(type, { n: 1, at: new Date('2026-01-02T03:04:05Z') }, { jobId: 'row-1' });
      await until('the job', () => seen.length === 1);
      expect(seen[0]).toEqual([{ n: 1, at: '2026-01-02T03:04:05.000Z' }, { jobId: 'row-1', attempt: 1, maxAttempts: 3, enqueuedAt: expect.any(Number) }]);
      expect(seen[0][1].enqueuedAt).toBeGreaterThanOrEqual(before);
      expect(seen[0][1].enqueuedAt).toBeLessThanOrEqual(Date.now());
    });

    it('ignores a second enqueue of a job id that is still pending, and runs it again once finished', async () => {
      const queue = start();
      let runs = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      queue.register(type, async () => {
        runs++;
        await gate;
      });
      queue.onApplicationBootstrap();
      await queue.enqueue(type, {}, { jobId: 'same' });
      await until('the first run', () => runs === 1);
      await queue.enqueue(type, {}, { jobId: 'same' });
      await queue.enqueue(type, {}, { jobId: 'same' });
      release();
      await sleep(200);
      expect(runs).toBe(1);
      // Finished jobs leave nothing behind: the same id is accepted again (no silent no-op).
      await queue.enqueue(type, {}, { jobId: 'same' });
      await until('the second run', () => runs === 2);
    });

    it('retries a failing job with backoff and reports each attempt', async () => {
      const queue = start();
      const attempts: Array<{ attempt: number; at: number }> = [];
      queue.register(type, async (_data, { attempt }) => {
        attempts.push({ attempt, at: Date.now() });
        if (attempt < 3) throw new Error(`transient failure ${attempt}`);
      }, { backoff: { type: 'exponential', delayMs: 100 } });
      queue.onApplicationBootstrap();
      await queue.enqueue(type, {}, { jobId: 'flaky' });
      await until('the third attempt', () => attempts.length === 3);
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
      expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(90);
      expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(190);
      await sleep(300);
      expect(attempts).toHaveLength(3);
    });

    it('stops after the last attempt', async () => {
      const queue = start();
      const attempts: number[] = [];
      queue.register(type, async (_data, { attempt, maxAttempts }) => {
        attempts.push(attempt);
        expect(maxAttempts).toBe(2);
        throw new Error('always fails');
      }, { attempts: 2, backoff: { type: 'fixed', delayMs: 20 } });
      queue.onApplicationBootstrap();
      await queue.enqueue(type, {}, { jobId: 'doomed' });
      await until('two attempts', () => attempts.length === 2);
      await sleep(300);
      expect(attempts).toEqual([1, 2]);
    });

    it('runs at most `concurrency` jobs of a type at once', async () => {
      const queue = start();
      let running = 0;
      let peak = 0;
      let done = 0;
      queue.register(type, async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(100);
        running--;
        done++;
      }, { concurrency: 2 });
      queue.onApplicationBootstrap();
      for (let i = 0; i < 6; i++) await queue.enqueue(type, { i }, { jobId: `c${i}` });
      await until('six jobs', () => done === 6);
      expect(peak).toBe(2);
    });

    it('waits `delayMs` before running a job', async () => {
      const queue = start();
      const enqueuedAt = Date.now();
      let ranAt = 0;
      queue.register(type, async () => void (ranAt = Date.now()));
      queue.onApplicationBootstrap();
      await queue.enqueue(type, {}, { jobId: 'later', delayMs: 300 });
      await until('the delayed job', () => ranAt > 0);
      expect(ranAt - enqueuedAt).toBeGreaterThanOrEqual(280);
    });

    it('enqueues the unfinished work that `recover` reports when it starts', async () => {
      const queue = start();
      const ran: string[] = [];
      queue.register<{ row: string }>(type, async ({ row }) => void ran.push(row), {
        recover: async () => [{ jobId: 'r1', data: { row: 'r1' } }, { jobId: 'r2', data: { row: 'r2' } }],
      });
      queue.onApplicationBootstrap();
      await until('both recovered jobs', () => ran.length === 2);
      await queue.sweep(); // Sweeping again while they are done runs them again: handlers must be idempotent.
      await until('the second sweep', () => ran.length === 4);
      expect(ran.sort()).toEqual(['r1', 'r1', 'r2', 'r2']);
    });

    it('lets a running job finish within the shutdown grace period', async () => {
      const queue = make();
      let finished = false;
      queue.register(type, async () => {
        await sleep(150);
        finished = true;
      });
      queue.onApplicationBootstrap();
      await queue.enqueue(type, {}, { jobId: 'short' });
      await sleep(50);
      await queue.beforeApplicationShutdown();
      expect(finished).toBe(true);
    });

    it('aborts a job that outlives the grace period through its signal', async () => {
      const queue = make({ JOB_SHUTDOWN_GRACE_MS: '100' });
      let started = false;
      let sawAbort = false;
      queue.register(type, async (_data, { signal }) => {
        started = true;
        await sleep(30_000, signal);
        sawAbort = signal.aborted;
        throw new Error('aborted');
      });
      queue.onApplicationBootstrap();
      await queue.enqueue(type, {}, { jobId: 'long' });
      await until('the start', () => started);
      await queue.beforeApplicationShutdown();
      // Shutdown returned with the job's 30 s sleep cut short by its signal, not finished.
      expect(sawAbort).toBe(true);
    });
  });
}

behaves('in-process', inProcess);

const describeRedis = REDIS_URL ? describe : describe.skip;

describeRedis(REDIS_URL ? 'job queue (bull, Redis at REDIS_URL)' : 'job queue (bull): SKIPPED, REDIS_URL is not set', () => {
  behaves('bull', bull);

  afterAll(async () => {
    const redis = new Redis(REDIS_URL as string);
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('hands a job aborted by shutdown back to Redis, where another worker runs it without using up an attempt', async () => {
    const type = `h${randomBytes(4).toString('hex')}`;
    const first = bull({ JOB_SHUTDOWN_GRACE_MS: '100' });
    const seen: Array<{ worker: string; attempt: number }> = [];
    first.register(type, async (_data, { attempt, signal }) => {
      seen.push({ worker: 'first', attempt });
      await sleep(30_000, signal);
      throw new Error('aborted by shutdown');
    });
    first.onApplicationBootstrap();
    await first.enqueue(type, { row: 'x' }, { jobId: 'handed-back' });
    await until('the first worker to start it', () => seen.length === 1);
    await first.beforeApplicationShutdown();

    const second = bull();
    second.register(type, async (_data, { attempt }) => void seen.push({ worker: 'second', attempt }));
    second.onApplicationBootstrap();
    try {
      await until('the second worker to run it', () => seen.length === 2);
      expect(seen).toEqual([{ worker: 'first', attempt: 1 }, { worker: 'second', attempt: 1 }]);
    } finally {
      await second.beforeApplicationShutdown();
    }
  });

  it('lets a producer with WORKER_CONCURRENCY=0 hand its jobs to a worker process', async () => {
    const type = `p${randomBytes(4).toString('hex')}`;
    const producer = bull({ WORKER_CONCURRENCY: '0' });
    const worker = bull();
    const ran: string[] = [];
    producer.register<{ by: string }>(type, async () => void ran.push('producer'));
    worker.register<{ by: string }>(type, async () => void ran.push('worker'));
    producer.onApplicationBootstrap();
    worker.onApplicationBootstrap();
    try {
      for (let i = 0; i < 5; i++) await producer.enqueue(type, { by: 'producer' }, { jobId: `p${i}` });
      await until('five jobs', () => ran.length === 5);
      expect(new Set(ran)).toEqual(new Set(['worker']));
    } finally {
      await Promise.all([producer.beforeApplicationShutdown(), worker.beforeApplicationShutdown()]);
    }
  });
});
