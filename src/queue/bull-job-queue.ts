import { Inject, Injectable } from '@nestjs/common';
import { getSharedConfigToken } from '@nestjs/bull';
import type { BullRootModuleOptions } from '@nestjs/bull';
import Bull from 'bull';
import { AppConfig } from '../config/app-config.js';
import { ABORT_SETTLE_MS, assertJobName, backoffDelay, EnqueueOptions, JobBackoff, JobQueue, RegisteredJobType, RunningJobs } from './job-queue.js';

/** Bull's own exponential backoff is (2^n − 1) × delay; this one is the same function as in-process. */
const BACKOFF_STRATEGY = 'forgeline';
/** A handed-back job waits this long in the delayed set, so another worker (or the restarted one) takes it. */
const HAND_BACK_DELAY_MS = 1_000;

/** Bull 4 has Job#moveToDelayed (active → delayed, lock released, attempts untouched); its typings do not. */
type MovableJob = Bull.Job & { moveToDelayed(timestamp: number, ignoreLock?: boolean): Promise<void> };

export function bullRootOptions(config: AppConfig): BullRootModuleOptions {
  return {
    url: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    // Commands issued in one turn of the event loop (the jobs of ten concurrent steps completing,
    // their dependents being added) go to Redis in one write. The blocking fetch stays on its own.
    redis: { enableAutoPipelining: true, autoPipeliningIgnoredCommands: ['brpoplpush', 'bzpopmin'] },
    settings: {
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.JOB_LOCK_MS,
      backoffStrategies: {
        [BACKOFF_STRATEGY]: (attemptsMade: number, _error: Error, options?: JobBackoff) =>
          backoffDelay(options ?? { type: 'exponential', delayMs: config.JOB_BACKOFF_MS }, attemptsMade),
      },
    },
    // Nothing is kept once a job has finished: its outcome is in PostgreSQL, and a finished id
    // left in Redis would make the next enqueue of that id a silent no-op (Bull's jobId trap).
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
  };
}

/**
 * Jobs in Redis through Bull (configured by @nestjs/bull's BullModule.forRoot): one Bull queue
 * per job type, created on first use, because types register at run time (processors call
 * `register`) while @nestjs/bull's registerQueue needs the names when modules are built.
 */
@Injectable()
export class BullJobQueue extends JobQueue {
  readonly backend = 'bull' as const;

  private readonly queues = new Map<string, Bull.Queue>();
  private readonly running = new RunningJobs();

  constructor(
    config: AppConfig,
    @Inject(getSharedConfigToken()) private readonly options: BullRootModuleOptions,
  ) {
    super(config);
  }

  async enqueue<T>(name: string, data: T, options: EnqueueOptions): Promise<void> {
    assertJobName(name);
    const { attempts, backoff } = this.defaultsFor(name);
    const add = this.queue(name).add(data ?? null, {
      jobId: options.jobId,
      attempts,
      backoff: { type: BACKOFF_STRATEGY, options: backoff } as unknown as Bull.BackoffOptions,
      delay: options.delayMs,
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not accept the "${name}" job within JOB_ENQUEUE_TIMEOUT_MS=${this.config.JOB_ENQUEUE_TIMEOUT_MS}`)), this.config.JOB_ENQUEUE_TIMEOUT_MS);
    });
    try {
      // Adding an id that exists (waiting, active, delayed) is a no-op in Bull's addJob script.
      await Promise.race([add, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  protected startType(type: RegisteredJobType): void {
    if (type.concurrency === 0) return;
    void this.queue(type.name).process(type.concurrency, (job: Bull.Job) => this.run(type, job));
  }

  /** Stops fetching jobs here; other workers carry on. */
  protected async stopIntake(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.pause(true, true).catch(() => undefined)));
  }

  protected async drain(): Promise<void> {
    const handedBack = await this.running.finishOrAbort(this.config.JOB_SHUTDOWN_GRACE_MS, ABORT_SETTLE_MS);
    if (handedBack > 0) this.logger.warn(`${handedBack} running job(s) handed back to the queue`);
    await Promise.all([...this.queues.values()].map((queue) => queue.close(true).catch(() => undefined)));
    this.queues.clear();
  }

  private async run(type: RegisteredJobType, job: Bull.Job): Promise<void> {
    const ctx = { jobId: String(job.id), attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1, enqueuedAt: job.timestamp };
    let aborted = () => false;
    try {
      await this.running.track((signal) => {
        aborted = () => signal.aborted;
        return type.handler(job.data, { ...ctx, signal });
      });
    } catch (error) {
      if (!this.stopping || !aborted()) throw error;
      // Shutting down: back to the delayed set without using up an attempt. The promise Bull
      // waits on never settles (the job is no longer ours to complete or fail); close() does
      // not wait for it, and the process is about to exit.
      try {
        await (job as MovableJob).moveToDelayed(Date.now() + HAND_BACK_DELAY_MS);
        return new Promise<void>(() => undefined);
      } catch (moveError) {
        this.logger.warn(`could not hand back job ${ctx.jobId}: ${(moveError as Error).message}; it fails this attempt instead`);
        throw error;
      }
    }
  }

  private queue(name: string): Bull.Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      if (this.stopping) throw new Error('The job queue is shutting down');
      const { url, ...options } = this.options;
      queue = url ? new Bull(name, url, options) : new Bull(name, options);
      // An 'error' event without a listener would crash the process (Redis down, for instance).
      queue.on('error', (error: Error) => this.logger.warn(`queue "${name}": ${error.message}`));
      this.queues.set(name, queue);
    }
    return queue;
  }
}
