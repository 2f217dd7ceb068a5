import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import pg from 'pg';
import type { Pool } from 'pg';
import type { Scope } from '../access/api-key.entity.js';
import { AppConfig } from '../config/app-config.js';
import { DataSource } from 'typeorm';
import type { StepLogLine } from './step-run.entity.js';
import type { DefinitionSnapshot, StepRunStatus, WorkflowRunStatus } from './workflow-definition.js';
import type { WorkflowGraph } from './workflow-graph.js';
import { WriteBatcher } from './write-batcher.js';

/** A step made ready to run: the job to enqueue for it. */
export interface ReadyStep {
  stepRunId: string;
  runId: string;
  stepId: string;
  attempt: number;
  /** A retry waits this long. */
  delayMs?: number;
  /** Set to the claim number when the step is queued again after that claim: a job id of its own (jobIdOf). */
  takeover?: number;
  /**
   * Set when the step was never claimed: its last attempt and (filled in by the engine) the
   * status and output of what it reads, so that a worker may run it before claiming it.
   */
  unclaimed?: { lastAttempt: number; reads?: ClaimedStep['reads'] };
}

export interface ClaimedStep {
  id: string;
  runId: string;
  stepId: string;
  type: string;
  attempt: number;
  lastAttempt: number;
  /**
   * This claim's number: the fence for every later write of this execution. 0 while the step
   * runs unclaimed (see WORKFLOW_STEP_CLAIM_DELAY_MS): then its finish claims it too.
   */
  executions: number;
  /** The run went queued → running with this claim. */
  runStarted: boolean;
  /** Status and output of the upstream steps the step reads. */
  reads: Record<string, { status: StepRunStatus; output: unknown }>;
  /** What an earlier execution saved with ctx.saveCheckpoint, or null. */
  checkpoint: unknown;
  /** The run's immutable part, when asked for (withRun). */
  run?: Omit<RunRow, 'id'> | null;
}

export interface RunRow {
  id: string;
  workspaceId: string;
  input: unknown;
  definition: DefinitionSnapshot;
}

/** How one execution of a step ended. */
export type StepResult =
  | { status: 'succeeded'; output: unknown; config: unknown; logs: StepLogLine[] }
  | { status: 'failed'; error: string; config: unknown; logs: StepLogLine[]; output?: unknown }
  | { status: 'skipped'; config: unknown; logs: StepLogLine[] }
  | { status: 'retry'; error: string; config: unknown; logs: StepLogLine[]; delayMs: number };

export interface StepChange {
  stepId: string;
  status: StepRunStatus;
  attempt: number;
  error?: string | null;
  output?: unknown;
}

export interface FinishOutcome {
  /** False when the step was no longer this execution's (cancelled, or taken over): nothing was written. */
  recorded: boolean;
  /** Steps now queued (including this one again, for a retry). */
  ready: ReadyStep[];
  /** Every status change written, this step's first. */
  changes: StepChange[];
  run?: { status: WorkflowRunStatus; error: string | null; output: Record<string, unknown> | null };
  runStarted?: boolean;
}

export interface RecoverableStep {
  stepRunId: string;
  runId: string;
  stepId: string;
  attempt: number;
  executions: number;
  status: 'queued' | 'running';
}

/** What workflow_finish_step returns. */
interface FinishRow {
  ready: Array<{ id: string; stepId: string; attempt: number; lastAttempt: number; claimed: boolean }>;
  skipped: Array<{ stepId: string; attempt: number }>;
  runStarted: boolean;
  run: { status: 'succeeded' | 'failed'; error: string | null; output: Record<string, unknown> } | null;
}

export const SKIPPED_UPSTREAM = 'Skipped: a step it needs failed, was cancelled or was skipped after a failure';

interface ClaimCall {
  stepRunId: string;
  attempt: number;
  staleMs: number;
  reads: string[];
  withRun: boolean;
}

/** The arguments of one workflow_finish_step call. */
interface FinishCall {
  runId: string;
  stepRunId: string;
  executions: number;
  /** With executions 0: the attempt that ran, and how long ago it started. */
  attempt: number;
  elapsedMs: number;
  status: string;
  output?: unknown;
  error: string | null;
  logs: StepLogLine[];
  config?: unknown;
  release: string[];
  skip: string[];
  leaves: string[];
  tolerated: string[];
}

/** Most claims or finishes sent in one statement. */
const MAX_BATCH = 50;

