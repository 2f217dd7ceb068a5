import { Body, Controller, Get, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { toApiKeyDto } from './api-keys.controller.js';
import { RequiredScope, WorkspaceId } from './auth-context.js';
import { CreatedWorkspaceDto, CreateWorkspaceDto, WorkspaceDto } from './dto/access.dto.js';
import { Workspace } from './workspace.entity.js';
import { WorkspacesService } from './workspaces.service.js';

const toWorkspaceDto = ({ id, name, slug, createdAt }: Workspace): WorkspaceDto => ({ id, name, slug, createdAt });

@ApiTags('access')
@ApiBearerAuth()
@ExplicitOnly('access management')
@Controller('workspaces')
export class WorkspacesController {
  constructor(private readonly workspaces: WorkspacesService) {}

  @Post()
  @RequiredScope('admin')
  @ApiOperation({ operationId: 'createWorkspace', summary: 'Create a workspace with its first admin key (shown once)' })
  @ApiCreatedResponse({ type: CreatedWorkspaceDto })
  @ApiErrors(400, 401, 403, 409)
  async create(@Body() dto: CreateWorkspaceDto): Promise<CreatedWorkspaceDto> {
    const { workspace, apiKey } = await this.workspaces.create(dto);
    return { workspace: toWorkspaceDto(workspace), apiKey: { ...toApiKeyDto(apiKey), token: apiKey.token } };
  }

  @Get('current')
  @ApiOperation({ operationId: 'getCurrentWorkspace', summary: 'The workspace of the calling API key' })
  @ApiOkResponse({ type: WorkspaceDto })
  @ApiErrors(401)
  async current(@WorkspaceId() workspaceId: string): Promise<WorkspaceDto> {
    return toWorkspaceDto(await this.workspaces.get(workspaceId));
  }
}
