import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import type { Scope } from '../access/api-key.entity.js';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { Page } from '../common/pagination.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { poolOf } from '../database/data-source.js';
import { ListWorkflowRunsQueryDto, StartWorkflowRunDto } from './dto/workflow-run.dto.js';
import { RunCache } from './run-cache.js';
import { RunEvents } from './run-events.js';
import { StepRun } from './step-run.entity.js';
import type { ReadyStep, StepChange } from './step-run.store.js';
import { DefinitionSnapshot, FINISHED_RUN_STATUSES, StepRunStatus } from './workflow-definition.js';
import { WorkflowEngine } from './workflow-engine.js';
import { WorkflowGraph } from './workflow-graph.js';
import { WorkflowRun } from './workflow-run.entity.js';
import { workflowNotFound, WorkflowsService } from './workflows.service.js';

/** PostgreSQL's foreign_key_violation: the workflow a run was being recorded for was deleted meanwhile. */
const FOREIGN_KEY_VIOLATION = '23503';

export const workflowRunNotFound = (id: string) => new DomainError('WORKFLOW_RUN_NOT_FOUND', `Workflow run ${id} does not exist`);

export interface RunDetail {
  run: WorkflowRun;
  steps: StepRun[];
}

/** Starting, reading, cancelling and retrying runs. The engine moves them forward. */
@Injectable()
export class WorkflowRunsService {
  readonly runs: WorkspaceScopedRepository<WorkflowRun>;

  constructor(
    @InjectRepository(WorkflowRun) repository: Repository<WorkflowRun>,
    @InjectRepository(StepRun) private readonly stepRuns: Repository<StepRun>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly workflows: WorkflowsService,
    private readonly engine: WorkflowEngine,
    private readonly cache: RunCache,
    private readonly events: RunEvents,
    private readonly config: AppConfig,
  ) {
    this.runs = new WorkspaceScopedRepository(repository, workflowRunNotFound);
  }