/**
 * Every write of the engine, in SQL on the pool. A step costs two writes: its claim (one
 * function call) and its finish (one function call that records the result, queues the steps it
 * unblocks and ends the run when it was the last); a step that ends before its claim was due
 * (WORKFLOW_STEP_CLAIM_DELAY_MS) costs only the finish, which claims it too. The claims and the finishes of the steps
 * running in one process at once each go to PostgreSQL together (WriteBatcher): one statement
 * and one commit for all of them. Writes of an execution are fenced by its claim number, so a
 * worker that lost its claim cannot overwrite the one that took it over.
 */
@Injectable()
export class StepRunStore implements OnApplicationShutdown {
  private readonly logger = new Logger('WorkflowStore');
  private readonly pool: Pool;

  /**
   * The engine's own small pool (a slot per step running here, and two more): its connections
   * commit asynchronously unless WORKFLOW_SYNCHRONOUS_COMMIT, which the app's pool must not.
   */
  constructor(@InjectDataSource() dataSource: DataSource, config: AppConfig) {
    const { url } = dataSource.options as { url?: string };
    this.pool = new pg.Pool({
      connectionString: url,
      max: config.WORKFLOW_STEP_CONCURRENCY + 2,
      connectionTimeoutMillis: 5_000,
      options: `-c synchronous_commit=${config.WORKFLOW_SYNCHRONOUS_COMMIT ? 'on' : 'off'}`,
    });
    // An idle connection the server closed (a restart, an administrator) must not crash the process.
    this.pool.on('error', (error: Error) => this.logger.warn(`idle database connection lost: ${error.message}`));
  }

  private readonly claims = new WriteBatcher<ClaimCall, ClaimedStep | null>({
    one: (call) => this.claimOne(call),
    many: (calls) => this.claimMany(calls),
    maxBatch: MAX_BATCH,
    maxInFlight: 2,
  });

  private readonly finishes = new WriteBatcher<FinishCall, FinishRow | null>({
    one: (call) => this.finishOne(call),
    many: (calls) => this.finishMany(calls),
    maxBatch: MAX_BATCH,
    maxInFlight: 2,
  });

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  /** The run's immutable part (input and definition), for the run cache. */
  async loadRun(runId: string): Promise<RunRow | null> {
    const { rows } = await this.pool.query({
      name: 'wf_load_run',
      text: `SELECT id, workspace_id AS "workspaceId", input, definition FROM workflow_runs WHERE id = $1`,
      values: [runId],
    });
    return rows[0] ?? null;
  }

  /** The run's started scope as it is now (a retry changes it); 'read' when the run is gone. */
  async startedScope(runId: string): Promise<Scope> {
    const { rows } = await this.pool.query<{ scope: Scope }>({
      name: 'wf_started_scope',
      text: `SELECT started_scope AS scope FROM workflow_runs WHERE id = $1`,
      values: [runId],
    });
    return rows[0]?.scope ?? 'read';
  }

  /**
   * Takes a step for this worker (workflow_claim_step, see its migration): a queued one, or a
   * running one whose worker stopped beating. Null when there is nothing to do (done, cancelled, held).
   */
  async claim(stepRunId: string, attempt: number, staleMs: number, reads: string[], withRun: boolean): Promise<ClaimedStep | null> {
    return this.claims.submit({ stepRunId, attempt, staleMs, reads, withRun });
  }

  private async claimOne(call: ClaimCall): Promise<ClaimedStep | null> {
    const { rows } = await this.pool.query<{ c: ClaimedStep | null }>({
      name: 'wf_claim',
      text: `SELECT workflow_claim_step($1, $2, $3, $4::text[], $5) AS c`,
      values: [call.stepRunId, call.attempt, call.staleMs, call.reads, call.withRun],
    });
    return rows[0]?.c ?? null;
  }

  /** Several claims in one statement (and one commit); each call is the function's, in order. */
  private async claimMany(calls: ClaimCall[]): Promise<Array<ClaimedStep | null>> {
    const { rows } = await this.pool.query<{ i: string; c: ClaimedStep | null }>({
      name: 'wf_claim_many',
      text: `
        SELECT b.i, workflow_claim_step((b.e->>'step')::uuid, (b.e->>'attempt')::int, (b.e->>'staleMs')::double precision,
                                        ARRAY(SELECT jsonb_array_elements_text(b.e->'reads')), (b.e->>'withRun')::boolean) AS c
          FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS b(e, i)`,
      values: [JSON.stringify(calls.map((call) => ({ step: call.stepRunId, attempt: call.attempt, staleMs: call.staleMs, reads: call.reads, withRun: call.withRun })))],
    });
    return inOrder(rows, calls.length, (row) => row.c);
  }

