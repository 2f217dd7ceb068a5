import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RunEvent, RunEvents } from './run-events.js';
import { FINISHED_RUN_STATUSES } from './workflow-definition.js';
import { toRunDetailDto } from './workflow-dto.mapper.js';
import { WorkflowRunsService } from './workflow-runs.service.js';

/** A comment line this often keeps proxies from closing an idle stream; the run's row is checked then too. */
const KEEP_ALIVE_MS = 15_000;

/**
 * `GET /api/workflow-runs/{id}/events`: Server-Sent Events. The first event (`snapshot`) is the
 * run with its steps as stored; then `run`, `step`, `log` and `progress` events as they happen,
 * from whichever process runs the steps; the stream ends after the run's final `run` event.
 * Events are subscribed to before the snapshot is read, so nothing falls between the two.
 */
@Injectable()
export class RunEventStream {
  constructor(
    private readonly runs: WorkflowRunsService,
    private readonly events: RunEvents,
  ) {}

  async open(reply: FastifyReply, workspaceId: string, runId: string): Promise<void> {
    await this.runs.runs.get(workspaceId, runId); // 404 (as JSON) before the stream starts
    const buffered: RunEvent[] = [];
    let live = false;
    let ended = false;
    let keepAlive: NodeJS.Timeout | undefined;
    const raw = reply.raw;
    const send = (event: string, data: unknown) => {
      if (!ended) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(keepAlive);
      unsubscribe();
      raw.end();
    };
    const forward = (event: RunEvent) => {
      send(event.type, event);
      if (event.type === 'run' && FINISHED_RUN_STATUSES.has(event.status)) end();
    };
    const unsubscribe = await this.events.subscribe(runId, (event) => {
      if (ended) return;
      if (live) forward(event);
      else buffered.push(event);
    });
    let snapshot;
    try {
      snapshot = await this.runs.get(workspaceId, runId);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    reply.hijack();
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.on('close', end);
    // The client may have gone while the snapshot was read: its 'close' came before the listener.
    if (raw.destroyed) return end();
    send('snapshot', toRunDetailDto(snapshot));
    if (FINISHED_RUN_STATUSES.has(snapshot.run.status)) return end();
    live = true;
    for (const event of buffered.splice(0)) if (!ended) forward(event);
    keepAlive = setInterval(() => void this.tick(raw, workspaceId, runId, forward, () => ended), KEEP_ALIVE_MS);
  }

  /** Keeps the connection open, and ends the stream if the run finished while an event was lost. */
  private async tick(raw: NodeJS.WritableStream, workspaceId: string, runId: string, forward: (event: RunEvent) => void, ended: () => boolean): Promise<void> {
    if (ended()) return;
    raw.write(': keep-alive\n\n');
    // A failed read says nothing (try again next tick); only a run that is not there is gone.
    const run = await this.runs.runs.findOne(workspaceId, runId).catch(() => undefined);
    if (run === undefined) return;
    if (!ended() && (!run || FINISHED_RUN_STATUSES.has(run.status))) {
      forward({ type: 'run', runId, status: run?.status ?? 'cancelled', error: run?.error ?? 'The run was deleted', output: run?.output ?? null, at: new Date().toISOString() });
    }
  }
}
