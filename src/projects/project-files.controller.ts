import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import mime from 'mime-types';
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
import { ProjectFilesService } from './project-files.service.js';

@ApiTags('project files')
@Controller('projects/:id/files')
export class ProjectFilesController {
  constructor(private readonly files: ProjectFilesService) {}

  @Put()
  @ApiOperation({ operationId: 'upsertProjectFiles', summary: 'Create or replace files, all or nothing' })
  @ApiOkResponse({ type: UpsertFilesResultDto })
  @ApiErrors(400, 404, 409, 413)
  upsert(@Param('id', ParseUuid()) id: string, @Body() dto: UpsertFilesDto): Promise<UpsertFilesResultDto> {
    return this.files.upsert(id, dto.files);
  }

  @Get()
  @ApiOperation({ operationId: 'listProjectFiles', summary: 'List file metadata, ordered by path' })
  @ApiOkResponse({ type: ProjectFilePageDto })
  @ApiErrors(400, 404)
  list(@Param('id', ParseUuid()) id: string, @Query() query: ListFilesQueryDto): Promise<Page<ProjectFileDto>> {
    return this.files.list(id, query);
  }

  @Get('content')
  @ApiOperation({ operationId: 'getProjectFileContent', summary: 'Download one file\'s exact bytes (ETag is its sha256)' })
  @ApiProduces('application/octet-stream', 'text/plain')
  @ApiOkResponse({ description: 'The raw bytes', schema: { type: 'string', format: 'binary' } })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'An ETag from an earlier response: 304 when unchanged' })
  @ApiErrors(400, 404)
  async content(
    @Param('id', ParseUuid()) id: string,
    @Query() query: FilePathQueryDto,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile | undefined> {
    const file = await this.files.read(id, query.path);
    const etag = `"${file.sha256}"`;
    reply.header('etag', etag);
    if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim() === etag)) {
      reply.status(304);
      return undefined;
    }
    const type = mime.contentType(query.path.split('/').pop() ?? '') || 'application/octet-stream';
    return new StreamableFile(file.content, { type, length: file.size });
  }

  @Delete()
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteProjectFile', summary: 'Delete one file' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 404)
  async remove(@Param('id', ParseUuid()) id: string, @Query() query: FilePathQueryDto): Promise<void> {
    await this.files.remove(id, query.path);
  }

  @Post('move')
  @HttpCode(200)
  @ApiOperation({ operationId: 'moveProjectFiles', summary: 'Rename or move a file, or a folder with all its files' })
  @ApiOkResponse({ type: MoveFilesResultDto })
  @ApiErrors(400, 404, 409)
  move(@Param('id', ParseUuid()) id: string, @Body() dto: MoveFileDto): Promise<MoveFilesResultDto> {
    return this.files.move(id, dto);
  }
}
