import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { WorkspaceId } from './auth-context.js';
import { DomainError } from '../common/domain-error.js';
import { PutSecretDto, SECRET_NAME, SECRET_NAME_RULE, SecretDto } from './dto/access.dto.js';
import { WorkspaceSecret } from './workspace-secret.entity.js';
import { WorkspaceSecretsService } from './workspace-secrets.service.js';

/** A path name that breaks the naming rule is a 400 naming it, like a body's. */
const secretName = {
  transform(name: string): string {
    if (!SECRET_NAME.test(name)) throw new DomainError('VALIDATION_FAILED', SECRET_NAME_RULE, [{ field: 'name', rule: 'matches', message: SECRET_NAME_RULE }]);
    return name;
  },
};

const toSecretDto = ({ name, createdAt, updatedAt }: WorkspaceSecret): SecretDto => ({ name, set: true, createdAt, updatedAt });

@ApiTags('access')
@ApiBearerAuth()
@ExplicitOnly('manages workspace secrets')
@Controller('secrets')
export class SecretsController {
  constructor(private readonly secrets: WorkspaceSecretsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ operationId: 'putSecret', summary: 'Create or replace a workspace secret (write-only, encrypted at rest)' })
  @ApiOkResponse({ type: SecretDto })
  @ApiErrors(400, 401, 403)
  async put(@WorkspaceId() workspaceId: string, @Body() dto: PutSecretDto): Promise<SecretDto> {
    return toSecretDto(await this.secrets.put(workspaceId, dto.name, dto.value));
  }

  @Get()
  @ApiOperation({ operationId: 'listSecrets', summary: 'List the workspace\'s secrets: names only, never values' })
  @ApiOkResponse({ type: [SecretDto] })
  @ApiErrors(401)
  async list(@WorkspaceId() workspaceId: string): Promise<SecretDto[]> {
    return (await this.secrets.list(workspaceId)).map(toSecretDto);
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiOperation({ operationId: 'deleteSecret', summary: 'Delete a workspace secret' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404)
  async remove(@WorkspaceId() workspaceId: string, @Param('name', secretName) name: string): Promise<void> {
    await this.secrets.remove(workspaceId, name);
  }
}
