import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, Matches, MaxLength } from 'class-validator';

export const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/** A host name or address, optionally with a port: what `new URL(remote).host` gives. */
export const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

export class CreateGitCredentialDto {
  @ApiProperty({ example: 'github-bot', description: 'Unique in the workspace: letters, digits, "_", "." and "-"' })
  @IsString() @Matches(CREDENTIAL_NAME, { message: 'name must be 1-100 letters, digits, "_", "." or "-", starting with a letter or digit' })
  name!: string;

  @ApiProperty({ example: 'x-access-token', description: 'The HTTP Basic username (hosts that take a token as password often accept any)' })
  @IsString() @Length(1, 200) @Matches(/^[^:\s]+$/, { message: 'username must not contain ":" or whitespace' })
  username!: string;

  @ApiProperty({ example: 'ghp_exampleToken0123456789', writeOnly: true, description: 'Write-only: the password or access token, stored encrypted, never returned' })
  @IsString() @Length(1, 4096) @Matches(/^[^\s]+$/, { message: 'token must not contain whitespace' })
  token!: string;

  @ApiProperty({ example: 'github.com', description: 'The only host this credential is sent to (with a port when not the default): a credential bound to no host could be sent to any remote an export names' })
  @IsString() @MaxLength(255) @Matches(HOST, { message: 'host must be a host name or address, optionally with ":port"' })
  host!: string;
}

export class GitCredentialDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'github-bot' }) name!: string;
  @ApiProperty({ example: 'x-access-token' }) username!: string;
  @ApiProperty({ nullable: true, type: String, example: 'github.com' }) host!: string | null;
  @ApiProperty({ example: true, description: 'Always true: the token itself is never returned' }) tokenSet!: boolean;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}
