import { Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Auth, highestScope, WorkspaceId } from '../access/auth-context.js';
import type { AuthContext } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { WorkflowRunDetailDto } from './dto/workflow-run.dto.js';
import { RunEventStream } from './run-event-stream.js';
import { toRunDetailDto } from './workflow-dto.mapper.js';
import { WorkflowRunsService } from './workflow-runs.service.js';

@ApiBearerAuth()
@ApiTags('workflows')
@Controller('workflow-runs')
export class WorkflowRunsController {
  constructor(
    private readonly runs: WorkflowRunsService,
    private readonly stream: RunEventStream,
  ) {}

  @Get(':id')
  @ApiOperation({ operationId: 'getWorkflowRun', summary: 'Get a run with its steps: status, attempts, resolved configs, outputs, errors and logs' })
  @ApiOkResponse({ type: WorkflowRunDetailDto })
  @ApiErrors(400, 404)
  async get(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<WorkflowRunDetailDto> {
    return toRunDetailDto(await this.runs.get(workspaceId, id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ExplicitOnly('stops other automation')
  @ApiOperation({ operationId: 'cancelWorkflowRun', summary: 'Cancel a run: queued steps will not run, running ones are aborted (a no-op on a cancelled run)' })
  @ApiOkResponse({ type: WorkflowRunDetailDto })
  @ApiErrors(400, 404, 409)
  async cancel(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<WorkflowRunDetailDto> {
    return toRunDetailDto(await this.runs.cancel(workspaceId, id));
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ExplicitOnly('starts automation again')
  @ApiOperation({ operationId: 'retryWorkflowRun', summary: 'Resume a failed run from its failed steps, keeping what succeeded' })
  @ApiAcceptedResponse({ type: WorkflowRunDetailDto })
  @ApiErrors(400, 404, 409)
  async retry(@Auth() auth: AuthContext, @Param('id', ParseUuid()) id: string): Promise<WorkflowRunDetailDto> {
    return toRunDetailDto(await this.runs.retry(auth.workspaceId, id, highestScope(auth.scopes)));
  }

  @Get(':id/events')
  @ApiProduces('text/event-stream')
  @ApiOperation({
    operationId: 'streamWorkflowRunEvents',
    summary: 'Server-Sent Events of a run: a `snapshot` first, then `run`, `step`, `log` and `progress` events; ends when the run does',
  })
  @ApiOkResponse({ description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiErrors(400, 404)
  async events(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Res() reply: FastifyReply): Promise<void> {
    await this.stream.open(reply, workspaceId, id);
  }
}
