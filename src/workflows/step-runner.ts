import { Injectable } from '@nestjs/common';
import { WorkspaceSecretsService } from '../access/workspace-secrets.service.js';
import { AppConfig } from '../config/app-config.js';
import { ExpressionError, resolve, Scope, truthy } from './expression.js';
import type { RunContext } from './run-cache.js';
import { RunEvents } from './run-events.js';
import { SecretMask } from './secret-mask.js';
import { NonRetryableStepError, StepContext, StepProgress } from './step-executor.js';
import { StepExecutorRegistry } from './step-executor.registry.js';
import type { StepLogLine } from './step-run.entity.js';
import { ClaimedStep, StepResult, StepRunStore } from './step-run.store.js';

/** Why an execution was aborted: a timeout is a failed attempt; the others are not this worker's to record. */
export type AbortReason = 'timeout' | 'cancelled' | 'lost' | 'shutdown';

export class StepAbort extends Error {
  constructor(readonly reason: AbortReason) {
    super(`step aborted: ${reason}`);
  }
}

/** How an execution ended, for the engine: a result to record, or nothing to record. */
export type ExecutionEnd = StepResult | { status: 'released' } | { status: 'abandoned' };

/** A failure that another attempt cannot fix (bad config, missing secret, bad output). */
class FinalFailure extends Error {}

/** The handle the engine keeps while a step executes here: for cancel, heartbeats and shutdown. */
export interface Execution {
  /** The step as claimed: `executions` is 0 while it runs unclaimed (then it has no heartbeat). */
  step: ClaimedStep;
  runId: string;
  abort(reason: AbortReason): void;
}

/**
 * Runs one claimed step: evaluates its condition, resolves its config (secrets included),
 * checks it against the executor's schema, calls the executor under a timeout and an abort
 * signal, checks what it returns, and masks the secrets in everything kept.
 */
@Injectable()
export class StepRunner {
  constructor(
    private readonly registry: StepExecutorRegistry,
    private readonly secrets: WorkspaceSecretsService,
    private readonly events: RunEvents,
    private readonly store: StepRunStore,
    private readonly config: AppConfig,
  ) {}

