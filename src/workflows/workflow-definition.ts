/** The shape of a workflow definition, as stored (and snapshotted into each run). */

export interface StepRetry {
  /** Attempts in all, the first included (1 = no retry). */
  attempts: number;
  /** Delay before the first retry, in ms; it doubles with each further retry. */
  backoffMs: number;
}

export interface StepDefinition {
  id: string;
  type: string;
  name?: string;
  config: Record<string, unknown>;
  needs?: string[];
  /** Run the step only when this is truthy: a boolean, or a string with one expression. */
  if?: string | boolean;
  retry?: StepRetry;
  timeoutMs?: number;
  /** A failure of this step does not fail the run, and its dependents still run. */
  continueOnError?: boolean;
}

/** What a run keeps of its workflow: updating the workflow never changes a run already started. */
export interface DefinitionSnapshot {
  name: string;
  version: number;
  steps: StepDefinition[];
}

export const STEP_RUN_STATUSES = ['pending', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'] as const;
export type StepRunStatus = (typeof STEP_RUN_STATUSES)[number];
export const FINISHED_STEP_STATUSES: ReadonlySet<StepRunStatus> = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

export const WORKFLOW_RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type WorkflowRunStatus = (typeof WORKFLOW_RUN_STATUSES)[number];
export const FINISHED_RUN_STATUSES: ReadonlySet<WorkflowRunStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export const STEP_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
