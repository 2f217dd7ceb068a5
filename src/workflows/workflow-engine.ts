import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnModuleInit, Optional } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { InProcessJobQueue } from '../queue/in-process-job-queue.js';
import { JobContext, JobQueue, PendingJob } from '../queue/job-queue.js';
import { RunCache } from './run-cache.js';
import { RunEvents } from './run-events.js';
import { Execution, StepRunner } from './step-runner.js';
import { FinishOutcome, ReadyStep, StepRunStore } from './step-run.store.js';

/** The job type of workflow steps on the queue seam. */
export const WORKFLOW_STEP_JOB = 'workflow-step';
/** Heartbeats a running step may miss before another worker takes it over. */
export const STALE_HEARTBEATS = 3;

/** A job says only which step (and attempt) to work on: the rest is in PostgreSQL. */
export interface StepJob {
  runId: string;
  stepRunId: string;
  stepId: string;
  attempt: number;
  /** Upstream steps the step reads (so a worker new to the run claims and loads it in one call); the sweep leaves it out. */
  reads?: string[];
}

/**
 * Job ids: one per step attempt, so enqueueing the same attempt twice is a no-op and a retry
 * (a new attempt) is never swallowed by a job of the same id. A step taken over from a dead
 * worker gets `:r<claims>`, distinct from the dead worker's job still held in Redis.
 */
export const jobIdOf = (stepRunId: string, attempt: number, takeover?: number) => `${stepRunId}:${attempt}${takeover ? `:r${takeover}` : ''}`;

/**
 * Moves runs forward: each ready step is a job on the queue (Bull with Redis, in-process
 * otherwise); a job claims its step, runs it (StepRunner), records the result and queues the
 * steps it unblocks in one transaction, then enqueues them. Whatever a crash loses between the
 * commit and the enqueue, the queue's recovery sweep finds in PostgreSQL (queued steps, and
 * running ones whose worker stopped beating) and enqueues again.
 */
