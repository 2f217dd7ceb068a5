import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsArray, IsString, Length, MaxLength } from 'class-validator';
import { PageOf } from '../../common/pagination.js';
import { IsOptionalNotNull } from '../../common/validators.js';

export class StepRetryDto {
  @ApiProperty({ minimum: 1, example: 3, description: 'Attempts in all, the first included (at most MAX_STEP_ATTEMPTS)' })
  attempts!: number;

  @ApiPropertyOptional({ minimum: 0, example: 1000, description: 'Delay before the first retry in ms; doubles with each further retry (at most MAX_STEP_BACKOFF_MS)' })
  backoffMs?: number;
}

/** Documents a step; the whole definition is checked by the workflow validator (WORKFLOW_INVALID names step and rule). */
export class StepDefinitionDto {
  @ApiProperty({ example: 'scaffold', description: 'Unique in the workflow: a letter or "_", then letters, digits, "_" or "-" (at most 64)' })
  id!: string;

  @ApiProperty({ example: 'create_project', description: 'A step type (GET /api/workflows/step-types)' })
  type!: string;

  @ApiPropertyOptional({ example: 'Create the project' })
  name?: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { name: '${{ input.name }}' },
    description: 'Valid against the type\'s input schema. Strings may hold ${{ input.x }}, ${{ steps.<id>.output.<path> }} and ${{ secrets.NAME }}, resolved when the step starts',
  })
  config!: Record<string, unknown>;

  @ApiPropertyOptional({ type: [String], example: [], description: 'Steps that must finish first; steps whose needs are met run in parallel' })
  needs?: string[];

  @ApiPropertyOptional({ oneOf: [{ type: 'string' }, { type: 'boolean' }], example: '${{ input.enabled }}', description: 'Run only when truthy (a boolean or one expression); otherwise the step is skipped' })
  if?: string | boolean;

  @ApiPropertyOptional({ type: StepRetryDto })
  retry?: StepRetryDto;

  @ApiPropertyOptional({ minimum: 1, example: 60000, description: 'Abort and fail the attempt after this many ms (WORKFLOW_STEP_TIMEOUT_MS; at most MAX_STEP_TIMEOUT_MS)' })
  timeoutMs?: number;

  @ApiPropertyOptional({ default: false, description: 'A failure does not fail the run, and the steps that need this one still run' })
  continueOnError?: boolean;
}

const EXAMPLE_STEPS = [
  { id: 'scaffold', type: 'create_project', config: { name: '${{ input.name }}' } },
  {
    id: 'readme',
    type: 'write_files',
    needs: ['scaffold'],
    config: { projectId: '${{ steps.scaffold.output.projectId }}', files: [{ path: 'README.md', content: '# ${{ input.name }}\n' }] },
  },
];

export class CreateWorkflowDto {
  @ApiProperty({ example: 'Scaffold a service', minLength: 1, maxLength: 200 })
  @IsString() @Length(1, 200)
  name!: string;

  @ApiPropertyOptional({ example: 'Creates a project and writes its README', maxLength: 10000 })
  @IsOptionalNotNull() @IsString() @MaxLength(10000)
  description?: string;

  @ApiProperty({ type: [StepDefinitionDto], example: EXAMPLE_STEPS, description: 'At most MAX_WORKFLOW_STEPS steps, without cycles' })
  @IsArray()
  steps!: unknown[];
}

/** A field sent as null is refused (a workflow always has a name and a description), not stored. */
export class UpdateWorkflowDto extends PartialType(CreateWorkflowDto, { skipNullProperties: false }) {}

export class WorkflowDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() description!: string;
  @ApiProperty({ description: 'Bumped by each update; a run keeps the version it started with' }) version!: number;
  @ApiProperty({ type: [StepDefinitionDto] }) steps!: StepDefinitionDto[];
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class WorkflowPageDto extends PageOf(WorkflowDto) {}

export class StepTypeDto {
  @ApiProperty({ example: 'write_files' }) type!: string;
  @ApiProperty({ example: 'Create or replace files of a project' }) description!: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'JSON Schema of the step\'s config' }) input!: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'JSON Schema of the step\'s output' }) output!: Record<string, unknown>;
  @ApiProperty({
    type: [String],
    example: ['headers'],
    description: 'Config fields (dotted paths) where ${{ secrets.NAME }} may appear, with everything below them; anywhere else a secret is a 400 (secret-not-allowed)',
  })
  secretFields!: string[];
}
