import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnModuleInit, Optional } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { InProcessJobQueue } from '../queue/in-process-job-queue.js';
import { JobContext, JobQueue, PendingJob } from '../queue/job-queue.js';
import { RunCache } from './run-cache.js';
import { RunEvents } from './run-events.js';
import type { RunContext } from './run-cache.js';
import { Execution, ExecutionEnd, StepRunner } from './step-runner.js';
import { ClaimedStep, FinishOutcome, ReadyStep, StepResult, StepRunStore } from './step-run.store.js';

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
  /**
   * Set when the step was never claimed and was queued by the one step it reads, which hands over
   * its status and output: the step may run before it is claimed (WORKFLOW_STEP_CLAIM_DELAY_MS),
   * with what the claim would have given (its last attempt, what it reads).
   */
  unclaimed?: { lastAttempt: number; reads: ClaimedStep['reads'] };
}

/**
 * Job ids: one per step attempt, so enqueueing the same attempt twice is a no-op and a retry
 * (a new attempt) is never swallowed by a job of the same id. A step queued again after its
 * claim number <claims> (taken over from a dead worker, or handed back at shutdown after it was
 * claimed) gets `:r<claims>`, distinct from the earlier job still held in Redis.
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
  /** Runs cancelled since this process started, the latest WORKFLOW_RUN_CACHE_SIZE: their steps never run before their claim. */
  private readonly cancelled = new Set<string>();
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
            {
              runId: step.runId,
              stepRunId: step.stepRunId,
              stepId: step.stepId,
              attempt: step.attempt,
              reads: this.runs.peek(step.runId)?.graph.reads.get(step.stepId),
              unclaimed: step.unclaimed?.reads && { lastAttempt: step.unclaimed.lastAttempt, reads: step.unclaimed.reads },
            },
            { jobId: jobIdOf(step.stepRunId, step.attempt, step.takeover), delayMs: step.delayMs },
          )
          .catch((error: Error) => this.logger.warn(`could not enqueue step "${step.stepId}" of run ${step.runId} (the sweep will): ${error.message}`)),
      ),
    );
  }

  /**
   * Aborts the steps of `runId` executing in this process (cancel reaches other processes through
   * RunEvents). A job of the run still waiting here then claims its step before running it (the
   * claim of a cancelled step fails), instead of running it before its claim.
   */
  abortRun(runId: string, reason: 'cancelled'): void {
    this.cancelled.add(runId);
    if (this.cancelled.size > this.config.WORKFLOW_RUN_CACHE_SIZE) this.cancelled.delete(this.cancelled.values().next().value as string);
    for (const execution of this.executing.values()) if (execution.runId === runId) execution.abort(reason);
  }

  /**
   * One job: claim, run, record, enqueue what became ready. Safe to run twice. A step never
   * claimed, whose job carries what it reads (handed over by the step that queued it), runs at
   * once instead, and is claimed only if it is still running after WORKFLOW_STEP_CLAIM_DELAY_MS:
   * a quick step is claimed and recorded in one write (its finish), and a cancel or another
   * worker's claim meanwhile makes that write a no-op.
   */
  private async handle(job: StepJob, jobCtx: JobContext): Promise<void> {
    const delayMs = this.config.WORKFLOW_STEP_CLAIM_DELAY_MS;
    // What the job hands over holds only for its first delivery: a retry of the job, or a job
    // delivered again (Bull hands out a job whose worker stopped once its lock expires), may find
    // the step claimed since, with a checkpoint to resume from, so it claims first.
    const firstDelivery = jobCtx.attempt === 1 && Date.now() - jobCtx.enqueuedAt < this.config.JOB_LOCK_MS;
    // (A worker new to the run claims it at once: the claim brings the run along.)
    const known = job.unclaimed && delayMs > 0 && firstDelivery && !this.cancelled.has(job.runId) ? this.runs.peek(job.runId) : undefined;
    const definition = known?.graph.steps.get(job.stepId);
    if (known && definition && job.unclaimed) {
      const step: ClaimedStep = {
        id: job.stepRunId,
        runId: known.id,
        stepId: job.stepId,
        type: definition.type,
        attempt: job.attempt,
        lastAttempt: job.unclaimed.lastAttempt,
        executions: 0,
        runStarted: false,
        reads: job.unclaimed.reads,
        checkpoint: null,
      };
      const claim = () => this.store.claim(step.id, step.attempt, this.staleMs, [], false);
      return this.run(known, step, jobCtx, new DeferredClaim(step, claim, delayMs, () => this.executing.get(step.id)?.abort('lost')));
    }
    // A worker new to the run gets it with the claim, when the job says what the step reads.
    let run = this.runs.peek(job.runId) ?? (job.reads ? undefined : await this.runs.get(job.runId));
    if (!run && !job.reads) return;
    const claimed = await this.store.claim(job.stepRunId, job.attempt, this.staleMs, run?.graph.reads.get(job.stepId) ?? job.reads ?? [], !run);
    if (!claimed) return;
    run ??= claimed.run ? this.runs.add(claimed.runId, claimed.run) : undefined;
    if (!run) return;
    if (claimed.runStarted) this.events.publish({ type: 'run', runId: run.id, status: 'running', at: new Date().toISOString() });
    return this.run(run, claimed, jobCtx);
  }

  /** Executes a step (claimed, or with its deferred claim), records how it ended and enqueues what became ready. */
  private async run(run: RunContext, step: ClaimedStep, jobCtx: JobContext, deferred?: DeferredClaim): Promise<void> {
    const started = performance.now();
    this.events.publish({ type: 'step', runId: run.id, stepId: step.stepId, status: 'running', attempt: step.attempt, at: new Date().toISOString() });
    let end: ExecutionEnd;
    try {
      end = await this.runner.execute(
        run,
        step,
        jobCtx.signal,
        (execution) => {
          this.executing.set(execution.step.id, execution);
          // A cancel that came while the step was being prepared (its secrets read) found nothing to abort.
          if (this.cancelled.has(run.id)) execution.abort('cancelled');
          return () => this.executing.delete(execution.step.id);
        },
        deferred && (() => deferred.now()),
      );
    } finally {
      deferred?.stop();
    }
    // A claim on its way decides whether the step is still this worker's.
    if (deferred?.started && !(await deferred.now())) return;
    if (end.status === 'abandoned') return;
    if (end.status === 'released') {
      if (step.executions > 0) await this.store.release(step.id, step.executions);
      if (deferred && step.executions > 0) {
        // Claimed while it ran before its claim: the job handed back would run it so again, from
        // the start. A job of its own resumes it through a claim (checkpoint included) instead.
        await this.dispatch([{ stepRunId: step.id, runId: run.id, stepId: step.stepId, attempt: step.attempt, takeover: step.executions }]);
        return;
      }
      throw new Error('shutting down: the step is handed back');
    }
    if (end.status === 'retry' && step.executions === 0 && !(await deferred?.now())) return;
    const outcome = await this.store.finish(step, end, run.graph, performance.now() - started);
    if (!outcome.recorded) return;
    this.handOver(run, step, end, outcome.ready);
    await this.dispatch(outcome.ready);
    this.announce(run.id, outcome);
  }

  /**
   * Gives each step this one queued, never claimed, that reads only this step, this step's status
   * and output (when small: WORKFLOW_HANDOFF_OUTPUT_BYTES), so it can run before its claim.
   */
  private handOver(run: RunContext, step: ClaimedStep, end: StepResult, ready: ReadyStep[]): void {
    if (end.status === 'retry' || !ready.some((next) => next.unclaimed)) return;
    const output = 'output' in end ? (end.output ?? null) : null;
    if ((JSON.stringify(output)?.length ?? 0) > this.config.WORKFLOW_HANDOFF_OUTPUT_BYTES) return;
    for (const next of ready) {
      const reads = run.graph.reads.get(next.stepId);
      if (next.unclaimed && reads?.length === 1 && reads[0] === step.stepId) next.unclaimed.reads = { [step.stepId]: { status: end.status, output } };
    }
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
    // A step running unclaimed has no heartbeat yet: it is queued in PostgreSQL.
    const executions = [...this.executing.values()].filter((execution) => execution.step.executions > 0);
    if (executions.length === 0) return;
    try {
      const lost = await this.store.heartbeat(executions.map(({ step }) => ({ id: step.id, executions: step.executions })));
      for (const execution of executions) {
        const reason = lost.get(execution.step.id);
        if (reason) execution.abort(reason);
      }
    } catch (error) {
      this.logger.warn(`workflow step heartbeat failed: ${(error as Error).message}`);
    }
  }
}

/**
 * The claim of a step that runs before it is claimed: made when the step has run for the delay,
 * saves a checkpoint, or must be retried. Losing it (cancelled, or claimed elsewhere) aborts
 * the execution.
 */
class DeferredClaim {
  private timer?: NodeJS.Timeout;
  private claiming?: Promise<boolean>;

  constructor(
    private readonly step: ClaimedStep,
    private readonly claim: () => Promise<ClaimedStep | null>,
    delayMs: number,
    private readonly lost: () => void,
  ) {
    this.timer = setTimeout(() => void this.now().catch(() => undefined), delayMs);
  }

  /** Whether the claim was made or is on its way. */
  get started(): boolean {
    return this.claiming !== undefined;
  }

  /** Claims the step now, once: true while it is this worker's. */
  now(): Promise<boolean> {
    clearTimeout(this.timer);
    this.claiming ??= this.claim().then((claimed) => {
      if (!claimed) {
        this.lost();
        return false;
      }
      this.step.executions = claimed.executions;
      return true;
    });
    return this.claiming;
  }

  /** No claim from the timer any more (the execution ended). */
  stop(): void {
    clearTimeout(this.timer);
  }
}
