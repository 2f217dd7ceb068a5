import { BeforeApplicationShutdown, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';

/**
 * The background-jobs seam: one API whether jobs go through Redis (Bull, REDIS_URL set) or run
 * in-process (no REDIS_URL). Jobs are small ("work on row X now"): PostgreSQL holds the state of
 * the work, the queue only says when to do it, so a handler reads its row, is safe to run twice,
 * and `recover` lets the queue re-enqueue work that PostgreSQL shows unfinished.
 *
 * A processor registers its handler once, in `onModuleInit`:
 *
 *   constructor(private readonly jobs: JobQueue) {}
 *   onModuleInit() {
 *     this.jobs.register<{ exportId: string }>('export', (data, ctx) => this.run(data.exportId, ctx), {
 *       recover: async () => (await this.unfinished()).map((id) => ({ jobId: `export:${id}`, data: { exportId: id } })),
 *     });
 *   }
 *
 * and any code enqueues: `await jobs.enqueue('export', { exportId }, { jobId: \`export:${exportId}\` })`.
 */

/** What a handler knows about the run it is in. */
export interface JobContext {
  /** The id the job was enqueued with. */
  jobId: string;
  /** 1 on the first run, 2 on the first retry, and so on. */
  attempt: number;
  /** Attempts in all: `attempt === maxAttempts` is the last one, after which a throw fails the job for good. */
  maxAttempts: number;
  /**
   * When the job was enqueued (ms since the epoch). A job older than JOB_LOCK_MS may be a
   * delivery again of one that already ran (Bull hands out a job whose worker stopped once its
   * lock expires).
   */
  enqueuedAt: number;
  /**
   * Aborted when this process shuts down and JOB_SHUTDOWN_GRACE_MS is over: stop soon and throw;
   * the job is handed back (run again later, here or elsewhere) without using up an attempt.
   */
  signal: AbortSignal;
}

/** Resolves when the work is done; a throw is a failed attempt (retried with backoff until the last). */
export type JobHandler<T> = (data: T, ctx: JobContext) => Promise<void>;

export interface JobBackoff {
  /** `exponential`: delayMs, then 2×, 4×…; `fixed`: delayMs every time. */
  type: 'fixed' | 'exponential';
  delayMs: number;
}

/** A job that PostgreSQL shows unfinished, to enqueue again (with the id it was first enqueued with). */
export interface PendingJob<T> {
  jobId: string;
  data: T;
}

export interface JobTypeOptions<T> {
  /** Jobs of this type this process runs at once. Default WORKER_CONCURRENCY; WORKER_CONCURRENCY=0 runs none here. */
  concurrency?: number;
  /** Default JOB_ATTEMPTS. */
  attempts?: number;
  /** Default exponential from JOB_BACKOFF_MS. */
  backoff?: JobBackoff;
  /** The unfinished work, read from PostgreSQL: enqueued at start-up and every QUEUE_SWEEP_INTERVAL_MS. */
  recover?: () => Promise<Array<PendingJob<T>>>;
}

export interface EnqueueOptions {
  /**
   * Makes enqueueing idempotent: while a job with this id is waiting, delayed, running or between
   * retries, enqueueing it again does nothing. A finished job leaves nothing behind (in Redis or
   * in memory), so the same id enqueued afterwards runs again; a deliberate re-run of finished
   * work should still use a fresh id (for instance `<rowId>:<attempt>`), which reads better.
   */
  jobId: string;
  /** Run no sooner than this many milliseconds from now. */
  delayMs?: number;
}

export interface RegisteredJobType<T = unknown> {
  name: string;
  handler: JobHandler<T>;
  concurrency: number;
  attempts: number;
  backoff: JobBackoff;
  recover?: () => Promise<Array<PendingJob<T>>>;
}

const JOB_NAME = /^[a-z][a-z0-9-]{0,49}$/;

export function assertJobName(name: string): void {
  if (!JOB_NAME.test(name)) throw new Error(`Job type "${name}" must be lowercase letters, digits and "-", starting with a letter (at most 50)`);
}

/** The delay before retry number `retry` (1 for the first retry). */
export function backoffDelay(backoff: JobBackoff, retry: number): number {
  return backoff.type === 'fixed' ? backoff.delayMs : backoff.delayMs * 2 ** (retry - 1);
}

/** Waits `ms`, or less when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The injectable seam (QueueModule provides the backend chosen by REDIS_URL). Registration,
 * defaults and the recovery sweep are shared; the backends only move jobs.
 */
export abstract class JobQueue implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  /** Which backend runs the jobs: `bull` (Redis) or `in-process`. */
  abstract readonly backend: 'bull' | 'in-process';

  protected readonly logger = new Logger('Jobs');
  protected readonly types = new Map<string, RegisteredJobType>();
  protected started = false;
  protected stopping = false;
  private drained = false;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;

  constructor(protected readonly config: AppConfig) {}

  /**
   * Registers the handler of one job type in this process (call it from `onModuleInit`). Every
   * process that registers a type runs jobs of that type (unless WORKER_CONCURRENCY is 0).
   */
  register<T>(name: string, handler: JobHandler<T>, options: JobTypeOptions<T> = {}): void {
    assertJobName(name);
    if (this.types.has(name)) throw new Error(`Job type "${name}" is registered twice`);
    const concurrency = this.config.WORKER_CONCURRENCY === 0 ? 0 : options.concurrency ?? this.config.WORKER_CONCURRENCY;
    const type: RegisteredJobType<T> = {
      name,
      handler,
      concurrency,
      attempts: options.attempts ?? this.config.JOB_ATTEMPTS,
      backoff: options.backoff ?? { type: 'exponential', delayMs: this.config.JOB_BACKOFF_MS },
      recover: options.recover,
    };
    this.types.set(name, type as RegisteredJobType);
    if (this.started && !this.stopping) this.startType(type as RegisteredJobType);
  }

  /**
   * Stores the job (Redis) or queues it (in-process); resolves once it is accepted, not when it
   * has run. `data` must survive JSON (it does go through JSON in both backends).
   */
  abstract enqueue<T>(name: string, data: T, options: EnqueueOptions): Promise<void>;

  /** Begins running jobs of a registered type in this process. */
  protected abstract startType(type: RegisteredJobType): void;

  /** Stops taking new jobs in this process (running ones carry on). */
  protected abstract stopIntake(): Promise<void>;

  /** Lets running jobs finish or hands them back, then releases connections. */
  protected abstract drain(): Promise<void>;

  /** All processors have registered (onModuleInit is over): start running, then sweep. */
  onApplicationBootstrap(): void {
    this.started = true;
    for (const type of this.types.values()) this.startType(type);
    void this.sweep();
    if (this.config.QUEUE_SWEEP_INTERVAL_MS > 0) {
      this.sweepTimer = setInterval(() => void this.sweep(), this.config.QUEUE_SWEEP_INTERVAL_MS);
      this.sweepTimer.unref();
    }
  }

  /** First step of a shutdown: no new job starts here from now on. */
  async onModuleDestroy(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.sweepTimer);
    await this.stopIntake();
  }

  /**
   * Runs before the database closes, so handlers finishing now can still write their state.
   * Providers that running jobs use must release their resources later, in onApplicationShutdown.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.onModuleDestroy();
    if (this.drained) return;
    this.drained = true;
    await this.sweeping;
    await this.drain();
  }

  /** Re-enqueues the unfinished work every registered type reports. Never throws. */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      for (const type of this.types.values()) {
        if (!type.recover || this.stopping) continue;
        try {
          const pending = await type.recover();
          for (const job of pending) {
            if (this.stopping) break;
            await this.enqueue(type.name, job.data, { jobId: job.jobId });
          }
          if (pending.length > 0) this.logger.debug(`sweep: ${pending.length} unfinished "${type.name}" job(s) enqueued again (already queued ones are left as they are)`);
        } catch (error) {
          this.logger.warn(`sweep of "${type.name}" failed: ${(error as Error).message}`);
        }
      }
    })().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  protected defaultsFor(name: string): Pick<RegisteredJobType, 'attempts' | 'backoff'> {
    const type = this.types.get(name);
    return {
      attempts: type?.attempts ?? this.config.JOB_ATTEMPTS,
      backoff: type?.backoff ?? { type: 'exponential', delayMs: this.config.JOB_BACKOFF_MS },
    };
  }
}

