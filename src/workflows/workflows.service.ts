import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { Page, PageQueryDto } from '../common/pagination.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { DefinitionLimits, validateDefinition } from './definition-validator.js';
import { CreateWorkflowDto, UpdateWorkflowDto } from './dto/workflow.dto.js';
import { StepExecutorRegistry } from './step-executor.registry.js';
import type { StepDefinition } from './workflow-definition.js';
import { Workflow } from './workflow.entity.js';

export const workflowNotFound = (id: string) => new DomainError('WORKFLOW_NOT_FOUND', `Workflow ${id} does not exist`);

/** Workflow definitions: every write validates the whole definition first. */
@Injectable()
export class WorkflowsService {
  readonly workflows: WorkspaceScopedRepository<Workflow>;

  constructor(
    @InjectRepository(Workflow) repository: Repository<Workflow>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly registry: StepExecutorRegistry,
    private readonly config: AppConfig,
  ) {
    this.workflows = new WorkspaceScopedRepository(repository, workflowNotFound);
  }

  /** Checks a definition against every rule (WORKFLOW_INVALID otherwise) and returns it normalised. */
  validate(steps: unknown): StepDefinition[] {
    return validateDefinition(steps, this.registry, this.limits);
  }

  get limits(): DefinitionLimits {
    return {
      maxSteps: this.config.MAX_WORKFLOW_STEPS,
      maxDefinitionBytes: this.config.MAX_WORKFLOW_DEFINITION_BYTES,
      maxAttempts: this.config.MAX_STEP_ATTEMPTS,
      maxBackoffMs: this.config.MAX_STEP_BACKOFF_MS,
      maxTimeoutMs: this.config.MAX_STEP_TIMEOUT_MS,
    };
  }

  async create(workspaceId: string, dto: CreateWorkflowDto): Promise<Workflow> {
    const steps = this.validate(dto.steps);
    const workflow = this.workflows.create(workspaceId, { name: dto.name, description: dto.description ?? '', steps, version: 1 });
    await this.workflows.save(workspaceId, workflow);
    return this.workflows.get(workspaceId, workflow.id);
  }

  async list(workspaceId: string, query: PageQueryDto): Promise<Page<Workflow>> {
    return this.workflows.page(workspaceId, query);
  }

  get(workspaceId: string, id: string): Promise<Workflow> {
    return this.workflows.get(workspaceId, id);
  }

  /** A new version: runs already started keep the definition they snapshotted. */
  async update(workspaceId: string, id: string, dto: UpdateWorkflowDto): Promise<Workflow> {
    await this.workflows.get(workspaceId, id);
    const steps = dto.steps !== undefined ? this.validate(dto.steps) : undefined;
    await this.dataSource.transaction(async (manager) => {
      const workflow = await this.workflows.lock(manager, workspaceId, id);
      if (dto.name !== undefined) workflow.name = dto.name;
      if (dto.description !== undefined) workflow.description = dto.description;
      if (steps) workflow.steps = steps;
      workflow.version += 1;
      await this.workflows.save(workspaceId, workflow, manager);
    });
    return this.workflows.get(workspaceId, id);
  }

  /** Deletes the workflow and its runs (steps still executing find nothing to record). */
  remove(workspaceId: string, id: string): Promise<void> {
    return this.workflows.delete(workspaceId, id);
  }
}
