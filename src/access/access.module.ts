import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKey } from './api-key.entity.js';
import { ApiKeysController } from './api-keys.controller.js';
import { ApiKeysService } from './api-keys.service.js';
import { AuthGuard } from './auth.guard.js';
import { SecretsController } from './secrets.controller.js';
import { SecretsService } from './secrets.service.js';
import { WorkspaceSecret } from './workspace-secret.entity.js';
import { WorkspaceSecretsService } from './workspace-secrets.service.js';
import { Workspace } from './workspace.entity.js';
import { WorkspacesController } from './workspaces.controller.js';
import { WorkspacesService } from './workspaces.service.js';

/**
 * Workspaces, API keys and secrets. Its guard authenticates every /api request; other modules use SecretsService for credentials and WorkspaceSecretsService for
 * named secrets, and read the caller's workspace with the @WorkspaceId() parameter decorator.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([Workspace, ApiKey, WorkspaceSecret])],
  controllers: [WorkspacesController, ApiKeysController, SecretsController],
  providers: [
    ApiKeysService,
    WorkspacesService,
    SecretsService,
    WorkspaceSecretsService,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [ApiKeysService, SecretsService, WorkspaceSecretsService],
})
export class AccessModule {}