/** Bookkeeping of the jobs running in this process, shared by both backends' shutdown. */
export class RunningJobs {
  private readonly running = new Map<symbol, { controller: AbortController; settled: Promise<unknown> }>();

  get size(): number {
    return this.running.size;
  }

  /** Runs `work` with a fresh AbortController, tracked until it settles. */
  track<R>(work: (signal: AbortSignal) => Promise<R>): Promise<R> {
    const key = Symbol('job');
    const controller = new AbortController();
    const promise = work(controller.signal);
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.running.set(key, { controller, settled });
    void settled.finally(() => this.running.delete(key));
    return promise;
  }

  /** Waits up to `graceMs` for the running jobs, aborts the rest, and waits up to `settleMs` for them to stop. */
  async finishOrAbort(graceMs: number, settleMs: number): Promise<number> {
    await waitFor(this.allSettled(), graceMs);
    const left = this.running.size;
    if (left === 0) return 0;
    for (const job of this.running.values()) job.controller.abort(new Error('shutting down: the job is handed back'));
    await waitFor(this.allSettled(), settleMs);
    return left;
  }

  private allSettled(): Promise<unknown> {
    return Promise.all([...this.running.values()].map((job) => job.settled));
  }
}

async function waitFor(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** How long aborted jobs get to stop before the process moves on (they were told through their signal). */
export const ABORT_SETTLE_MS = 2_000;
