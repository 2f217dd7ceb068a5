import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class TemplateVariableDto {
  @ApiProperty({ example: 'packageName' }) name!: string;
  @ApiProperty({ example: 'npm package name, optionally scoped' }) description!: string;
  @ApiProperty({ example: true, description: 'Whether a value must be passed (no default, not derived)' }) required!: boolean;
  @ApiPropertyOptional({ example: 'MIT', description: 'Used when no value is passed' }) default?: string;
  @ApiPropertyOptional({ example: 'resourceName', description: 'When not passed, derived from this variable' }) derivedFrom?: string;
  @ApiPropertyOptional({ example: 'pascal', description: 'The letter case of a derived value' }) derivedCase?: string;
  @ApiPropertyOptional({ example: '[a-z][a-z0-9]*(?:-[a-z0-9]+)*', description: 'A regular expression the whole value must match' }) pattern?: string;
  @ApiPropertyOptional({ example: 'invoice-utils' }) example?: string;
}

export class TemplateDto {
  @ApiProperty({ example: 'typescript-library' }) name!: string;
  @ApiProperty({ example: 'A TypeScript library published as an ES module' }) description!: string;
  @ApiProperty({ type: [TemplateVariableDto] }) variables!: TemplateVariableDto[];
  @ApiProperty({ type: [String], example: ['package.json', 'src/index.ts'], description: 'Template paths of its files (rendered like their content)' }) files!: string[];
}
