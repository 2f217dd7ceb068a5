import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsObject, IsOptional, IsString, MaxLength } from 'class-validator';
import { CreateProjectDto } from '../../projects/dto/project.dto.js';
import { BUILTIN_TEMPLATE_NAMES } from '../templates/builtin-templates.js';

/**
 * Keeps the variables object as parsed from JSON: class-transformer would silently drop keys
 * such as "toString" (they collide with Object.prototype). The service reads only own keys,
 * into a Map, and checks every name and value itself. ("constructor" and "__proto__" keys are
 * removed from every body by Nest's ValidationPipe before this runs.)
 */
const RawVariables = () => Transform(({ obj }) => (obj as { variables?: unknown }).variables, { toClassOnly: true });

export class InstantiateProjectDto extends PickType(CreateProjectDto, ['name', 'slug', 'description'] as const) {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { serviceName: 'billing' },
    description:
      'Values of the template\'s variables (strings; at most MAX_TEMPLATE_VARIABLES of at most MAX_TEMPLATE_VARIABLE_BYTES each). ' +
      'A variable the template uses without a default must be given; one it does not use is refused. ' +
      'A value used in a path must not contain "/" or be ".." ',
  })
  @IsOptional() @IsObject() @RawVariables()
  variables?: Record<string, unknown>;
}

export class InstantiateTemplateDto extends InstantiateProjectDto {
  @ApiProperty({ enum: BUILTIN_TEMPLATE_NAMES, example: 'typescript-library', description: 'A built-in template (GET /api/templates)' })
  @IsString() @MaxLength(100)
  template!: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { packageName: 'invoice-utils', description: 'Invoice helpers.' },
    description: 'Values of the template\'s variables, as listed by GET /api/templates',
  })
  @IsOptional() @IsObject() @RawVariables()
  override variables?: Record<string, unknown>;
}
