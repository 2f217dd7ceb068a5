import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { StepRunStore } from './step-run.store.js';
import type { DefinitionSnapshot } from './workflow-definition.js';
import { WorkflowGraph } from './workflow-graph.js';

/** What a worker needs of a run to execute its steps: all immutable once the run exists. */
export interface RunContext {
  id: string;
  workspaceId: string;
  input: unknown;
  definition: DefinitionSnapshot;
  graph: WorkflowGraph;
}

/**
 * Runs' snapshots, parsed once per process: a run's input and definition never change, so a
 * cached copy is never stale. Least recently used ones go beyond WORKFLOW_RUN_CACHE_SIZE.
 */
@Injectable()
export class RunCache {
  private readonly runs = new Map<string, RunContext>();
  private readonly loading = new Map<string, Promise<RunContext | null>>();

  constructor(
    private readonly store: StepRunStore,
    private readonly config: AppConfig,
  ) {}

  /** The run, from memory or PostgreSQL; null when it was deleted. */
  async get(runId: string): Promise<RunContext | null> {
    const cached = this.runs.get(runId);
    if (cached) {
      this.runs.delete(runId);
      this.runs.set(runId, cached);
      return cached;
    }
    let pending = this.loading.get(runId);
    if (!pending) {
      pending = this.store.loadRun(runId).then((row) => (row ? this.put({ ...row, graph: new WorkflowGraph(row.definition.steps) }) : null));
      this.loading.set(runId, pending);
      void pending.finally(() => this.loading.delete(runId)).catch(() => undefined);
    }
    return pending;
  }

  /** The run if this process has it, without loading it. */
  peek(runId: string): RunContext | undefined {
    return this.runs.get(runId);
  }

  /** Builds and keeps the context of a run read elsewhere (a claim that brought it along). */
  add(id: string, row: { workspaceId: string; input: unknown; definition: DefinitionSnapshot }): RunContext {
    return this.put({ id, ...row, graph: new WorkflowGraph(row.definition.steps) });
  }

  put(run: RunContext): RunContext {
    this.runs.set(run.id, run);
    while (this.runs.size > this.config.WORKFLOW_RUN_CACHE_SIZE) this.runs.delete(this.runs.keys().next().value as string);
    return run;
  }
}