@Injectable()
export class WorkflowEngine implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Workflows');
  private readonly queue: JobQueue;
  /** Used when QueueModule is not loaded: the same semantics, in this process. */
  private readonly ownQueue?: InProcessJobQueue;
  private readonly executing = new Map<string, Execution>();
  private heartbeatTimer?: NodeJS.Timeout;
  private stopControl?: () => void;
  private stopping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly store: StepRunStore,
    private readonly runs: RunCache,
    private readonly runner: StepRunner,
    private readonly events: RunEvents,
    @Optional() jobs?: JobQueue,
  ) {
    if (jobs) this.queue = jobs;
    else {
      this.ownQueue = new InProcessJobQueue(config);
      this.queue = this.ownQueue;
    }
  }

  get staleMs(): number {
    return STALE_HEARTBEATS * this.config.WORKFLOW_STEP_HEARTBEAT_MS;
  }

  onModuleInit(): void {
    this.queue.register<StepJob>(WORKFLOW_STEP_JOB, (job, ctx) => this.handle(job, ctx), {
      concurrency: this.config.WORKFLOW_STEP_CONCURRENCY,
      recover: () => this.recoverable(),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.stopControl = await this.events.onControl((message) => {
      if (message.type === 'cancel') this.abortRun(message.runId, 'cancelled');
    });
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.config.WORKFLOW_STEP_HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    this.ownQueue?.onApplicationBootstrap();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.ownQueue?.beforeApplicationShutdown();
    clearInterval(this.heartbeatTimer);
    this.stopControl?.();
  }

  /** Enqueues ready steps. A failure is logged, not thrown: the step is queued in PostgreSQL, and the sweep enqueues it. */
  async dispatch(steps: ReadyStep[]): Promise<void> {
    await Promise.all(
      steps.map((step) =>
        this.queue
          .enqueue<StepJob>(
            WORKFLOW_STEP_JOB,
            { runId: step.runId, stepRunId: step.stepRunId, stepId: step.stepId, attempt: step.attempt, reads: this.runs.peek(step.runId)?.graph.reads.get(step.stepId) },
            { jobId: jobIdOf(step.stepRunId, step.attempt), delayMs: step.delayMs },
          )
          .catch((error: Error) => this.logger.warn(`could not enqueue step "${step.stepId}" of run ${step.runId} (the sweep will): ${error.message}`)),
      ),
    );
  }

  /** Aborts the steps of `runId` executing in this process (cancel reaches other processes through RunEvents). */
  abortRun(runId: string, reason: 'cancelled'): void {
    for (const execution of this.executing.values()) if (execution.runId === runId) execution.abort(reason);
  }

  /** One job: claim, run, record, enqueue what became ready. Safe to run twice. */
  private async handle(job: StepJob, jobCtx: JobContext): Promise<void> {
    // A worker new to the run gets it with the claim, when the job says what the step reads.
    let run = this.runs.peek(job.runId) ?? (job.reads ? undefined : await this.runs.get(job.runId));
    if (!run && !job.reads) return;
    const claimed = await this.store.claim(job.stepRunId, job.attempt, this.staleMs, run?.graph.reads.get(job.stepId) ?? job.reads ?? [], !run);
    if (!claimed) return;
    run ??= claimed.run ? this.runs.add(claimed.runId, claimed.run) : undefined;
    if (!run) return;
    const at = () => new Date().toISOString();
    if (claimed.runStarted) this.events.publish({ type: 'run', runId: run.id, status: 'running', at: at() });
    this.events.publish({ type: 'step', runId: run.id, stepId: claimed.stepId, status: 'running', attempt: claimed.attempt, at: at() });
    const end = await this.runner.execute(run, claimed, jobCtx.signal, (execution) => {
      this.executing.set(execution.stepRunId, execution);
      return () => this.executing.delete(execution.stepRunId);
    });
    if (end.status === 'abandoned') return;
    if (end.status === 'released') {
      await this.store.release(claimed.id, claimed.executions);
      throw new Error('shutting down: the step is handed back');
    }
    const outcome = await this.store.finish(claimed, end, run.graph);
    if (!outcome.recorded) return;
    await this.dispatch(outcome.ready);
    this.announce(run.id, outcome);
  }

  /** Publishes what a finish changed. */
  announce(runId: string, outcome: Pick<FinishOutcome, 'changes' | 'run' | 'runStarted'>): void {
    const at = new Date().toISOString();
    if (outcome.runStarted) this.events.publish({ type: 'run', runId, status: 'running', at });
    for (const change of outcome.changes) this.events.publish({ type: 'step', runId, ...change, at });
    if (outcome.run) this.events.publish({ type: 'run', runId, ...outcome.run, at });
  }

  private async recoverable(): Promise<Array<PendingJob<StepJob>>> {
    const steps = await this.store.recoverable(this.staleMs);
    return steps
      .filter((step) => !this.executing.has(step.stepRunId))
      .map((step) => ({
        jobId: jobIdOf(step.stepRunId, step.attempt, step.status === 'running' ? step.executions : undefined),
        data: { runId: step.runId, stepRunId: step.stepRunId, stepId: step.stepId, attempt: step.attempt },
      }));
  }

  /** One write for every step executing here; a step found no longer ours (cancelled, taken over) is aborted. */
  private async heartbeat(): Promise<void> {
    if (this.executing.size === 0 || this.stopping) return;
    const executions = [...this.executing.values()];
    try {
      const lost = await this.store.heartbeat(executions.map(({ stepRunId, executions: n }) => ({ id: stepRunId, executions: n })));
      for (const execution of executions) if (lost.has(execution.stepRunId)) execution.abort('lost');
    } catch (error) {
      this.logger.warn(`workflow step heartbeat failed: ${(error as Error).message}`);
    }
  }
}
