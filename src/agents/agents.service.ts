import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { Scope } from '../access/api-key.entity.js';
import { DomainError, ErrorDetail } from '../common/domain-error.js';
import { Page, PageQueryDto } from '../common/pagination.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { AppConfig } from '../config/app-config.js';
import { Agent } from './agent.entity.js';
import { CreateAgentDto, UpdateAgentDto } from './dto/agent.dto.js';
import { schemaProblem } from './json-schema.js';
import { PROPERTY_KEY } from './openapi-tools.js';
import { sliceChars } from './text.js';
import { ToolCatalog } from './tool-catalog.js';

export const agentNotFound = (id: string) => new DomainError('AGENT_NOT_FOUND', `Agent ${id} does not exist`);

/** Why a temperature is refused: said where it is refused, and in the README. */
export const TEMPERATURE_UNSUPPORTED =
  'temperature is no longer supported: the Messages API version this service speaks (2026-10-21, @anthropic-ai/sdk 1.13) has no sampling parameters and answers 400 to any temperature. Leave it out, or send null to clear the value an older agent kept (runs ignore it).';

/** Problems of the request itself, beyond its types (which the DTO checks). */
function requestProblems(dto: CreateAgentDto | UpdateAgentDto): ErrorDetail[] {
  if (dto.temperature === undefined || dto.temperature === null) return [];
  return [{ field: 'temperature', rule: 'unsupported', message: TEMPERATURE_UNSUPPORTED }];
}

/** Agents of a workspace: their settings are checked against the catalog and the configured limits. */
@Injectable()
export class AgentsService {
  readonly agents: WorkspaceScopedRepository<Agent>;

  constructor(
    @InjectRepository(Agent) repository: Repository<Agent>,
    private readonly catalog: ToolCatalog,
    private readonly config: AppConfig,
  ) {
    this.agents = new WorkspaceScopedRepository(repository, agentNotFound);
  }

  /** `scope`: the caller's; the agent's allow-list may not grant more (403). */
  async create(workspaceId: string, dto: CreateAgentDto, scope: Scope): Promise<Agent> {
    const c = this.config;
    const agent = this.agents.create(workspaceId, {
      name: dto.name,
      model: dto.model ?? c.ANTHROPIC_MODEL,
      systemPrompt: dto.systemPrompt ?? '',
      allowedOperations: [...new Set(dto.allowedOperations)],
      outputSchema: dto.outputSchema ?? null,
      maxIterations: dto.maxIterations ?? c.AGENT_DEFAULT_MAX_ITERATIONS,
      maxTokensPerRun: dto.maxTokensPerRun ?? c.AGENT_DEFAULT_MAX_TOKENS_PER_RUN,
      temperature: null,
      runTimeoutMs: dto.runTimeoutMs ?? c.AGENT_DEFAULT_RUN_TIMEOUT_MS,
      toolTimeoutMs: dto.toolTimeoutMs ?? c.AGENT_DEFAULT_TOOL_TIMEOUT_MS,
    });
    this.check(agent, requestProblems(dto));
    this.catalog.assertWithin(agent.allowedOperations, scope, 'createAgent');
    return this.agents.save(workspaceId, agent);
  }

  async list(workspaceId: string, query: PageQueryDto): Promise<Page<Agent>> {
    return this.agents.page(workspaceId, query);
  }

  get(workspaceId: string, id: string): Promise<Agent> {
    return this.agents.get(workspaceId, id);
  }

  /**
   * The allow-list as it will be, not only the entries sent, must stay within the caller's scope:
   * a write key may not change (its prompt, its limits) an agent that acts with admin powers.
   */
  async update(workspaceId: string, id: string, dto: UpdateAgentDto, scope: Scope): Promise<Agent> {
    const agent = await this.get(workspaceId, id);
    for (const [key, value] of Object.entries(dto)) {
      // (null reaches here only for outputSchema and temperature, where it clears them: UpdateAgentDto refuses it elsewhere.)
      if (value === undefined) continue;
      (agent as unknown as Record<string, unknown>)[key] = key === 'allowedOperations' ? [...new Set(value as string[])] : value;
    }
    this.check(agent, requestProblems(dto));
    this.catalog.assertWithin(agent.allowedOperations, scope, 'updateAgent');
    await this.agents.save(workspaceId, agent);
    return this.get(workspaceId, id);
  }

  remove(workspaceId: string, id: string): Promise<void> {
    return this.agents.delete(workspaceId, id);
  }

  private check(agent: Agent, problems: ErrorDetail[]): void {
    const c = this.config;
    const details: ErrorDetail[] = [...problems, ...this.catalog.check(agent.allowedOperations)];
    const over = (field: string, value: number, limit: number, variable: string) => {
      if (value > limit) details.push({ field, rule: 'max', message: `${field} must be at most ${limit} (${variable})` });
    };
    over('maxIterations', agent.maxIterations, c.AGENT_MAX_ITERATIONS_LIMIT, 'AGENT_MAX_ITERATIONS_LIMIT');
    over('maxTokensPerRun', agent.maxTokensPerRun, c.AGENT_MAX_TOKENS_PER_RUN_LIMIT, 'AGENT_MAX_TOKENS_PER_RUN_LIMIT');
    over('runTimeoutMs', agent.runTimeoutMs, c.AGENT_MAX_RUN_TIMEOUT_MS, 'AGENT_MAX_RUN_TIMEOUT_MS');
    over('toolTimeoutMs', agent.toolTimeoutMs, agent.runTimeoutMs, 'the agent\'s runTimeoutMs');
    if (agent.outputSchema) {
      const problem = schemaProblem(agent.outputSchema);
      if (problem) details.push({ field: 'outputSchema', rule: 'json-schema', message: `outputSchema is not a valid JSON Schema: ${problem}` });
      // An object schema becomes submit_result's input_schema, whose property keys the API checks on every request.
      const properties = agent.outputSchema.type === 'object' ? agent.outputSchema.properties : undefined;
      const bad = properties && typeof properties === 'object' ? Object.keys(properties).filter((key) => !PROPERTY_KEY.test(key)) : [];
      if (bad.length > 0) {
        details.push({
          field: 'outputSchema',
          rule: 'property-key',
          message: `outputSchema.properties keys must match ${PROPERTY_KEY.source} (the Messages API's rule for tool input schemas): ${bad.map((key) => JSON.stringify(sliceChars(key, 80))).join(', ')}`,
        });
      }
    }
    if (details.length > 0) throw new DomainError('VALIDATION_FAILED', details.map((d) => d.message).slice(0, 5).join('; '), details);
  }
}
