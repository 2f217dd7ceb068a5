import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMinSize, IsArray, IsDate, IsIn, IsOptional, IsString, Length, Matches, MinDate } from 'class-validator';
import { HasNoNul } from '../../common/validators.js';
import { SCOPES } from '../api-key.entity.js';
import type { Scope } from '../api-key.entity.js';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'dashboard', maxLength: 200 })
  @IsString() @Length(1, 200) @HasNoNul()
  name!: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['read', 'write'], description: 'admin includes write, write includes read' })
  @IsArray() @ArrayMinSize(1) @IsIn(SCOPES, { each: true })
  scopes!: Scope[];

  @ApiPropertyOptional({ format: 'date-time', description: 'After this instant the key is refused; must be in the future' })
  @IsOptional() @Type(() => Date) @IsDate() @MinDate(() => new Date(), { message: 'expiresAt must be in the future' })
  expiresAt?: Date;
}

export class ApiKeyDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ example: 'fl_Ab3dE', description: 'The first characters of the token, to recognise it' }) prefix!: string;
  @ApiProperty({ enum: SCOPES, isArray: true }) scopes!: Scope[];
  @ApiProperty({ nullable: true, type: Date }) expiresAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) revokedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date, description: 'Approximate: recorded in batches' }) lastUsedAt!: Date | null;
  @ApiProperty() createdAt!: Date;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ description: 'The token. Shown once: only its hash is stored.' }) token!: string;
}

export class CreateWorkspaceDto {
  @ApiProperty({ example: 'Acme', maxLength: 200 })
  @IsString() @Length(1, 200) @HasNoNul()
  name!: string;

  @ApiPropertyOptional({ example: 'acme', description: 'Derived from the name when omitted' })
  @IsOptional() @IsString() @Length(1, 100) @Matches(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, { message: 'slug must be lowercase letters and digits separated by single hyphens' })
  slug?: string;
}

export class WorkspaceDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() slug!: string;
  @ApiProperty() createdAt!: Date;
}

export class CreatedWorkspaceDto {
  @ApiProperty({ type: WorkspaceDto }) workspace!: WorkspaceDto;
  @ApiProperty({ type: CreatedApiKeyDto, description: 'The new workspace\'s first admin key; its token is shown once' }) apiKey!: CreatedApiKeyDto;
}

export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
export const SECRET_NAME_RULE = 'name must be letters, digits and "_", not starting with a digit, at most 100 characters';

export class PutSecretDto {
  @ApiProperty({ example: 'GITHUB_TOKEN', description: 'Letters, digits and "_", not starting with a digit' })
  @IsString() @Matches(SECRET_NAME, { message: SECRET_NAME_RULE })
  name!: string;

  @ApiProperty({ writeOnly: true, description: 'Write-only: stored encrypted, never returned; at most MAX_SECRET_BYTES bytes (UTF-8)' })
  @IsString()
  value!: string;
}

export class SecretDto {
  @ApiProperty() name!: string;
  @ApiProperty({ example: true, description: 'Always true: the value itself is never returned' }) set!: boolean;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}
