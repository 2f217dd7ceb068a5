import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { WorkspaceId } from '../access/auth-context.js';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { CreateGitCredentialDto, GitCredentialDto } from './dto/git-credential.dto.js';
import { GitCredential } from './git-credential.entity.js';
import { GitCredentialsService } from './git-credentials.service.js';

const toDto = ({ id, name, username, host, createdAt, updatedAt }: GitCredential): GitCredentialDto => ({ id, name, username, host, tokenSet: true, createdAt, updatedAt });

@ApiTags('git export')
@ApiBearerAuth()
@Controller('git-credentials')
export class GitCredentialsController {
  constructor(private readonly credentials: GitCredentialsService) {}

  @Post()
  @ExplicitOnly('holds a credential')
  @ApiOperation({ operationId: 'createGitCredential', summary: 'Store a username and token for pushing to Git remotes (the token is write-only, encrypted at rest)' })
  @ApiCreatedResponse({ type: GitCredentialDto })
  @ApiErrors(400, 409)
  async create(@WorkspaceId() workspaceId: string, @Body() dto: CreateGitCredentialDto): Promise<GitCredentialDto> {
    return toDto(await this.credentials.create(workspaceId, dto));
  }

  @Get()
  @ExplicitOnly('manages credentials')
  @ApiOperation({ operationId: 'listGitCredentials', summary: 'List the workspace\'s Git credentials (never their tokens)' })
  @ApiOkResponse({ type: [GitCredentialDto] })
  async list(@WorkspaceId() workspaceId: string): Promise<GitCredentialDto[]> {
    return (await this.credentials.list(workspaceId)).map(toDto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteGitCredential', summary: 'Delete a Git credential (exports that named it keep running without it)' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 404)
  async remove(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<void> {
    await this.credentials.remove(workspaceId, id);
  }
}
