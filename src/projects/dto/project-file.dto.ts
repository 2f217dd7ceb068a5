import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMinSize, IsArray, IsBoolean, IsIn, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { HasNoNul, IsOptionalNotNull } from '../../common/validators.js';
import { PageOf, PageQueryDto } from '../../common/pagination.js';
import { FILE_MODES } from '../project-file.entity.js';
import type { FileMode } from '../project-file.entity.js';

export const ENCODINGS = ['utf8', 'base64'] as const;
export type Encoding = (typeof ENCODINGS)[number];

export class FileInputDto {
  @ApiProperty({ example: 'src/index.ts', description: 'Relative POSIX path (NFC); see the path rules in the README' })
  @IsString()
  path!: string;

  @ApiProperty({ example: 'export const answer = 42;\n', description: 'File content, as UTF-8 text or standard padded base64' })
  @IsString()
  content!: string;

  @ApiPropertyOptional({ enum: ENCODINGS, default: 'utf8' })
  @IsOptionalNotNull() @IsIn(ENCODINGS)
  encoding?: Encoding;

  @ApiPropertyOptional({ description: 'Executable bit; omitted keeps the current mode (regular for new files)' })
  @IsOptionalNotNull() @IsBoolean()
  executable?: boolean;
}

export class UpsertFilesDto {
  @ApiProperty({ type: [FileInputDto] })
  @IsArray() @ArrayMinSize(1) @ValidateNested({ each: true }) @Type(() => FileInputDto)
  files!: FileInputDto[];
}

export const UPSERT_OUTCOMES = ['created', 'updated', 'unchanged'] as const;
export type UpsertOutcome = (typeof UPSERT_OUTCOMES)[number];

export class UpsertedFileDto {
  @ApiProperty() path!: string;
  @ApiProperty() sha256!: string;
  @ApiProperty() size!: number;
  @ApiProperty({ enum: UPSERT_OUTCOMES }) status!: UpsertOutcome;
}

export class UpsertFilesResultDto {
  @ApiProperty({ type: [UpsertedFileDto] }) files!: UpsertedFileDto[];
  @ApiProperty() created!: number;
  @ApiProperty() updated!: number;
  @ApiProperty() unchanged!: number;
}

export class ProjectFileDto {
  @ApiProperty() path!: string;
  @ApiProperty() size!: number;
  @ApiProperty() sha256!: string;
  @ApiProperty({ enum: FILE_MODES }) mode!: FileMode;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class ProjectFilePageDto extends PageOf(ProjectFileDto) {}

export class ListFilesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Only paths starting with this text (e.g. "src/")' })
  @IsOptional() @IsString() @MaxLength(1024) @HasNoNul()
  prefix?: string;
}

export class FilePathQueryDto {
  @ApiProperty({ example: 'src/index.ts' })
  @IsString()
  path!: string;
}

export class MoveFileDto {
  @ApiProperty({ example: 'src/old.ts', description: 'A file, or a folder whose files all move' })
  @IsString()
  from!: string;

  @ApiProperty({ example: 'src/new.ts' })
  @IsString()
  to!: string;

  @ApiPropertyOptional({ default: false, description: 'Replace an existing file at `to` (single-file moves only)' })
  @IsOptionalNotNull() @IsBoolean()
  overwrite?: boolean;
}

export class MovedFileDto {
  @ApiProperty() from!: string;
  @ApiProperty() to!: string;
}

export class MoveFilesResultDto {
  @ApiProperty({ type: [MovedFileDto] }) moved!: MovedFileDto[];
}
