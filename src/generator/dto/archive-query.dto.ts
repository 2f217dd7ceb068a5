import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ARCHIVE_FORMATS } from '../archive.service.js';
import type { ArchiveFormat } from '../archive.service.js';

export class ArchiveQueryDto {
  @ApiPropertyOptional({ enum: ARCHIVE_FORMATS, default: 'zip', example: 'tar.gz', description: 'zip, or a gzipped tar' })
  @IsOptional() @IsIn(ARCHIVE_FORMATS)
  format: ArchiveFormat = 'zip';
}
