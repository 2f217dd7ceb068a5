import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import { AgentApiCall } from './agent-api-call.entity.js';
import { AgentRun, ModelRequestUsage, RunStatus, StopReason } from './agent-run.entity.js';
import { withoutNul } from './text.js';

export interface RunTotals {
  iterations: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface RunEnd {
  status: Extract<RunStatus, 'succeeded' | 'failed' | 'cancelled'>;
  stopReason: StopReason;
  finalText: string | null;
  result: unknown;
  error: string | null;
}

/** Writes a run's progress: small targeted UPDATEs, so a run never overwrites a cancel request. */
@Injectable()
export class AgentRunRecorder {
  constructor(
    @InjectRepository(AgentRun) private readonly runs: Repository<AgentRun>,
    @InjectRepository(AgentApiCall) private readonly calls: Repository<AgentApiCall>,
  ) {}

  /** queued → running, atomically: the one caller that gets the row runs it (a job may arrive twice). */
  async claim(runId: string): Promise<AgentRun | null> {
    const rows = await this.update<{ id: string }>(
      `UPDATE agent_runs SET status = 'running', started_at = now(), heartbeat_at = now()
        WHERE id = $1 AND status = 'queued' RETURNING id`,
      [runId],
    );
    if (rows.length === 0) return null;
    return this.runs.findOneBy({ id: runId });
  }

  async setApiKey(runId: string, apiKeyId: string | null): Promise<void> {
    await this.runs.update({ id: runId }, { apiKeyId });
  }

  /**
   * Adds one model request's usage and returns whether the run must stop: a cancel was asked for
   * meanwhile, or the run is no longer running (the sweep marked it interrupted, its agent was
   * deleted).
   */
  async progress(runId: string, totals: RunTotals, request: ModelRequestUsage): Promise<{ cancelRequested: boolean }> {
    const rows = await this.update<{ cancel_requested_at: Date | null }>(
      `UPDATE agent_runs SET iterations = $2, input_tokens = $3, output_tokens = $4, cache_read_tokens = $5,
              cache_write_tokens = $6, model_requests = model_requests || $7::jsonb, heartbeat_at = now()
        WHERE id = $1 AND status = 'running' RETURNING cancel_requested_at`,
      [runId, totals.iterations, totals.inputTokens, totals.outputTokens, totals.cacheReadTokens, totals.cacheWriteTokens, JSON.stringify([withoutNul(request)])],
    );
    return { cancelRequested: rows.length === 0 || rows[0].cancel_requested_at !== null };
  }

  /** NUL characters (a response, a tool input) are stored as U+FFFD: PostgreSQL refuses them. */
  async recordCall(call: Omit<AgentApiCall, 'id' | 'createdAt' | 'run'>): Promise<void> {
    await this.calls.insert(withoutNul(call) as QueryDeepPartialEntity<AgentApiCall>);
  }

  /** running → finished. A run already finished elsewhere (the sweep) is left as it is. */
  async finish(runId: string, run: RunEnd): Promise<void> {
    const end = withoutNul(run);
    await this.runs.query(
      `UPDATE agent_runs SET status = $2, stop_reason = $3, final_text = $4, result = $5::jsonb, error = $6, finished_at = now()
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [runId, end.status, end.stopReason, end.finalText, end.result === undefined ? null : JSON.stringify(end.result), end.error],
    );
  }

  /**
   * Refreshes the heartbeat of these runs; returns those whose cancel was asked for, and those no
   * longer running (marked interrupted by another process's sweep after missed heartbeats, or deleted).
   */
  async heartbeat(runIds: string[]): Promise<{ cancel: string[]; gone: string[] }> {
    if (runIds.length === 0) return { cancel: [], gone: [] };
    const rows = await this.update<{ id: string; cancel: boolean }>(
      `UPDATE agent_runs SET heartbeat_at = now() WHERE id = ANY($1::uuid[]) AND status = 'running'
        RETURNING id, cancel_requested_at IS NOT NULL AS cancel`,
      [runIds],
    );
    const running = new Set(rows.map((row) => row.id));
    return { cancel: rows.filter((row) => row.cancel).map((row) => row.id), gone: runIds.filter((id) => !running.has(id)) };
  }

  /**
   * Running runs whose heartbeat stopped (their process died): failed, never re-run, since
   * their API calls may already have changed data. Returns them for their keys to be revoked.
   */
  async failStale(staleAfterMs: number): Promise<Array<{ id: string; workspaceId: string; apiKeyId: string | null }>> {
    const rows = await this.update<{ id: string; workspace_id: string; api_key_id: string | null }>(
      `UPDATE agent_runs SET status = 'failed', stop_reason = 'interrupted', finished_at = now(),
              error = 'Interrupted: the process running it stopped (restart or crash). Its API calls so far are recorded; start a new run to continue.'
        WHERE status = 'running' AND coalesce(heartbeat_at, started_at, created_at) < now() - ($1::int * interval '1 millisecond')
        RETURNING id, workspace_id, api_key_id`,
      [staleAfterMs],
    );
    return rows.map((row) => ({ id: row.id, workspaceId: row.workspace_id, apiKeyId: row.api_key_id }));
  }

  /** TypeORM answers an UPDATE … RETURNING with [rows, rowCount]. */
  private async update<T>(sql: string, params: unknown[]): Promise<T[]> {
    const [rows] = (await this.runs.query(sql, params)) as [T[], number];
    return rows;
  }

  async queuedIds(): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.runs.query(`SELECT id FROM agent_runs WHERE status = 'queued' ORDER BY created_at`);
    return rows.map((row) => row.id);
  }
}
