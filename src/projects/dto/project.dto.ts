import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsIn, IsObject, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import { HasNoNul, IsOptionalNotNull } from '../../common/validators.js';
import { PageOf, PageQueryDto } from '../../common/pagination.js';
import { GeneratedProject, PROJECT_STATUSES } from '../generated-project.entity.js';
import type { ProjectStatus } from '../generated-project.entity.js';

export const SLUG_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export class CreateProjectDto {
  @ApiProperty({ example: 'Invoice service', minLength: 1, maxLength: 200 })
  @IsString() @Length(1, 200) @Matches(/\S/, { message: 'name must not be blank' }) @HasNoNul()
  name!: string;

  @ApiPropertyOptional({ example: 'invoice-service', maxLength: 100, description: 'Lowercase letters, digits and single hyphens; derived from the name when omitted' })
  @IsOptionalNotNull() @IsString() @Length(1, 100) @Matches(SLUG_PATTERN, { message: 'slug must be lowercase letters and digits separated by single hyphens' })
  slug?: string;

  @ApiPropertyOptional({ maxLength: 10000 })
  @IsOptionalNotNull() @IsString() @MaxLength(10000) @HasNoNul()
  description?: string;

  @ApiPropertyOptional({ enum: PROJECT_STATUSES, default: 'active' })
  @IsOptionalNotNull() @IsIn(PROJECT_STATUSES)
  status?: ProjectStatus;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Free-form JSON object' })
  @IsOptionalNotNull() @IsObject() @HasNoNul()
  metadata?: Record<string, unknown>;
}

/** Every field optional; `null` is refused rather than skipped (the columns are NOT NULL). */
export class UpdateProjectDto extends PartialType(CreateProjectDto, { skipNullProperties: false }) {}

export class ListProjectsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive filter on name and slug' })
  @IsOptional() @IsString() @MaxLength(200) @HasNoNul()
  q?: string;
}

export class ProjectDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() slug!: string;
  @ApiProperty() description!: string;
  @ApiProperty({ enum: PROJECT_STATUSES }) status!: ProjectStatus;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata!: Record<string, unknown>;
  @ApiProperty({ description: 'Number of files' }) fileCount!: number;
  @ApiProperty({ description: 'Total size of all files, in bytes' }) totalBytes!: number;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class ProjectPageDto extends PageOf(ProjectDto) {}

/** The documented response fields only: nothing else of the row leaks into the API. */
export function toProjectDto(project: GeneratedProject): ProjectDto {
  const { id, name, slug, description, status, metadata, fileCount, totalBytes, createdAt, updatedAt } = project;
  return { id, name, slug, description, status, metadata, fileCount, totalBytes, createdAt, updatedAt };
}
