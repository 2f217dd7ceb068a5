import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { ProjectDto, toProjectDto } from '../projects/dto/project.dto.js';
import { InstantiateProjectDto, InstantiateTemplateDto } from './dto/instantiate.dto.js';
import { TemplateDto } from './dto/template.dto.js';
import { TemplatesService } from './templates.service.js';

const RENDERING =
  'Paths and text contents are rendered as logic-less Mustache: `{{name}}` (or `{{{name}}}`) inserts a variable verbatim; ' +
  'dotted names, sections and partials are refused with 400 TEMPLATE_INVALID, so no template text can run code. ' +
  'Binary files are copied untouched. A missing variable is 400 TEMPLATE_VARIABLE_MISSING naming it.';

@ApiBearerAuth()
@ApiTags('templates')
@Controller()
export class TemplatesController {
  constructor(private readonly templates: TemplatesService) {}

  @Get('templates')
  @ApiOperation({ operationId: 'listTemplates', summary: 'List the built-in templates and their variables' })
  @ApiOkResponse({ type: [TemplateDto] })
  list(): TemplateDto[] {
    return this.templates.list();
  }

  @Post('templates/instantiate')
  @ApiOperation({ operationId: 'instantiateTemplate', summary: 'Create a project from a built-in template', description: RENDERING })
  @ApiCreatedResponse({ type: ProjectDto })
  @ApiErrors(400, 404, 409, 413)
  async instantiateTemplate(@WorkspaceId() workspaceId: string, @Body() dto: InstantiateTemplateDto): Promise<ProjectDto> {
    return toProjectDto(await this.templates.instantiateBuiltin(workspaceId, dto));
  }

  @Post('projects/:id/instantiate')
  @ApiOperation({
    operationId: 'instantiateProject',
    summary: 'Create a project from another project used as a template',
    description:
      `${RENDERING} Files matched by a glob in the template's \`.forgeline-raw\` file (one per line) or in its ` +
      '`metadata.template.raw` are copied untouched; `metadata.template.variables` may describe variables and give defaults ' +
      '(`{"<name>": {"description": "…", "default": "…"}}`). The `.forgeline-raw` file itself is not copied.',
  })
  @ApiCreatedResponse({ type: ProjectDto })
  @ApiErrors(400, 404, 409, 413)
  async instantiateProject(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string, @Body() dto: InstantiateProjectDto): Promise<ProjectDto> {
    return toProjectDto(await this.templates.instantiateProject(workspaceId, id, dto));
  }
}