  /**
   * Proves these executions alive; returns the ids that are no longer theirs (to abort), each
   * with why: cancelled, or lost (taken over, or gone).
   */
  async heartbeat(executions: Array<{ id: string; executions: number }>): Promise<Map<string, 'cancelled' | 'lost'>> {
    if (executions.length === 0) return new Map();
    const { rows } = await this.pool.query<{ id: string }>({
      name: 'wf_heartbeat',
      text: `
        UPDATE workflow_step_runs s SET heartbeat_at = now()
          FROM unnest($1::uuid[], $2::int[]) AS e(id, executions)
         WHERE s.id = e.id AND s.executions = e.executions AND s.status = 'running'
        RETURNING s.id`,
      values: [executions.map((e) => e.id), executions.map((e) => e.executions)],
    });
    const alive = new Set(rows.map((row) => row.id));
    const gone = executions.map((e) => e.id).filter((id) => !alive.has(id));
    if (gone.length === 0) return new Map();
    // Rare: a cancel whose message this process missed, or a takeover.
    const { rows: statuses } = await this.pool.query<{ id: string; status: string }>(`SELECT id, status FROM workflow_step_runs WHERE id = ANY($1::uuid[])`, [gone]);
    const cancelled = new Set(statuses.filter((row) => row.status === 'cancelled').map((row) => row.id));
    return new Map(gone.map((id) => [id, cancelled.has(id) ? 'cancelled' : 'lost']));
  }

