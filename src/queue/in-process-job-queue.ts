import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ABORT_SETTLE_MS, assertJobName, backoffDelay, EnqueueOptions, JobQueue, RegisteredJobType, RunningJobs } from './job-queue.js';

interface Entry {
  name: string;
  jobId: string;
  /** JSON text, as Bull stores it: each run gets a fresh copy, exactly as from Redis. */
  data: string;
  attemptsMade: number;
  attempts: number;
  backoff: RegisteredJobType['backoff'];
  enqueuedAt: number;
}

/**
 * Runs jobs in this process, with Bull's semantics: idempotent job ids while pending, per-type
 * concurrency, retries with backoff, hand-back on shutdown. Pending jobs live only in memory:
 * after a restart, the recovery sweep re-enqueues what PostgreSQL shows unfinished.
 */
@Injectable()
export class InProcessJobQueue extends JobQueue {
  readonly backend = 'in-process' as const;

  /** Every job not finished yet (waiting, delayed, running, between retries), by type and id. */
  private readonly pending = new Map<string, Entry>();
  private readonly waiting = new Map<string, Entry[]>();
  private readonly active = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new RunningJobs();

  constructor(config: AppConfig) {
    super(config);
  }

  async enqueue<T>(name: string, data: T, options: EnqueueOptions): Promise<void> {
    assertJobName(name);
    const key = `${name}\u0000${options.jobId}`;
    if (this.pending.has(key)) return;
    const { attempts, backoff } = this.defaultsFor(name);
    const entry: Entry = { name, jobId: options.jobId, data: JSON.stringify(data ?? null), attemptsMade: 0, attempts, backoff, enqueuedAt: Date.now() };
    this.pending.set(key, entry);
    this.schedule(entry, options.delayMs ?? 0);
  }

  protected startType(type: RegisteredJobType): void {
    if (type.concurrency === 0) this.logger.warn(`"${type.name}" jobs will not run in this process: WORKER_CONCURRENCY is 0 and there is no REDIS_URL to hand them to another`);
    this.pump(type.name);
  }

  protected async stopIntake(): Promise<void> {
    // Delayed jobs and retries stay pending: the next start's sweep finds their work.
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  protected async drain(): Promise<void> {
    const handedBack = await this.running.finishOrAbort(this.config.JOB_SHUTDOWN_GRACE_MS, ABORT_SETTLE_MS);
    const left = this.pending.size;
    if (handedBack > 0 || left > 0) {
      this.logger.warn(`stopped with ${left} unfinished job(s) (${handedBack} aborted while running); the start-up sweep of the next process re-enqueues their work`);
    }
  }

  private schedule(entry: Entry, delayMs: number): void {
    if (this.stopping) return;
    if (delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.schedule(entry, 0);
      }, delayMs);
      this.timers.add(timer);
      return;
    }
    const queue = this.waiting.get(entry.name) ?? [];
    queue.push(entry);
    this.waiting.set(entry.name, queue);
    this.pump(entry.name);
  }

  private pump(name: string): void {
    const type = this.types.get(name);
    if (!type || !this.started || this.stopping) return;
    const queue = this.waiting.get(name) ?? [];
    while (queue.length > 0 && (this.active.get(name) ?? 0) < type.concurrency) {
      this.start(type, queue.shift() as Entry);
    }
  }

  private start(type: RegisteredJobType, entry: Entry): void {
    this.active.set(type.name, (this.active.get(type.name) ?? 0) + 1);
    const attempt = entry.attemptsMade + 1;
    let aborted = () => false;
    void this.running
      .track((signal) => {
        aborted = () => signal.aborted;
        return type.handler(JSON.parse(entry.data), { jobId: entry.jobId, attempt, maxAttempts: entry.attempts, enqueuedAt: entry.enqueuedAt, signal });
      })
      .then(
        () => this.pending.delete(`${entry.name}\u0000${entry.jobId}`),
        (error: unknown) => this.failed(entry, attempt, error, aborted()),
      )
      .finally(() => {
        this.active.set(type.name, (this.active.get(type.name) ?? 1) - 1);
        // Not synchronously: a job that fails at once must not recurse through pump.
        setImmediate(() => this.pump(type.name));
      });
  }

  private failed(entry: Entry, attempt: number, error: unknown, aborted: boolean): void {
    const message = error instanceof Error ? error.message : String(error);
    // Aborted by the shutdown: handed back. It stays pending here, and the next start's sweep finds its work.
    if (this.stopping && aborted) return;
    entry.attemptsMade = attempt;
    if (attempt < entry.attempts) {
      const delay = backoffDelay(entry.backoff, attempt);
      this.logger.warn(`"${entry.name}" job ${entry.jobId} failed (attempt ${attempt}/${entry.attempts}), retrying in ${delay} ms: ${message}`);
      this.schedule(entry, delay);
      return;
    }
    this.pending.delete(`${entry.name}\u0000${entry.jobId}`);
    this.logger.error(`"${entry.name}" job ${entry.jobId} failed for good after ${attempt} attempt(s): ${message}`);
  }
}
