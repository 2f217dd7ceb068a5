import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { Page } from '../common/pagination.js';
import {
  FilePathQueryDto,
  ListFilesQueryDto,
  MoveFileDto,
  MoveFilesResultDto,
  ProjectFileDto,
  ProjectFilePageDto,
  UpsertFilesDto,
  UpsertFilesResultDto,
} from './dto/project-file.dto.js';
import { contentTypeOf } from './content-type.js';
import { ProjectFilesService } from './project-files.service.js';

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`, and `*` matches any. */
function matchesEtag(header: string, etag: string): boolean {
  return header.split(',').some((tag) => {
    const candidate = tag.trim();
    return candidate === '*' || candidate.replace(/^W\//, '') === etag;
  });
}

@ApiBearerAuth()
@ApiTags('project files')
@Controller('projects/:id/files')
export class ProjectFilesController {
  constructor(private readonly files: ProjectFilesService) {}

  @Put()
  @ApiOperation({ operationId: 'upsertProjectFiles', summary: 'Create or replace files, all or nothing' })
  @ApiOkResponse({ type: UpsertFilesResultDto })
  @ApiErrors(400, 404, 409, 413)
  upsert(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: UpsertFilesDto): Promise<UpsertFilesResultDto> {
    return this.files.upsert(workspaceId, id, dto.files);
  }

  @Get()
  @ApiOperation({ operationId: 'listProjectFiles', summary: 'List file metadata, ordered by path' })
  @ApiOkResponse({ type: ProjectFilePageDto })
  @ApiErrors(400, 404)
  list(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: ListFilesQueryDto): Promise<Page<ProjectFileDto>> {
    return this.files.list(workspaceId, id, query);
  }

  @Get('content')
  @ApiOperation({ operationId: 'getProjectFileContent', summary: 'Download one file\'s exact bytes (ETag is its sha256)' })
  @ApiProduces('application/octet-stream', 'text/plain')
  @ApiOkResponse({ description: 'The raw bytes', schema: { type: 'string', format: 'binary' } })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'An ETag from an earlier response: 304 when unchanged' })
  @ApiResponse({ status: 304, description: 'Not modified: the file still has the ETag sent in If-None-Match (no body)' })
  @ApiErrors(400, 404)
  async content(
    @WorkspaceId() workspaceId: string,
    @Param('id', ParseUuid()) id: string,
    @Query() query: FilePathQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile | undefined> {
    const file = await this.files.read(workspaceId, id, query.path);
    const etag = `"${file.sha256}"`;
    reply.header('etag', etag);
    if (ifNoneMatch && matchesEtag(ifNoneMatch, etag)) {
      reply.status(304);
      return undefined;
    }
    // Bytes from a project are data, never a page of this origin: no scripts, no plugins.
    reply.header('content-security-policy', "default-src 'none'; sandbox");
    return new StreamableFile(file.content, { type: contentTypeOf(query.path, file.content), length: file.size });
  }

  @Delete()
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteProjectFile', summary: 'Delete one file' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 404)
  async remove(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: FilePathQueryDto): Promise<void> {
    await this.files.remove(workspaceId, id, query.path);
  }

  @Post('move')
  @HttpCode(200)
  @ApiOperation({ operationId: 'moveProjectFiles', summary: 'Rename or move a file, or a folder with all its files' })
  @ApiOkResponse({ type: MoveFilesResultDto })
  @ApiErrors(400, 404, 409)
  move(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: MoveFileDto): Promise<MoveFilesResultDto> {
    return this.files.move(workspaceId, id, dto);
  }
}
