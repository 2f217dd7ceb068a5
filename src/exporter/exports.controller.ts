import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { Page, PageQueryDto } from '../common/pagination.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { CommitDto, CommitPageDto, CreateExportDto, ListCommitsQueryDto, RepositoryExportDto, RepositoryExportPageDto } from './dto/export.dto.js';
import { ExportsService, toExportDto } from './exports.service.js';

@ApiTags('git export')
@ApiBearerAuth()
@Controller()
export class ExportsController {
  constructor(private readonly exports: ExportsService) {}

  @Post('projects/:id/exports')
  @HttpCode(202)
  @ExplicitOnly('sends the project to another host, with credentials, and can force-push over its history')
  @ApiOperation({
    operationId: 'exportProject',
    summary: 'Export the project\'s files as a Git commit (and push it), in the background',
    description: 'Answers 202 with the queued export; poll getExport until it has succeeded or failed. The repository is served for `git clone` at /git/{projectSlug}.git.',
  })
  @ApiAcceptedResponse({ type: RepositoryExportDto })
  @ApiErrors(400, 404)
  async create(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: CreateExportDto): Promise<RepositoryExportDto> {
    return toExportDto(await this.exports.create(workspaceId, id, dto));
  }

  @Get('projects/:id/exports')
  @ApiOperation({ operationId: 'listProjectExports', summary: 'List the project\'s exports, newest first' })
  @ApiOkResponse({ type: RepositoryExportPageDto })
  @ApiErrors(400, 404)
  async list(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: PageQueryDto): Promise<Page<RepositoryExportDto>> {
    const page = await this.exports.list(workspaceId, id, query);
    return { ...page, items: page.items.map(toExportDto) };
  }

  @Get('exports/:id')
  @ApiOperation({ operationId: 'getExport', summary: 'Get an export: its status, commit, push result or error' })
  @ApiOkResponse({ type: RepositoryExportDto })
  @ApiErrors(400, 404)
  async get(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<RepositoryExportDto> {
    return toExportDto(await this.exports.get(workspaceId, id));
  }

  @Get('projects/:id/commits')
  @ApiOperation({ operationId: 'listProjectCommits', summary: 'The Git log of one of the project\'s branches: sha, message, author, date and changed paths, newest first' })
  @ApiOkResponse({ type: CommitPageDto })
  @ApiErrors(400, 404)
  commits(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: ListCommitsQueryDto): Promise<Page<CommitDto>> {
    return this.exports.commits(workspaceId, id, query);
  }
}