  /** Keeps what the execution needs to resume after a crash; false when the step is no longer this execution's. */
  async saveCheckpoint(stepRunId: string, executions: number, value: unknown): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE workflow_step_runs SET checkpoint = $3::jsonb, heartbeat_at = now() WHERE id = $1 AND executions = $2 AND status = 'running'`,
      [stepRunId, executions, json(value ?? null)],
    );
    return rowCount === 1;
  }

  /** Shutdown: gives the step back (queued again), so the handed-back job claims it at once. */
  async release(stepRunId: string, executions: number): Promise<void> {
    await this.pool.query(
      `UPDATE workflow_step_runs SET status = 'queued', heartbeat_at = NULL WHERE id = $1 AND executions = $2 AND status = 'running'`,
      [stepRunId, executions],
    );
  }

  /**
   * Records how an execution ended and, in the same commit (one call of workflow_finish_step,
   * see its migration), queues the steps it unblocks, skips those that can never run, and ends
   * the run when it was the last step. The run's row is locked first, so steps finishing at
   * once see each other (fan-in). An execution that was never claimed (executions 0) is claimed
   * in the same write, if its step is still queued for that attempt; `elapsedMs` dates its start.
   * A retry is recorded only for a claimed execution.
   */
  async finish(step: ClaimedStep, result: StepResult, graph: WorkflowGraph, elapsedMs = 0): Promise<FinishOutcome> {
    if (result.status === 'retry') {
      if (step.executions === 0) throw new Error('a retry is recorded for a claimed execution only');
      return this.scheduleRetry(step, result);
    }
    const definition = graph.steps.get(step.stepId);
    const met = result.status === 'succeeded' || result.status === 'skipped' || (result.status === 'failed' && definition?.continueOnError === true);
    const error = result.status === 'failed' ? result.error : null;
    const output = result.status === 'succeeded' || result.status === 'failed' ? result.output : undefined;
    const row = await this.finishes.submit({
      runId: step.runId,
      stepRunId: step.id,
      executions: step.executions,
      attempt: step.attempt,
      elapsedMs,
      status: result.status,
      output,
      error,
      logs: result.logs,
      config: result.config,
      release: met ? graph.dependents.get(step.stepId) ?? [] : [],
      skip: met ? [] : graph.descendants.get(step.stepId) ?? [],
      leaves: graph.leaves,
      tolerated: graph.tolerated,
    });
    if (!row) return { recorded: false, ready: [], changes: [] };
    const changes: StepChange[] = [{ stepId: step.stepId, status: result.status, attempt: step.attempt, error, output }];
    for (const ready of row.ready) changes.push({ stepId: ready.stepId, status: 'queued', attempt: ready.attempt });
    for (const skipped of row.skipped) changes.push({ stepId: skipped.stepId, status: 'skipped', attempt: skipped.attempt, error: SKIPPED_UPSTREAM });
    return {
      recorded: true,
      ready: row.ready.map((ready) => ({
        stepRunId: ready.id,
        runId: step.runId,
        stepId: ready.stepId,
        attempt: ready.attempt,
        ...(ready.claimed ? {} : { unclaimed: { lastAttempt: ready.lastAttempt } }),
      })),
      changes,
      run: row.run ?? undefined,
      runStarted: row.runStarted,
    };
  }

  private async finishOne(call: FinishCall): Promise<FinishRow | null> {
    const { rows } = await this.pool.query<{ r: FinishRow | null }>({
      name: 'wf_finish',
      text: `SELECT workflow_finish_step($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8::jsonb, $9::text[], $10::text[], $11::text[], $12::text[], $13, $14, $15) AS r`,
      values: [
        call.runId,
        call.stepRunId,
        call.executions,
        call.status,
        json(call.output),
        call.error,
        JSON.stringify(call.logs),
        json(call.config),
        call.release,
        call.skip,
        call.leaves,
        call.tolerated,
        SKIPPED_UPSTREAM,
        call.attempt,
        call.elapsedMs,
      ],
    });
    return rows[0]?.r ?? null;
  }

  /**
   * Several finishes in one statement (and one commit), in order of their runs: each call locks
   * its run's row first, so two batches that share runs take those locks in the same order.
   */
  private async finishMany(calls: FinishCall[]): Promise<Array<FinishRow | null>> {
    const order = calls.map((_call, index) => index).sort((a, b) => (calls[a].runId < calls[b].runId ? -1 : calls[a].runId > calls[b].runId ? 1 : a - b));
    const { rows } = await this.pool.query<{ i: string; r: FinishRow | null }>({
      name: 'wf_finish_many',
      text: `
        SELECT b.i, workflow_finish_step(
                 (b.e->>'runId')::uuid, (b.e->>'stepRunId')::uuid, (b.e->>'executions')::int, b.e->>'status', b.e->'output', b.e->>'error',
                 b.e->'logs', b.e->'config', ARRAY(SELECT jsonb_array_elements_text(b.e->'release')), ARRAY(SELECT jsonb_array_elements_text(b.e->'skip')),
                 ARRAY(SELECT jsonb_array_elements_text(b.e->'leaves')), ARRAY(SELECT jsonb_array_elements_text(b.e->'tolerated')), $1,
                 (b.e->>'attempt')::int, (b.e->>'elapsedMs')::double precision) AS r
          FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS b(e, i)`,
      // JSON.stringify leaves out an undefined output or config: SQL NULL, as json() makes it.
      values: [SKIPPED_UPSTREAM, JSON.stringify(order.map((index) => calls[index]))],
    });
    const sorted = inOrder(rows, calls.length, (row) => row.r);
    const results = new Array<FinishRow | null>(calls.length);
    order.forEach((index, position) => (results[index] = sorted[position]));
    return results;
  }

  private async scheduleRetry(step: ClaimedStep, result: Extract<StepResult, { status: 'retry' }>): Promise<FinishOutcome> {
    const { rowCount } = await this.pool.query({
      name: 'wf_retry_step',
      text: `
        UPDATE workflow_step_runs
           SET status = 'queued', attempt = attempt + 1, error = $3, logs = $4::jsonb, config = $5::jsonb, output = NULL,
               finished_at = clock_timestamp(), heartbeat_at = NULL, not_before = clock_timestamp() + make_interval(secs => $6::double precision / 1000)
         WHERE id = $1 AND executions = $2 AND status = 'running'`,
      values: [step.id, step.executions, result.error, JSON.stringify(result.logs), json(result.config), result.delayMs],
    });
    if (!rowCount) return { recorded: false, ready: [], changes: [] };
    const attempt = step.attempt + 1;
    return {
      recorded: true,
      ready: [{ stepRunId: step.id, runId: step.runId, stepId: step.stepId, attempt, delayMs: result.delayMs }],
      changes: [{ stepId: step.stepId, status: 'queued', attempt, error: result.error }],
    };
  }

  /** Work PostgreSQL shows unfinished: queued steps due now, and running ones whose worker went silent. */
  async recoverable(staleMs: number): Promise<RecoverableStep[]> {
    const { rows } = await this.pool.query<RecoverableStep>(
      `SELECT s.id AS "stepRunId", s.run_id AS "runId", s.step_id AS "stepId", s.attempt, s.executions, s.status
         FROM workflow_runs r JOIN workflow_step_runs s ON s.run_id = r.id
        WHERE r.status IN ('queued', 'running')
          AND ((s.status = 'queued' AND (s.not_before IS NULL OR s.not_before <= now()))
            OR (s.status = 'running' AND s.heartbeat_at < now() - make_interval(secs => $1::double precision / 1000)))`,
      [staleMs],
    );
    return rows;
  }
}

/** A batch's rows (numbered from 1 by WITH ORDINALITY) as outputs in the calls' order. */
function inOrder<R extends { i: string }, O>(rows: R[], count: number, pick: (row: R) => O | null): Array<O | null> {
  const outputs = new Array<O | null>(count).fill(null);
  for (const row of rows) outputs[Number(row.i) - 1] = pick(row) ?? null;
  return outputs;
}

/** A jsonb parameter: undefined stays SQL NULL. */
export function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
