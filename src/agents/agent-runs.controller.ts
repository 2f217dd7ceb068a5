import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { toRunDetailDto } from './agent-dto.mapper.js';
import { AgentRunsService } from './agent-runs.service.js';
import { AgentRunDetailDto } from './dto/agent.dto.js';

@ApiBearerAuth()
@ApiTags('agents')
@ExplicitOnly('drives agents: their definitions, runs and recorded calls')
@Controller('agent-runs')
export class AgentRunsController {
  constructor(private readonly runs: AgentRunsService) {}

  @Get(':id')
  @ApiOperation({ operationId: 'getAgentRun', summary: 'Get a run: status, result, tokens, and every API call it made, in order' })
  @ApiOkResponse({ type: AgentRunDetailDto })
  @ApiErrors(400, 404)
  async get(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<AgentRunDetailDto> {
    return toRunDetailDto(await this.runs.get(workspaceId, id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ operationId: 'cancelAgentRun', summary: 'Cancel a queued or running run (a no-op on a cancelled one)' })
  @ApiOkResponse({ type: AgentRunDetailDto })
  @ApiErrors(400, 404, 409)
  async cancel(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<AgentRunDetailDto> {
    return toRunDetailDto(await this.runs.cancel(workspaceId, id));
  }
}
