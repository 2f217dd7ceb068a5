import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnModuleInit, Optional } from '@nestjs/common';
import { ApiKeysService } from '../access/api-keys.service.js';
import { AppConfig } from '../config/app-config.js';
import { JobQueue } from '../queue/job-queue.js';
import { AgentAPICaller } from './agent-api-caller.js';
import { AgentRunRecorder } from './agent-run.recorder.js';

/** Heartbeats missed before a running run counts as interrupted. */
const STALE_HEARTBEATS = 3;
/** The job type of background agent runs on the queue seam. */
export const AGENT_RUN_JOB = 'agent-run';
const jobIdOf = (runId: string) => `${AGENT_RUN_JOB}:${runId}`;

/**
 * Background execution of agent runs, and their supervision.
 *
 * - `dispatch` is the one seam to the background: an `agent-run` job on the JobQueue
 *   (src/queue: Bull with REDIS_URL, else in-process) when QueueModule is loaded, else a small
 *   in-process queue. At most AGENT_RUN_CONCURRENCY runs at once per process. The run's row is
 *   the truth; a job is only "work on this now", and running one twice is harmless (the run is
 *   claimed atomically, queued → running).
 * - Queued runs are dispatched again at start-up (by the JobQueue's recovery sweep, or here):
 *   they never started, so nothing is repeated.
 * - Running runs are never re-run: their API calls may already have changed data. One whose
 *   heartbeat stopped for 3 × AGENT_RUN_HEARTBEAT_MS (its process died) is failed with stop
 *   reason `interrupted` and its key revoked, by a sweep at start-up and every heartbeat.
 * - A cancel asked for in another process reaches a run here through the heartbeat.
 */
@Injectable()
export class AgentRunDispatcher implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AgentRuns');
  private readonly waiting: string[] = [];
  private running = 0;
  private timer?: NodeJS.Timeout;
  private stopping = false;

  constructor(
    private readonly caller: AgentAPICaller,
    private readonly recorder: AgentRunRecorder,
    private readonly apiKeys: ApiKeysService,
    private readonly config: AppConfig,
    @Optional() private readonly jobs?: JobQueue,
  ) {}

  onModuleInit(): void {
    this.jobs?.register<{ runId: string }>(
      AGENT_RUN_JOB,
      async ({ runId }, ctx) => {
        // The queue aborts a job at shutdown once its grace is over: the run ends as interrupted.
        const interrupt = () => void this.caller.stop(runId, 'interrupted');
        ctx.signal.addEventListener('abort', interrupt, { once: true });
        try {
          await this.caller.run(runId);
        } finally {
          ctx.signal.removeEventListener('abort', interrupt);
        }
      },
      {
        concurrency: this.config.AGENT_RUN_CONCURRENCY,
        // A run records its own failure; a throw here would be a bug, not something to retry.
        attempts: 1,
        recover: async () => (await this.recorder.queuedIds()).map((runId) => ({ jobId: jobIdOf(runId), data: { runId } })),
      },
    );
  }

  /** Runs `runId` in the background; resolves once the job is accepted (stored, with Redis). */
  async dispatch(runId: string): Promise<void> {
    if (this.jobs) return this.jobs.enqueue(AGENT_RUN_JOB, { runId }, { jobId: jobIdOf(runId) });
    if (this.stopping) return;
    this.waiting.push(runId);
    this.drain();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.recover();
    this.timer = setInterval(() => void this.tick(), this.config.AGENT_RUN_HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Runs still executing here are stopped and recorded as interrupted before the pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.waiting.length = 0;
    await this.caller.stopAll('interrupted');
  }

  /** Fails runs whose process died and dispatches the queued ones again (start-up). */
  async recover(): Promise<void> {
    await this.sweep();
    for (const id of await this.recorder.queuedIds()) await this.dispatch(id);
  }

  private drain(): void {
    while (this.running < this.config.AGENT_RUN_CONCURRENCY && this.waiting.length > 0) {
      const id = this.waiting.shift()!;
      this.running++;
      void this.caller.run(id).finally(() => {
        this.running--;
        this.drain();
      });
    }
  }

  private async tick(): Promise<void> {
    try {
      const { cancel, gone } = await this.recorder.heartbeat(this.caller.activeRunIds);
      for (const id of cancel) void this.caller.stop(id, 'cancelled');
      // Failed elsewhere (its heartbeats were missed) or deleted: it must not go on spending tokens here.
      for (const id of gone) void this.caller.stop(id, 'interrupted');
      await this.sweep();
    } catch (error) {
      this.logger.warn(`agent run heartbeat failed: ${(error as Error).message}`);
    }
  }

  private async sweep(): Promise<void> {
    const stale = await this.recorder.failStale(STALE_HEARTBEATS * this.config.AGENT_RUN_HEARTBEAT_MS);
    for (const run of stale) {
      this.logger.warn(`agent run ${run.id} was interrupted (no heartbeat): marked failed`);
      if (run.apiKeyId) await this.apiKeys.revoke(run.workspaceId, run.apiKeyId).catch(() => undefined);
    }
  }
}
