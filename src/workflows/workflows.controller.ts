import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, highestScope, WorkspaceId } from '../access/auth-context.js';
import type { AuthContext } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { Page, PageQueryDto } from '../common/pagination.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { ListWorkflowRunsQueryDto, StartWorkflowRunDto, WorkflowRunDetailDto, WorkflowRunDto, WorkflowRunPageDto } from './dto/workflow-run.dto.js';
import { CreateWorkflowDto, StepTypeDto, UpdateWorkflowDto, WorkflowDto, WorkflowPageDto } from './dto/workflow.dto.js';
import { StepExecutorRegistry } from './step-executor.registry.js';
import { toRunDetailDto, toRunDto, toStepTypeDto, toWorkflowDto } from './workflow-dto.mapper.js';
import { WorkflowRunsService } from './workflow-runs.service.js';
import { WorkflowsService } from './workflows.service.js';

@ApiBearerAuth()
@ApiTags('workflows')
@Controller('workflows')
export class WorkflowsController {
  constructor(
    private readonly workflows: WorkflowsService,
    private readonly runs: WorkflowRunsService,
    private readonly registry: StepExecutorRegistry,
  ) {}

  @Get('step-types')
  @ApiOperation({ operationId: 'listWorkflowStepTypes', summary: 'The step types workflows can use, with the JSON Schemas of their config and output' })
  @ApiOkResponse({ type: [StepTypeDto] })
  stepTypes(): StepTypeDto[] {
    return this.registry.list().map(toStepTypeDto);
  }

  @Post()
  @ExplicitOnly('defines automation: workflow steps run agents, call hosts and read secrets')
  @ApiOperation({ operationId: 'createWorkflow', summary: 'Create a workflow: its steps are validated as a whole (ids, types, configs, needs, cycles, expressions)' })
  @ApiCreatedResponse({ type: WorkflowDto })
  @ApiErrors(400)
  async create(@WorkspaceId() workspaceId: string, @Body() dto: CreateWorkflowDto): Promise<WorkflowDto> {
    return toWorkflowDto(await this.workflows.create(workspaceId, dto));
  }

  @Get()
  @ApiOperation({ operationId: 'listWorkflows', summary: 'List workflows, newest first' })
  @ApiOkResponse({ type: WorkflowPageDto })
  @ApiErrors(400)
  async list(@WorkspaceId() workspaceId: string, @Query() query: PageQueryDto): Promise<Page<WorkflowDto>> {
    const page = await this.workflows.list(workspaceId, query);
    return { ...page, items: page.items.map(toWorkflowDto) };
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getWorkflow', summary: 'Get a workflow and its steps' })
  @ApiOkResponse({ type: WorkflowDto })
  @ApiErrors(400, 404)
  async get(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<WorkflowDto> {
    return toWorkflowDto(await this.workflows.get(workspaceId, id));
  }

  @Patch(':id')
  @ExplicitOnly('defines automation: workflow steps run agents, call hosts and read secrets')
  @ApiOperation({ operationId: 'updateWorkflow', summary: 'Change a workflow (a new version; runs already started keep their definition)' })
  @ApiOkResponse({ type: WorkflowDto })
  @ApiErrors(400, 404)
  async update(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: UpdateWorkflowDto): Promise<WorkflowDto> {
    return toWorkflowDto(await this.workflows.update(workspaceId, id, dto));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteWorkflow', summary: 'Delete a workflow and its runs' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 404)
  async remove(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<void> {
    await this.workflows.remove(workspaceId, id);
  }

  @Post(':id/runs')
  @HttpCode(202)
  @ExplicitOnly('starts automation')
  @ApiOperation({ operationId: 'startWorkflowRun', summary: 'Start a run of the workflow\'s current version with an input; follow it with getWorkflowRun or its events' })
  @ApiAcceptedResponse({ type: WorkflowRunDetailDto })
  @ApiErrors(400, 404)
  async start(@Auth() auth: AuthContext, @Param('id', ParseUuid()) id: string, @Body() dto: StartWorkflowRunDto): Promise<WorkflowRunDetailDto> {
    return toRunDetailDto(await this.runs.start(auth.workspaceId, id, dto, highestScope(auth.scopes)));
  }

  @Get(':id/runs')
  @ApiOperation({ operationId: 'listWorkflowRuns', summary: 'List the workflow\'s runs, newest first, optionally by status' })
  @ApiOkResponse({ type: WorkflowRunPageDto })
  @ApiErrors(400, 404)
  async runsOf(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: ListWorkflowRunsQueryDto): Promise<Page<WorkflowRunDto>> {
    const page = await this.runs.list(workspaceId, id, query);
    return { ...page, items: page.items.map(toRunDto) };
  }
}
