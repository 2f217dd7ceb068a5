import { applyDecorators, Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { Scope } from '../access/api-key.entity.js';
import { DomainError } from '../common/domain-error.js';

/** A JSON Schema (draft 2020-12 subset Ajv understands), as a plain object. */
export type JsonSchema = Record<string, unknown>;

/** What a step type declares about itself; `GET /api/workflows/step-types` shows it. */
export interface StepExecutorOptions {
  /** The `type` steps use: lowercase letters, digits and "_". */
  type: string;
  /** One line for the step-type list (and agents reading it). */
  description: string;
  /** JSON Schema of the step's `config` (after expressions are resolved). */
  input: JsonSchema;
  /** JSON Schema of what `run` returns: the step's output, which later steps read. */
  output: JsonSchema;
  /**
   * Config fields (dotted paths, e.g. `headers` or `remote.token`) where `${{ secrets.NAME }}`
   * may appear, with everything below them. Nowhere else: a secret written into a file, an
   * agent's prompt or a project's name would be readable through the API, masking or not.
   */
  secretFields?: string[];
}

export interface StepLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface StepProgress {
  /** 0–100. */
  percent?: number;
  message?: string;
}

/** Everything a step gets besides its config. */
export interface StepContext {
  workspaceId: string;
  runId: string;
  stepId: string;
  /** The step run's id (stable across attempts). */
  stepRunId: string;
  /** 1 on the first attempt, 2 on the first retry… */
  attempt: number;
  /** The run's input. */
  input: unknown;
  /** Outputs of the steps this one needs or reads, by step id. */
  outputs: Readonly<Record<string, unknown>>;
  /** Lines go to the step's logs (masked) and to the run's event stream. */
  logger: StepLogger;
  /** Aborted on timeout, cancel, or shutdown: stop, and throw (the reason is recorded, not your error). */
  signal: AbortSignal;
  progress(progress: StepProgress): void;
  /**
   * What an earlier execution of this step saved with saveCheckpoint (a worker that died, or an
   * earlier attempt), or null: lets a step find the work it already started (an agent run, an
   * export) instead of starting it again.
   */
  checkpoint: unknown;
  /** Saves a small JSON value for a later execution of this step (one write). */
  saveCheckpoint(value: unknown): Promise<void>;
  /**
   * The scope of the key that started the run (or last retried it): a step that acts for that
   * key through the API, such as `agent`, must not act with more. Read when asked (one query).
   */
  actingScope(): Promise<Scope>;
}

/**
 * A step type: one provider, marked with @StepExecutor. `run` is called with a config already
 * valid against `input`; what it returns must be valid against `output`. It must be safe to run
 * twice for the same step (a worker can die after the work and before its result is recorded).
 */
export interface StepHandler<I = Record<string, unknown>, O = unknown> {
  run(config: I, ctx: StepContext): Promise<O>;
}

/** Thrown by an executor for a failure another attempt cannot fix (a bad config): the step fails without its retries. */
export class NonRetryableStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonRetryableStepError';
  }
}

/** A request the API refused (4xx: bad input, not found, conflict) fails the same on a retry: not retried. */
export function finalIfRefused(error: unknown): never {
  if (error instanceof DomainError && error.status < 500) throw new NonRetryableStepError(error.message);
  throw error;
}

/** Discoverable metadata: the registry finds every provider carrying it at boot. */
export const StepExecutorMetadata = DiscoveryService.createDecorator<StepExecutorOptions>();

/** Marks a provider as the executor of one step type (and makes it injectable). */
export function StepExecutor(options: StepExecutorOptions): ClassDecorator {
  return applyDecorators(Injectable(), StepExecutorMetadata(options));
}
