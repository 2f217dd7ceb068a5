import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { Page } from '../common/pagination.js';
import { CreateProjectDto, ListProjectsQueryDto, ProjectDto, ProjectPageDto, toProjectDto, UpdateProjectDto } from './dto/project.dto.js';
import { ProjectsService } from './projects.service.js';

@ApiBearerAuth()
@ApiTags('projects')
@Controller('projects')
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  @Post()
  @ApiOperation({ operationId: 'createProject', summary: 'Create a project' })
  @ApiCreatedResponse({ type: ProjectDto })
  @ApiErrors(400, 409)
  async create(@WorkspaceId() workspaceId: string, @Body() dto: CreateProjectDto): Promise<ProjectDto> {
    return toProjectDto(await this.projects.create(workspaceId, dto));
  }

  @Get()
  @ApiOperation({ operationId: 'listProjects', summary: 'List projects, newest first' })
  @ApiOkResponse({ type: ProjectPageDto })
  @ApiErrors(400)
  async list(@WorkspaceId() workspaceId: string, @Query() query: ListProjectsQueryDto): Promise<Page<ProjectDto>> {
    const page = await this.projects.list(workspaceId, query);
    return { ...page, items: page.items.map(toProjectDto) };
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getProject', summary: 'Get a project with its file count and total size' })
  @ApiOkResponse({ type: ProjectDto })
  @ApiErrors(400, 404)
  async get(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<ProjectDto> {
    return toProjectDto(await this.projects.get(workspaceId, id));
  }

  @Patch(':id')
  @ApiOperation({ operationId: 'updateProject', summary: 'Change a project\'s name, slug, description, status or metadata' })
  @ApiOkResponse({ type: ProjectDto })
  @ApiErrors(400, 404, 409)
  async update(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: UpdateProjectDto): Promise<ProjectDto> {
    return toProjectDto(await this.projects.update(workspaceId, id, dto));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteProject', summary: 'Delete a project and all its files, exports, generated folder and Git repository' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 404)
  async remove(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<void> {
    await this.projects.remove(workspaceId, id);
  }
}
