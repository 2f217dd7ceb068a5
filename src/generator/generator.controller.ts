import { Body, Controller, Get, HttpCode, Param, Post, Query, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { ArchiveService } from './archive.service.js';
import { ArchiveQueryDto } from './dto/archive-query.dto.js';
import { GenerateProjectDto, GenerateResultDto } from './dto/generate-project.dto.js';
import { ProjectGenerator } from './project-generator.service.js';

@ApiBearerAuth()
@ApiTags('generator')
@Controller('projects/:id')
export class GeneratorController {
  constructor(
    private readonly generator: ProjectGenerator,
    private readonly archives: ArchiveService,
  ) {}

  @Post('generate')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'generateProject',
    summary: 'Write the project\'s files to its folder on the server, changing only what differs',
    description:
      'Writes files whose bytes or executable bit differ (atomically), deletes files the project no longer has and removes emptied folders. ' +
      'Generations of one project run one at a time (409 GENERATION_BUSY after GENERATE_LOCK_TIMEOUT_MS). ' +
      'A workspace holding a symbolic link is refused (409 WORKSPACE_UNSAFE) unless `clean` is set.',
  })
  @ApiOkResponse({ type: GenerateResultDto })
  @ApiErrors(400, 404, 409, 500, 507)
  generate(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: GenerateProjectDto): Promise<GenerateResultDto> {
    return this.generator.generate(workspaceId, id, { clean: dto?.clean ?? false });
  }

  @Get('archive')
  @ApiOperation({
    operationId: 'downloadProjectArchive',
    summary: 'Download the project as a zip or tar.gz, streamed',
    description: 'Entries sit under a `<slug>/` folder and keep their executable bit; the file is named `<slug>.zip` or `<slug>.tar.gz`.',
  })
  @ApiProduces('application/zip', 'application/gzip')
  @ApiOkResponse({ description: 'The archive', schema: { type: 'string', format: 'binary' } })
  @ApiErrors(400, 404)
  async archive(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Query() query: ArchiveQueryDto): Promise<StreamableFile> {
    const archive = await this.archives.open(workspaceId, id, query.format);
    return new StreamableFile(archive.stream, { type: archive.contentType, disposition: `attachment; filename="${archive.filename}"` });
  }
}
