import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';

export class GenerateProjectDto {
  @ApiPropertyOptional({
    default: false,
    example: false,
    description: 'Remove the project\'s folder first (even one that is a symbolic link, which is unlinked, never followed) and write every file again',
  })
  @IsOptional() @IsBoolean()
  clean?: boolean;
}

export class GenerateResultDto {
  @ApiProperty({ example: '/srv/forgeline/.data/workspaces/3f2b8c1e-8a4f-4c52-9d0e-2b7f5f1c9a10', description: 'Absolute path of the project\'s folder on the server' })
  outputDir!: string;

  @ApiProperty({ example: 12, description: 'Files whose bytes or executable bit were written' })
  written!: number;

  @ApiProperty({ example: 4988, description: 'Files already on disk with the right bytes and mode' })
  unchanged!: number;

  @ApiProperty({ example: 3, description: 'Files (or other entries) deleted because the project no longer has them' })
  deleted!: number;

  @ApiProperty({ example: 49152, description: 'Bytes of file content written' })
  bytes!: number;

  @ApiProperty({ example: 42, description: 'Time the generation took, in milliseconds' })
  durationMs!: number;
}