  /**
   * Snapshots the workflow's current definition, records the run and its steps, and queues the
   * first steps. `startedScope`: the starting key's scope, the most its agent steps may act with.
   */
  async start(workspaceId: string, workflowId: string, dto: StartWorkflowRunDto, startedScope: Scope): Promise<RunDetail> {
    const workflow = await this.workflows.get(workspaceId, workflowId);
    const input = dto.input ?? {};
    const bytes = Buffer.byteLength(JSON.stringify(input));
    if (bytes > this.config.MAX_WORKFLOW_INPUT_BYTES) {
      const message = `input is ${bytes} bytes of JSON; MAX_WORKFLOW_INPUT_BYTES is ${this.config.MAX_WORKFLOW_INPUT_BYTES}`;
      throw new DomainError('WORKFLOW_INPUT_INVALID', message, [{ field: 'input', rule: 'max-input-bytes', message }]);
    }
    const definition: DefinitionSnapshot = { name: workflow.name, version: workflow.version, steps: workflow.steps };
    const graph = new WorkflowGraph(definition.steps);
    const { run, steps } = await this.insertRun(workspaceId, workflowId, definition, input, startedScope, graph).catch((error: unknown) => {
      // Deleted since it was read: as if it had never been there.
      if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION) throw workflowNotFound(workflowId);
      throw error;
    });
    this.cache.put({ id: run.id, workspaceId, input, definition, graph });
    await this.engine.dispatch(steps.filter((step) => step.status === 'queued').map((step) => readyOf(step)));
    // As recorded: the steps may already be running, which getWorkflowRun and the events show.
    return { run, steps };
  }

  /**
   * Records a run and its steps in one statement (one round trip, one commit, on the app's
   * synchronously committing pool: a run the caller was told about survives a crash). The
   * root steps are queued, the others wait for their needs.
   */
  private async insertRun(workspaceId: string, workflowId: string, definition: DefinitionSnapshot, input: unknown, startedScope: Scope, graph: WorkflowGraph): Promise<RunDetail> {
    const roots = new Set(graph.roots);
    const planned = definition.steps.map((step) => ({
      stepId: step.id,
      type: step.type,
      status: roots.has(step.id) ? ('queued' as const) : ('pending' as const),
      lastAttempt: step.retry?.attempts ?? 1,
      remainingNeeds: step.needs?.length ?? 0,
    }));
    const {
      rows: [row],
    } = await poolOf(this.dataSource).query<{ id: string; createdAt: Date; stepIds: Record<string, string> | null }>({
      // Named: PostgreSQL plans it once per connection (planning cost more than a quarter of the insert).
      name: 'wf_insert_run',
      text: `WITH run AS (
         INSERT INTO workflow_runs (workspace_id, workflow_id, workflow_version, definition, input, started_scope, status, remaining_steps)
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, 'queued', $7)
         RETURNING id, created_at
       ), steps AS (
         INSERT INTO workflow_step_runs (run_id, step_id, type, status, attempt, last_attempt, remaining_needs)
         SELECT run.id, s."stepId", s.type, s.status, 1, s."lastAttempt", s."remainingNeeds"
           FROM run, jsonb_to_recordset($8::jsonb) AS s("stepId" text, type text, status text, "lastAttempt" int, "remainingNeeds" int)
         RETURNING id, step_id
       )
       SELECT run.id, run.created_at AS "createdAt", (SELECT jsonb_object_agg(step_id, id) FROM steps) AS "stepIds" FROM run`,
      values: [workspaceId, workflowId, definition.version, JSON.stringify(definition), JSON.stringify(input), startedScope, definition.steps.length, JSON.stringify(planned)],
    }); // stepIds: every step was inserted (a definition has at least one)
    const run: WorkflowRun = Object.assign(new WorkflowRun(), {
      id: row.id,
      workspaceId,
      workflowId,
      workflowVersion: definition.version,
      definition,
      input,
      startedScope,
      status: 'queued' as const,
      output: null,
      error: null,
      remainingSteps: definition.steps.length,
      createdAt: row.createdAt,
      startedAt: null,
      finishedAt: null,
    });
    const steps = planned.map((step) =>
      Object.assign(new StepRun(), {
        id: row.stepIds![step.stepId],
        runId: row.id,
        stepId: step.stepId,
        type: step.type,
        status: step.status,
        attempt: 1,
        lastAttempt: step.lastAttempt,
        executions: 0,
        remainingNeeds: step.remainingNeeds,
        config: null,
        output: null,
        error: null,
        logs: [],
        checkpoint: null,
        notBefore: null,
        heartbeatAt: null,
        createdAt: row.createdAt,
        startedAt: null,
        finishedAt: null,
      }),
    );
    return { run, steps };
  }

  async get(workspaceId: string, id: string): Promise<RunDetail> {
    const run = await this.runs.get(workspaceId, id);
    const steps = await this.stepRuns.find({ where: { runId: run.id } });
    const order = new Map(run.definition.steps.map((step, index) => [step.id, index]));
    steps.sort((a, b) => (order.get(a.stepId) ?? 0) - (order.get(b.stepId) ?? 0));
    return { run, steps };
  }

  async list(workspaceId: string, workflowId: string, query: ListWorkflowRunsQueryDto): Promise<Page<WorkflowRun>> {
    await this.workflows.get(workspaceId, workflowId);
    return this.runs.page(workspaceId, query, (builder) => {
      builder.andWhere('e.workflow_id = :workflowId', { workflowId });
      if (query.status) builder.andWhere('e.status = :status', { status: query.status });
    });
  }

  /** Queued and pending steps will not run; running ones are aborted wherever they run. A cancelled run is left as it is. */
  async cancel(workspaceId: string, id: string): Promise<RunDetail> {
    const changes = await this.dataSource.transaction(async (manager) => {
      const run = await this.runs.lock(manager, workspaceId, id);
      if (run.status === 'cancelled') return null;
      if (FINISHED_RUN_STATUSES.has(run.status)) {
        throw new DomainError('WORKFLOW_RUN_FINISHED', `Workflow run ${id} already ${run.status}; only a queued or running run can be cancelled`);
      }
      const result = await manager
        .createQueryBuilder()
        .update(StepRun)
        .set({ status: 'cancelled', finishedAt: () => 'clock_timestamp()', heartbeatAt: null, notBefore: null })
        .where('run_id = :id AND status IN (:...active)', { id, active: ['pending', 'queued', 'running'] })
        .returning(['stepId', 'attempt'])
        .execute();
      run.status = 'cancelled';
      run.error = 'Cancelled';
      run.finishedAt = new Date();
      await this.runs.save(workspaceId, run, manager);
      return (result.raw as Array<{ step_id: string; attempt: number }>).map((row): StepChange => ({ stepId: row.step_id, status: 'cancelled', attempt: row.attempt }));
    });
    if (changes) {
      this.engine.abortRun(id, 'cancelled');
      this.events.control({ type: 'cancel', runId: id });
      this.engine.announce(id, { changes, run: { status: 'cancelled', error: 'Cancelled', output: null } });
    }
    return this.get(workspaceId, id);
  }

  /**
   * Resumes a failed run: its failed, skipped and cancelled steps start again (a new attempt,
   * with a fresh retry budget); what succeeded is kept, outputs included. The run goes on with
   * the retrying key's scope: whoever sets it going again is whom its agent steps act for.
   */
  async retry(workspaceId: string, id: string, startedScope: Scope): Promise<RunDetail> {
    const { ready, changes } = await this.dataSource.transaction(async (manager) => {
      const run = await this.runs.lock(manager, workspaceId, id);
      if (run.status !== 'failed') {
        throw new DomainError('WORKFLOW_RUN_NOT_RETRYABLE', `Workflow run ${id} is ${run.status}; only a failed run can be retried`);
      }
      const graph = new WorkflowGraph(run.definition.steps);
      const steps = await manager.find(StepRun, { where: { runId: run.id } });
      const again = steps.filter((step) => step.status === 'failed' || step.status === 'skipped' || step.status === 'cancelled');
      for (const step of again) {
        const definition = graph.steps.get(step.stepId);
        Object.assign(step, {
          status: 'pending',
          attempt: step.attempt + 1,
          lastAttempt: step.attempt + (definition?.retry?.attempts ?? 1),
          error: null,
          output: null,
          config: null,
          logs: [],
          notBefore: null,
          heartbeatAt: null,
          startedAt: null,
          finishedAt: null,
        } satisfies Partial<StepRun>);
      }
      const decision = graph.decide(new Map(steps.map((step) => [step.stepId, step.status as StepRunStatus])));
      const queued = new Set(decision.ready);
      // The counters workflow_finish_step works with: needs not met yet, steps not finished yet.
      const met = new Set(steps.filter((step) => step.status === 'succeeded').map((step) => step.stepId));
      for (const step of again) {
        if (queued.has(step.stepId)) step.status = 'queued';
        step.remainingNeeds = (graph.steps.get(step.stepId)?.needs ?? []).filter((need) => !met.has(need)).length;
      }
      if (again.length > 0) await manager.save(StepRun, again);
      run.remainingSteps = again.length;
      run.startedScope = startedScope;
      run.status = 'queued';
      run.error = null;
      run.output = null;
      run.finishedAt = null;
      await this.runs.save(workspaceId, run, manager);
      return {
        ready: again.filter((step) => step.status === 'queued').map((step) => readyOf(step)),
        changes: again.map((step): StepChange => ({ stepId: step.stepId, status: step.status, attempt: step.attempt })),
      };
    });
    await this.engine.dispatch(ready);
    this.engine.announce(id, { changes, run: { status: 'queued', error: null, output: null } });
    return this.get(workspaceId, id);
  }
}

function readyOf(step: StepRun): ReadyStep {
  return { stepRunId: step.id, runId: step.runId, stepId: step.stepId, attempt: step.attempt };
}
