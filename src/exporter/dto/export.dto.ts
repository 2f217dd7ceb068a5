import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsString, IsUUID, Length, Matches, MaxLength, ValidateNested } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validators.js';
import { PageOf, PageQueryDto } from '../../common/pagination.js';
import { EXPORT_STATUSES } from '../repository-export.entity.js';
import type { ExportStatus } from '../repository-export.entity.js';

/** Text a commit may carry: no NUL and no control characters but tab and newlines. */
// eslint-disable-next-line no-control-regex
const COMMIT_TEXT = /^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/;

export class AuthorDto {
  @ApiProperty({ example: 'Ada Lovelace', maxLength: 200 })
  @IsString() @Length(1, 200) @Matches(/^[^<>\n\r\0]*\S[^<>\n\r\0]*$/, { message: 'author.name must not contain <, > or newlines, nor be blank' })
  name!: string;

  @ApiProperty({ example: 'ada@example.com', maxLength: 200 })
  @IsString() @Length(1, 200) @Matches(/^[^<>\s\0]+$/, { message: 'author.email must not contain <, > or whitespace' })
  email!: string;
}

export class ExportRemoteDto {
  @ApiProperty({ example: 'https://github.com/acme/invoice-service.git', description: 'https:// (http:// only with GIT_ALLOW_HTTP=true); no credentials in the URL' })
  @IsString() @MaxLength(2048)
  url!: string;

  @ApiPropertyOptional({ example: 'main', description: 'Branch on the remote; default: the export\'s branch' })
  @IsOptionalNotNull() @IsString()
  branch?: string;

  @ApiPropertyOptional({ default: false, description: 'Overwrite the remote branch even when the push is not a fast-forward' })
  @IsOptionalNotNull() @IsBoolean()
  force?: boolean;

  @ApiPropertyOptional({ format: 'uuid', description: 'A stored credential (POST /api/git-credentials)' })
  @IsOptionalNotNull() @IsUUID()
  credentialId?: string;

  @ApiPropertyOptional({ example: 'x-access-token', description: 'With `token`: credentials used for this push only, never stored; default "git"' })
  @IsOptionalNotNull() @IsString() @Length(1, 200) @Matches(/^[^:\s]+$/, { message: 'remote.username must not contain ":" or whitespace' })
  username?: string;

  @ApiPropertyOptional({ writeOnly: true, description: 'Write-only: a password or access token used for this push only' })
  @IsOptionalNotNull() @IsString() @Length(1, 4096) @Matches(/^\S+$/, { message: 'remote.token must not contain whitespace' })
  token?: string;
}

export class CreateExportDto {
  @ApiPropertyOptional({ example: 'main', default: 'main', description: 'Branch to commit to (git check-ref-format rules)' })
  @IsOptionalNotNull() @IsString()
  branch?: string;

  @ApiPropertyOptional({ example: 'v1.0.0', description: 'A tag to point at the exported commit (git check-ref-format rules)' })
  @IsOptionalNotNull() @IsString()
  tag?: string;

  @ApiPropertyOptional({ example: 'Add the invoice service', maxLength: 10000, description: 'Commit message; default "Export of <project name>". Trailers naming the project and the export are added.' })
  @IsOptionalNotNull() @IsString() @MaxLength(10000) @Matches(COMMIT_TEXT, { message: 'message must not contain NUL or control characters other than tab and newlines' })
  message?: string;

  @ApiPropertyOptional({ type: AuthorDto, description: 'Default: GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL' })
  @IsOptionalNotNull() @ValidateNested() @Type(() => AuthorDto)
  author?: AuthorDto;

  @ApiPropertyOptional({ default: false, description: 'Make a commit even when the tree is unchanged' })
  @IsOptionalNotNull() @IsBoolean()
  allowEmpty?: boolean;

  @ApiPropertyOptional({ type: ExportRemoteDto, description: 'Push the branch (and the tag) there after the commit' })
  @IsOptionalNotNull() @ValidateNested() @Type(() => ExportRemoteDto)
  remote?: ExportRemoteDto;
}

export class PushedRefDto {
  @ApiProperty({ example: 'refs/heads/main' }) ref!: string;
  @ApiProperty() ok!: boolean;
  @ApiPropertyOptional() error?: string;
}

export class PushResultDto {
  @ApiProperty({ example: 'https://github.com/acme/invoice-service.git' }) remoteUrl!: string;
  @ApiProperty({ example: 'main' }) remoteBranch!: string;
  @ApiProperty() forced!: boolean;
  @ApiProperty({ type: [PushedRefDto] }) refs!: PushedRefDto[];
}

export class RepositoryExportDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) projectId!: string;
  @ApiProperty({ enum: EXPORT_STATUSES }) status!: ExportStatus;
  @ApiProperty({ example: 'main' }) branch!: string;
  @ApiProperty({ nullable: true, type: String, example: 'v1.0.0' }) tag!: string | null;
  @ApiProperty({ description: 'The message as requested; the commit adds Forgeline-Project and Forgeline-Export trailers' }) message!: string;
  @ApiProperty({ type: AuthorDto }) author!: AuthorDto;
  @ApiProperty() allowEmpty!: boolean;
  @ApiProperty({ nullable: true, type: String, description: 'The branch\'s commit after the export (the existing one when unchanged)' }) commitSha!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The branch\'s tip before the export' }) parentSha!: string | null;
  @ApiProperty({ nullable: true, type: Boolean, description: 'True when the tree was unchanged and no commit was made' }) unchanged!: boolean | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Files in the exported tree' }) fileCount!: number | null;
  @ApiProperty({ nullable: true, type: String, description: 'The push remote, never with credentials' }) remoteUrl!: string | null;
  @ApiProperty({ nullable: true, type: PushResultDto }) pushResult!: PushResultDto | null;
  @ApiProperty({ nullable: true, type: String, description: 'Why the export failed (or why an attempt did, while it is retried)' }) error!: string | null;
  @ApiProperty({ description: 'Runs started so far, retries included' }) attempts!: number;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) startedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) finishedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Number, description: 'From the first start to the finish' }) durationMs!: number | null;
}

export class RepositoryExportPageDto extends PageOf(RepositoryExportDto) {}

export class ListCommitsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ example: 'main', default: 'main' })
  @IsOptionalNotNull() @IsString()
  branch?: string;
}

export class CommitDto {
  @ApiProperty({ example: '9f8785c214882d9ff871f2ecbe8c848b28802daf' }) sha!: string;
  @ApiProperty({ type: [String] }) parents!: string[];
  @ApiProperty({ description: 'The full message, trailers included' }) message!: string;
  @ApiProperty({ type: AuthorDto }) author!: AuthorDto;
  @ApiProperty({ description: 'Author date, ISO 8601' }) date!: string;
  @ApiProperty({ description: 'Paths added, changed or removed by the commit' }) changedPaths!: number;
}

export class CommitPageDto extends PageOf(CommitDto) {}
