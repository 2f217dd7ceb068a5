import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.js';
import { ExplicitOnly } from '../common/explicit-only.js';
import { ParseUuid } from '../common/parse-uuid.pipe.js';
import { ApiKey } from './api-key.entity.js';
import { ApiKeysService } from './api-keys.service.js';
import { RequiredScope, WorkspaceId } from './auth-context.js';
import { ApiKeyDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/access.dto.js';

export function toApiKeyDto(key: ApiKey): ApiKeyDto {
  const { id, name, prefix, scopes, expiresAt, revokedAt, lastUsedAt, createdAt } = key;
  return { id, name, prefix, scopes, expiresAt, revokedAt, lastUsedAt, createdAt };
}

@ApiTags('access')
@ApiBearerAuth()
@ExplicitOnly('access management')
@Controller('api-keys')
@RequiredScope('admin')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Post()
  @ApiOperation({ operationId: 'createApiKey', summary: 'Create an API key of this workspace (its token is shown once)' })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiErrors(400, 401, 403)
  async create(@WorkspaceId() workspaceId: string, @Body() dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const { key, token } = await this.apiKeys.create(workspaceId, dto);
    return { ...toApiKeyDto(key), token };
  }

  @Get()
  @ApiOperation({ operationId: 'listApiKeys', summary: 'List this workspace\'s API keys (never their tokens)' })
  @ApiOkResponse({ type: [ApiKeyDto] })
  @ApiErrors(401, 403)
  async list(@WorkspaceId() workspaceId: string): Promise<ApiKeyDto[]> {
    return (await this.apiKeys.list(workspaceId)).map(toApiKeyDto);
  }

  @Delete(':id')
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke an API key: it is refused from now on' })
  @ApiOkResponse({ type: ApiKeyDto })
  @ApiErrors(400, 401, 403, 404)
  async revoke(@WorkspaceId() workspaceId: string, @Param('id', ParseUuid()) id: string): Promise<ApiKeyDto> {
    return toApiKeyDto(await this.apiKeys.revoke(workspaceId, id));
  }
}
