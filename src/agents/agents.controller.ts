import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Auth, highestScope, WorkspaceId } from '../access/auth-context.js';
import type { AuthContext } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { Page, PageQueryDto } from '../common/pagination.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { toAgentDto, toRunDetailDto, toRunDto } from './agent-dto.mapper.js';
import { AgentRunsService } from './agent-runs.service.js';
import { AgentsService } from './agents.service.js';
import {
  AgentDto,
  AgentPageDto,
  AgentRunDetailDto,
  AgentRunDto,
  AgentRunPageDto,
  AgentToolDto,
  CreateAgentDto,
  ListAgentRunsQueryDto,
  StartAgentRunDto,
  UpdateAgentDto,
} from './dto/agent.dto.js';
import { ToolCatalog } from './tool-catalog.js';

@ApiBearerAuth()
@ApiTags('agents')
@ExplicitOnly('drives agents: their definitions, runs and recorded calls')
@Controller('agents')
export class AgentsController {
  constructor(
    private readonly agents: AgentsService,
    private readonly runs: AgentRunsService,
    private readonly catalog: ToolCatalog,
  ) {}

  @Post()
  @ApiOperation({ operationId: 'createAgent', summary: 'Create an agent: model, prompt, allowed operations, output schema and limits' })
  @ApiCreatedResponse({ type: AgentDto })
  @ApiErrors(400, 403)
  async create(@Auth() auth: AuthContext, @Body() dto: CreateAgentDto): Promise<AgentDto> {
    return toAgentDto(await this.agents.create(auth.workspaceId, dto, highestScope(auth.scopes)));
  }

  @Get()
  @ApiOperation({ operationId: 'listAgents', summary: 'List agents, newest first' })
  @ApiOkResponse({ type: AgentPageDto })
  @ApiErrors(400)
  async list(@WorkspaceId() workspaceId: string, @Query() query: PageQueryDto): Promise<Page<AgentDto>> {
    const page = await this.agents.list(workspaceId, query);
    return { ...page, items: page.items.map(toAgentDto) };
  }

  @Get('tools')
  @ApiOperation({ operationId: 'listAgentTools', summary: 'The tool catalog agents choose from: one tool per API operation' })
  @ApiOkResponse({ type: [AgentToolDto] })
  tools(): AgentToolDto[] {
    return this.catalog.list().map(({ name, description, inputSchema, source, explicitOnly, explicitOnlyReason, method, path, requiredScope }) => ({
      name,
      description,
      inputSchema,
      source,
      explicitOnly,
      explicitOnlyReason: explicitOnlyReason ?? null,
      method,
      path,
      requiredScope,
    }));
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getAgent', summary: 'Get an agent' })
  @ApiOkResponse({ type: AgentDto })
  @ApiErrors(400, 404)
  async get(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<AgentDto> {
    return toAgentDto(await this.agents.get(workspaceId, id));
  }

  @Patch(':id')
  @ApiOperation({ operationId: 'updateAgent', summary: 'Change an agent\'s settings (runs already started keep the old ones)' })
  @ApiOkResponse({ type: AgentDto })
  @ApiErrors(400, 403, 404)
  async update(@Auth() auth: AuthContext, @Param('id', ParseUuid()) id: string, @Body() dto: UpdateAgentDto): Promise<AgentDto> {
    return toAgentDto(await this.agents.update(auth.workspaceId, id, dto, highestScope(auth.scopes)));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteAgent', summary: 'Delete an agent with its runs and their recorded calls' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 404)
  async remove(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<void> {
    await this.agents.remove(workspaceId, id);
  }

  @Post(':id/runs')
  @HttpCode(202)
  @ApiOperation({ operationId: 'startAgentRun', summary: 'Start a run of an agent: queued (202), or finished before answering with wait=true (200)' })
  @ApiAcceptedResponse({ type: AgentRunDetailDto, description: 'Queued; poll GET /api/agent-runs/{id}' })
  @ApiOkResponse({ type: AgentRunDetailDto, description: 'wait=true: the finished run with its calls' })
  @ApiErrors(400, 403, 404, 503)
  async start(
    @Auth() auth: AuthContext,
    @Param('id', ParseUuid()) id: string,
    @Body() dto: StartAgentRunDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AgentRunDetailDto> {
    const result = await this.runs.start(auth.workspaceId, id, dto, highestScope(auth.scopes));
    if (dto.wait) void reply.status(200);
    return toRunDetailDto(result);
  }

  @Get(':id/runs')
  @ApiOperation({ operationId: 'listAgentRuns', summary: 'List an agent\'s runs, newest first' })
  @ApiOkResponse({ type: AgentRunPageDto })
  @ApiErrors(400, 404)
  async runsOf(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: ListAgentRunsQueryDto): Promise<Page<AgentRunDto>> {
    const page = await this.runs.list(workspaceId, id, query);
    return { ...page, items: page.items.map(toRunDto) };
  }
}