  /**
   * `claim`, for a step that runs unclaimed: claims it (once), and says whether it is still this
   * worker's; a checkpoint is saved only once the step is claimed.
   */
  async execute(
    run: RunContext,
    step: ClaimedStep,
    jobSignal: AbortSignal,
    track: (execution: Execution) => () => void,
    claim?: () => Promise<boolean>,
  ): Promise<ExecutionEnd> {
    const definition = run.graph.steps.get(step.stepId);
    const logs = new StepLog(run.id, step, this.events, this.config);
    let mask = new SecretMask([]);
    let config: unknown = null;
    let resolved: unknown = null;
    const fail = (error: unknown, retryable: boolean): StepResult => {
      // Masked before it is cut: a secret cut in two would no longer match, and half of it would show.
      const message = clip(mask.text(errorMessage(error)), this.config.MAX_STEP_LOG_LINE_CHARS);
      logs.mask = mask;
      if (retryable && step.attempt < step.lastAttempt) {
        return { status: 'retry', error: message, config, logs: logs.lines(), delayMs: this.backoff(run, step) };
      }
      return { status: 'failed', error: message, config, logs: logs.lines() };
    };
    if (!definition) return fail(new Error(`step "${step.stepId}" is not in the run's definition`), false);
    const executor = this.registry.get(definition.type);
    if (!executor) return fail(new Error(`step type "${definition.type}" is not available in this worker`), false);

    // Condition and config, with the secrets they name.
    let scope: Scope;
    try {
      const names = run.graph.secrets.get(step.stepId) ?? [];
      const values: Record<string, string> = Object.create(null);
      for (const name of names) values[name] = await this.secrets.reveal(run.workspaceId, name);
      mask = new SecretMask(Object.values(values));
      logs.mask = mask;
      const steps: Scope['steps'] = Object.create(null);
      for (const [id, read] of Object.entries(step.reads)) steps[id] = { status: read.status, output: read.output };
      scope = { input: run.input, steps, secrets: values };
      if (definition.if !== undefined) {
        const condition = typeof definition.if === 'boolean' ? definition.if : resolve(definition.if, scope, { maxChars: this.config.MAX_STEP_CONFIG_BYTES });
        if (!truthy(condition)) {
          logs.info(`skipped: the condition ${JSON.stringify(definition.if)} is false`);
          return { status: 'skipped', config: null, logs: logs.lines() };
        }
      }
      resolved = resolve(definition.config, scope, { maxChars: this.config.MAX_STEP_CONFIG_BYTES });
    } catch (error) {
      config = null;
      if (error instanceof ExpressionError) return fail(new Error(`config: ${error.message}`), false);
      return fail(error, false);
    }
    const check = executor.checkConfig(resolved);
    // What is kept shows no secret; the executor gets the real values.
    config = mask.value(resolved);
    if (!check.valid) {
      return fail(new Error(`config is invalid for "${definition.type}": ${check.errors.map((e) => `${e.path ? `config.${e.path}` : 'config'} ${e.message}`).join('; ')}`), false);
    }

    // The executor, under its timeout and every abort.
    const controller = new AbortController();
    const abort = (reason: AbortReason) => {
      if (!controller.signal.aborted) controller.abort(new StepAbort(reason));
    };
    const onJobAbort = () => abort('shutdown');
    if (jobSignal.aborted) onJobAbort();
    jobSignal.addEventListener('abort', onJobAbort, { once: true });
    const timeoutMs = definition.timeoutMs ?? this.config.WORKFLOW_STEP_TIMEOUT_MS;
    const timer = setTimeout(() => abort('timeout'), timeoutMs);
    const untrack = track({ step, runId: run.id, abort });
    const outputs: Record<string, unknown> = Object.create(null);
    for (const [id, read] of Object.entries(step.reads)) outputs[id] = read.output;
    const ctx: StepContext = {
      workspaceId: run.workspaceId,
      runId: run.id,
      stepId: step.stepId,
      stepRunId: step.id,
      attempt: step.attempt,
      input: run.input,
      outputs,
      logger: logs,
      signal: controller.signal,
      progress: (progress: StepProgress) => logs.progress(progress),
      checkpoint: step.checkpoint ?? null,
      saveCheckpoint: async (value: unknown) => {
        if ((step.executions === 0 && claim && !(await claim())) || !(await this.store.saveCheckpoint(step.id, step.executions, value))) {
          abort('lost');
          throw controller.signal.reason;
        }
      },
      actingScope: () => this.store.startedScope(run.id),
    };
    try {
      const aborted = new Promise<never>((_resolve, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      const work = Promise.resolve().then(() => executor.handler.run(resolved as Record<string, unknown>, ctx));
      work.catch(() => undefined);
      const output = await Promise.race([work, aborted]);
      const size = output === undefined ? 0 : Buffer.byteLength(JSON.stringify(output) ?? '');
      if (size > this.config.MAX_STEP_OUTPUT_BYTES) throw new FinalFailure(`the output is ${size} bytes of JSON; MAX_STEP_OUTPUT_BYTES is ${this.config.MAX_STEP_OUTPUT_BYTES}`);
      const checked = executor.checkOutput(output ?? null);
      if (!checked.valid) {
        throw new FinalFailure(`the output does not match the "${definition.type}" output schema: ${checked.errors.map((e) => `${e.path || '(output)'} ${e.message}`).join('; ')}`);
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      return { status: 'succeeded', output: mask.value(output ?? null), config, logs: logs.lines() };
    } catch (error) {
      const reason = controller.signal.aborted ? (controller.signal.reason as StepAbort).reason : undefined;
      if (reason === 'shutdown') return { status: 'released' };
      if (reason === 'cancelled' || reason === 'lost') return { status: 'abandoned' };
      if (reason === 'timeout') {
        logs.error(`timed out after ${timeoutMs} ms: aborted`);
        return fail(new Error(`timed out after ${timeoutMs} ms`), true);
      }
      logs.error(errorMessage(error));
      return fail(error, !(error instanceof FinalFailure || error instanceof NonRetryableStepError));
    } finally {
      clearTimeout(timer);
      jobSignal.removeEventListener('abort', onJobAbort);
      untrack();
    }
  }

  /** Delay before the next attempt: backoffMs, doubled for each retry of this round, at most MAX_STEP_BACKOFF_MS. */
  private backoff(run: RunContext, step: ClaimedStep): number {
    const retry = run.graph.steps.get(step.stepId)?.retry;
    if (!retry || retry.backoffMs === 0) return 0;
    const roundFirst = step.lastAttempt - retry.attempts + 1;
    const retryNumber = Math.max(1, step.attempt - roundFirst + 1);
    return Math.min(retry.backoffMs * 2 ** (retryNumber - 1), this.config.MAX_STEP_BACKOFF_MS);
  }
}

/** A step's log: kept (bounded) for its row, and streamed as events. */
class StepLog {
  mask = new SecretMask([]);
  private readonly kept: StepLogLine[] = [];
  private dropped = 0;

  constructor(
    private readonly runId: string,
    private readonly step: ClaimedStep,
    private readonly events: RunEvents,
    private readonly config: AppConfig,
  ) {}

  info(message: string): void {
    this.add('info', message);
  }

  warn(message: string): void {
    this.add('warn', message);
  }

  error(message: string): void {
    this.add('error', message);
  }

  progress(progress: StepProgress): void {
    const percent = typeof progress.percent === 'number' && Number.isFinite(progress.percent) ? Math.max(0, Math.min(100, progress.percent)) : undefined;
    const message = typeof progress.message === 'string' ? this.mask.text(progress.message).slice(0, this.config.MAX_STEP_LOG_LINE_CHARS) : undefined;
    this.events.publish({ type: 'progress', runId: this.runId, stepId: this.step.stepId, attempt: this.step.attempt, percent, message, at: new Date().toISOString() });
  }

  lines(): StepLogLine[] {
    const lines = this.kept.map((line) => ({ ...line, message: this.mask.text(line.message) }));
    if (this.dropped > 0) lines.push({ at: new Date().toISOString(), level: 'warn', message: `${this.dropped} more line(s) not kept (MAX_STEP_LOG_LINES=${this.config.MAX_STEP_LOG_LINES})` });
    return lines;
  }

  private add(level: StepLogLine['level'], raw: string): void {
    if (this.kept.length >= this.config.MAX_STEP_LOG_LINES) {
      this.dropped++;
      return;
    }
    const line: StepLogLine = { at: new Date().toISOString(), level, message: clip(this.mask.text(String(raw)), this.config.MAX_STEP_LOG_LINE_CHARS) };
    this.kept.push(line);
    this.events.publish({ type: 'log', runId: this.runId, stepId: this.step.stepId, attempt: this.step.attempt, ...line });
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (cut)` : text;
}
