import { Module } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { StepContext, StepExecutor, StepHandler } from '../../src/workflows/step-executor.js';
import type { TestApp } from '../utils/test-app.js';

/**
 * Test-only step types, in a module of their own: adding a step type is adding a provider,
 * nothing in the engine (startTestApp(env, { imports: [TestStepsModule] })).
 * What they saw is recorded in `journal`, by `config.key`, for the assertions.
 */
export interface JournalEntry {
  stepId: string;
  runId: string;
  attempt: number;
  startedAt: number;
  finishedAt?: number;
  aborted?: string;
  config: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

export const journal = new Map<string, JournalEntry[]>();

function record(key: unknown, ctx: StepContext, config: Record<string, unknown>): JournalEntry {
  const entry: JournalEntry = { stepId: ctx.stepId, runId: ctx.runId, attempt: ctx.attempt, startedAt: Date.now(), config, outputs: { ...ctx.outputs } };
  const list = journal.get(String(key)) ?? [];
  list.push(entry);
  journal.set(String(key), list);
  return entry;
}

export const entriesOf = (key: string): JournalEntry[] => journal.get(key) ?? [];

const ANY = {};
const KEY = { type: 'string' };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

@StepExecutor({
  type: 'test_echo',
  description: 'Test only: returns `value` (and records what it saw)',
  secretFields: ['value', 'lines'],
  input: { type: 'object', additionalProperties: false, properties: { key: KEY, value: ANY, lines: { type: 'array', items: { type: 'string' } } } },
  output: { type: 'object', required: ['value'], properties: { value: ANY } },
})
export class EchoStep implements StepHandler<{ key?: string; value?: unknown; lines?: string[] }, { value: unknown }> {
  async run(config: { key?: string; value?: unknown; lines?: string[] }, ctx: StepContext) {
    const entry = record(config.key, ctx, config);
    for (const line of config.lines ?? []) ctx.logger.info(line);
    entry.finishedAt = Date.now();
    return { value: config.value ?? null };
  }
}

@StepExecutor({
  type: 'test_sleep',
  description: 'Test only: waits `ms` (or ignores its abort signal with `ignoreAbort`)',
  input: { type: 'object', required: ['ms'], additionalProperties: false, properties: { key: KEY, ms: { type: 'integer', minimum: 0 }, ignoreAbort: { type: 'boolean' } } },
  output: { type: 'object', required: ['startedAt', 'finishedAt'], properties: { startedAt: { type: 'number' }, finishedAt: { type: 'number' } } },
})
export class SleepStep implements StepHandler<{ key?: string; ms: number; ignoreAbort?: boolean }, { startedAt: number; finishedAt: number }> {
  async run(config: { key?: string; ms: number; ignoreAbort?: boolean }, ctx: StepContext) {
    const entry = record(config.key, ctx, config);
    ctx.signal.addEventListener('abort', () => (entry.aborted = String((ctx.signal.reason as { reason?: string })?.reason ?? 'aborted')), { once: true });
    ctx.progress({ percent: 0, message: 'sleeping' });
    if (config.ignoreAbort) await new Promise((resolve) => setTimeout(resolve, config.ms));
    else await sleep(config.ms, ctx.signal);
    entry.finishedAt = Date.now();
    return { startedAt: entry.startedAt, finishedAt: entry.finishedAt };
  }
}

@StepExecutor({
  type: 'test_flaky',
  description: 'Test only: fails until attempt `succeedOn`, with `message`',
  secretFields: ['message'],
  input: { type: 'object', required: ['succeedOn'], additionalProperties: false, properties: { key: KEY, succeedOn: { type: 'integer', minimum: 1 }, message: { type: 'string' } } },
  output: { type: 'object', required: ['attempt'], properties: { attempt: { type: 'integer' } } },
})
export class FlakyStep implements StepHandler<{ key?: string; succeedOn: number; message?: string }, { attempt: number }> {
  async run(config: { key?: string; succeedOn: number; message?: string }, ctx: StepContext) {
    const entry = record(config.key, ctx, config);
    entry.finishedAt = Date.now();
    if (ctx.attempt < config.succeedOn) throw new Error(config.message ?? `attempt ${ctx.attempt} fails`);
    return { attempt: ctx.attempt };
  }
}

@StepExecutor({
  type: 'test_bad_output',
  description: 'Test only: returns something its output schema refuses',
  input: { type: 'object', additionalProperties: false, properties: {} },
  output: { type: 'object', required: ['count'], properties: { count: { type: 'integer' } } },
})
export class BadOutputStep implements StepHandler<Record<string, never>, unknown> {
  async run() {
    return { count: 'many' };
  }
}

/** How its own step run looks in PostgreSQL while it runs. */
export interface OwnRow {
  status: string;
  executions: number;
  heartbeat: boolean;
}

@StepExecutor({
  type: 'test_own_row',
  description: 'Test only: after `waitMs` (and saving a checkpoint, with `checkpoint`), reads its own step run row',
  input: { type: 'object', additionalProperties: false, properties: { key: KEY, waitMs: { type: 'integer', minimum: 0 }, checkpoint: { type: 'boolean' } } },
  output: { type: 'object', required: ['status'], properties: { status: { type: 'string' }, executions: { type: 'integer' }, heartbeat: { type: 'boolean' } } },
})
export class OwnRowStep implements StepHandler<{ key?: string; waitMs?: number; checkpoint?: boolean }, OwnRow> {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async run(config: { key?: string; waitMs?: number; checkpoint?: boolean }, ctx: StepContext): Promise<OwnRow> {
    const entry = record(config.key, ctx, config);
    if (config.waitMs) await sleep(config.waitMs, ctx.signal);
    if (config.checkpoint) await ctx.saveCheckpoint({ saved: true });
    const [row] = await this.dataSource.query(`SELECT status, executions, heartbeat_at IS NOT NULL AS heartbeat FROM workflow_step_runs WHERE id = $1`, [ctx.stepRunId]);
    entry.finishedAt = Date.now();
    return row;
  }
}

@Module({ providers: [EchoStep, SleepStep, FlakyStep, BadOutputStep, OwnRowStep] })
export class TestStepsModule {}

type Agent = TestApp['api'];

export interface RunBody {
  id: string;
  status: string;
  output: Record<string, unknown> | null;
  error: string | null;
  workflowVersion: number;
  steps: Array<{ stepId: string; status: string; attempt: number; output: any; error: string | null; config: any; logs: Array<{ message: string; level: string }>; startedAt: string | null; finishedAt: string | null }>;
  definition: { version: number; steps: unknown[] };
}

export async function createWorkflow(api: Agent, steps: unknown[], name = 'test workflow'): Promise<{ id: string; version: number }> {
  const res = await api.post('/api/workflows').send({ name, steps });
  if (res.status !== 201) throw new Error(`createWorkflow: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function startRun(api: Agent, workflowId: string, input: Record<string, unknown> = {}): Promise<RunBody> {
  const res = await api.post(`/api/workflows/${workflowId}/runs`).send({ input });
  if (res.status !== 202) throw new Error(`startRun: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const FINISHED = ['succeeded', 'failed', 'cancelled'];

/** Polls the run until `until` holds (by default: it finished). */
export async function waitForRun(api: Agent, runId: string, until: (run: RunBody) => boolean = (run) => FINISHED.includes(run.status), timeoutMs = 20_000): Promise<RunBody> {
  const deadline = Date.now() + timeoutMs;
  let last: RunBody | undefined;
  while (Date.now() < deadline) {
    const res = await api.get(`/api/workflow-runs/${runId}`);
    last = res.body;
    if (res.status === 200 && until(last!)) return last!;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`run ${runId} did not reach the expected state in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

export const stepOf = (run: RunBody, stepId: string) => {
  const step = run.steps.find((s) => s.stepId === stepId);
  if (!step) throw new Error(`no step ${stepId} in run ${run.id}`);
  return step;
};
