import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { Scope } from '../access/api-key.entity.js';
import { DomainError } from '../common/domain-error.js';
import { Page } from '../common/pagination.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { AppConfig } from '../config/app-config.js';
import { AgentAPICaller } from './agent-api-caller.js';
import { AgentApiCall } from './agent-api-call.entity.js';
import { AgentRun, FINISHED_STATUSES } from './agent-run.entity.js';
import { AgentRunDispatcher } from './agent-run.dispatcher.js';
import { AgentsService } from './agents.service.js';
import { AnthropicClient } from './anthropic.client.js';
import { ListAgentRunsQueryDto, StartAgentRunDto } from './dto/agent.dto.js';
import { ToolCatalog } from './tool-catalog.js';

export const runNotFound = (id: string) => new DomainError('AGENT_RUN_NOT_FOUND', `Agent run ${id} does not exist`);

export interface RunWithCalls {
  run: AgentRun;
  calls: AgentApiCall[];
}

@Injectable()
export class AgentRunsService {
  private readonly runs: WorkspaceScopedRepository<AgentRun>;

  /** Runs with wait=true executing in this process now (AGENT_WAIT_RUN_CONCURRENCY). */
  private waitingRuns = 0;

  constructor(
    @InjectRepository(AgentRun) private readonly repository: Repository<AgentRun>,
    @InjectRepository(AgentApiCall) private readonly calls: Repository<AgentApiCall>,
    private readonly agents: AgentsService,
    private readonly llm: AnthropicClient,
    private readonly caller: AgentAPICaller,
    private readonly dispatcher: AgentRunDispatcher,
    private readonly catalog: ToolCatalog,
    private readonly config: AppConfig,
  ) {
    this.runs = new WorkspaceScopedRepository(repository, runNotFound);
  }

  /**
   * Queues a run (202) or, with `wait`, executes it in this request and returns it finished.
   * `startedScope`: the scope of the key that starts it (a workflow's: of the key that started
   * the workflow run); the agent's allow-list may not need more (403), and the run's key never holds more.
   */
  async start(workspaceId: string, agentId: string, dto: StartAgentRunDto, startedScope: Scope): Promise<RunWithCalls> {
    const agent = await this.agents.get(workspaceId, agentId);
    this.catalog.assertWithin(agent.allowedOperations, startedScope, 'startAgentRun');
    this.llm.assertConfigured();
    if (dto.input.length > this.config.AGENT_MAX_INPUT_CHARS) {
      const message = `input is ${dto.input.length} characters; AGENT_MAX_INPUT_CHARS is ${this.config.AGENT_MAX_INPUT_CHARS}`;
      throw new DomainError('VALIDATION_FAILED', message, [{ field: 'input', rule: 'max-input-chars', message }]);
    }
    if (!dto.wait) {
      const run = await this.runs.save(workspaceId, this.runs.create(workspaceId, { agentId: agent.id, input: dto.input, startedScope, status: 'queued' }));
      await this.dispatcher.dispatch(run.id);
      return { run, calls: [] };
    }
    // Runs in requests are bounded too: beyond the limit, nothing is stored and the caller can queue it instead.
    if (this.waitingRuns >= this.config.AGENT_WAIT_RUN_CONCURRENCY) {
      throw new DomainError(
        'AGENT_BUSY',
        `${this.waitingRuns} runs started with wait=true are executing in this process (AGENT_WAIT_RUN_CONCURRENCY=${this.config.AGENT_WAIT_RUN_CONCURRENCY}); start this one without wait, or try again later`,
        [{ field: 'wait', rule: 'max-waiting-runs', message: 'too many runs with wait=true at once' }],
      );
    }
    this.waitingRuns++;
    try {
      // Created running, so no queue sweep can take it: this request runs it.
      const now = new Date();
      const run = await this.runs.save(
        workspaceId,
        this.runs.create(workspaceId, { agentId: agent.id, input: dto.input, startedScope, status: 'running', startedAt: now, heartbeatAt: now }),
      );
      await this.caller.runClaimed(run);
      return await this.get(workspaceId, run.id);
    } finally {
      this.waitingRuns--;
    }
  }

  async get(workspaceId: string, id: string): Promise<RunWithCalls> {
    const run = await this.runs.get(workspaceId, id);
    const calls = await this.calls.find({ where: { runId: run.id }, order: { sequence: 'ASC' } });
    return { run, calls };
  }

  async list(workspaceId: string, agentId: string, query: ListAgentRunsQueryDto): Promise<Page<AgentRun>> {
    await this.agents.get(workspaceId, agentId);
    return this.runs.page(workspaceId, query, (builder) => {
      builder.andWhere('e.agent_id = :agentId', { agentId });
      if (query.status) builder.andWhere('e.status = :status', { status: query.status });
    });
  }

  /**
   * A queued run is cancelled at once; a running one is stopped (here at once, in another
   * process at its next model request or heartbeat). Cancelling a cancelled run is a no-op;
   * a run that succeeded or failed answers 409.
   */
  async cancel(workspaceId: string, id: string): Promise<RunWithCalls> {
    const run = await this.runs.get(workspaceId, id);
    if (run.status === 'cancelled') return this.get(workspaceId, id);
    if (FINISHED_STATUSES.includes(run.status)) {
      throw new DomainError('AGENT_RUN_FINISHED', `Agent run ${id} has already ${run.status}; only queued and running runs can be cancelled`);
    }
    await this.repository.query(
      `UPDATE agent_runs SET cancel_requested_at = now(),
              status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
              stop_reason = CASE WHEN status = 'queued' THEN 'cancelled' ELSE stop_reason END,
              error = CASE WHEN status = 'queued' THEN 'Cancelled on request' ELSE error END,
              finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
        WHERE id = $1 AND workspace_id = $2 AND status IN ('queued', 'running')`,
      [id, workspaceId],
    );
    await this.caller.stop(id, 'cancelled');
    return this.get(workspaceId, id);
  }
}
