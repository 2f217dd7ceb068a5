import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { ApiKey } from './api-key.entity.js';
import { ApiKeysService } from './api-keys.service.js';
import { CreateWorkspaceDto } from './dto/access.dto.js';
import { slugify } from '../projects/slug.js';
import { DEFAULT_WORKSPACE_SLUG, Workspace } from './workspace.entity.js';

/** Serialises bootstraps of processes that start together (app and worker). */
const BOOTSTRAP_LOCK = 0x466c426f; // "FlBo"

const slugOf = (name: string) => slugify(name, 90) || 'workspace';

@Injectable()
export class WorkspacesService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Access');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly apiKeys: ApiKeysService,
    private readonly config: AppConfig,
  ) {}

  async create(dto: CreateWorkspaceDto): Promise<{ workspace: Workspace; apiKey: ApiKey & { token: string } }> {
    return this.dataSource.transaction(async (manager) => {
      const workspace = await this.insert(manager, dto.name, dto.slug ?? slugOf(dto.name));
      const { key, token } = await this.apiKeys.create(workspace.id, { name: 'first admin key', scopes: ['admin'] }, manager);
      return { workspace, apiKey: { ...key, token } };
    });
  }

  async get(id: string): Promise<Workspace> {
    const workspace = await this.dataSource.manager.findOneBy(Workspace, { id });
    if (!workspace) throw new DomainError('WORKSPACE_NOT_FOUND', `Workspace ${id} does not exist`);
    return workspace;
  }

  /**
   * First start with no keys at all: a default workspace and an admin key, printed once.
   * With BOOTSTRAP_API_KEY: that exact token is made a valid admin key of the default workspace.
   */
  async onApplicationBootstrap(): Promise<void> {
    const printed = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
      const workspace =
        (await manager.findOneBy(Workspace, { slug: DEFAULT_WORKSPACE_SLUG })) ??
        (await this.insert(manager, 'Default workspace', DEFAULT_WORKSPACE_SLUG));
      if (this.config.BOOTSTRAP_API_KEY) {
        await this.apiKeys.ensureToken(workspace.id, this.config.BOOTSTRAP_API_KEY, manager);
        return null;
      }
      if ((await manager.count(ApiKey)) > 0) return null;
      const { token } = await this.apiKeys.create(workspace.id, { name: 'bootstrap admin key', scopes: ['admin'] }, manager);
      return token;
    });
    if (printed) {
      this.logger.warn(
        `No API keys existed, so an admin key of the default workspace was created. It is shown only this once: ${printed}  ` +
          `Use it as "Authorization: Bearer <key>"; in Swagger UI (/docs) click "Authorize" and paste the key.`,
      );
    }
  }

  private async insert(manager: EntityManager, name: string, slug: string): Promise<Workspace> {
    try {
      return await manager.save(manager.create(Workspace, { name, slug }));
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
        const message = `workspace slug "${slug}" is already taken`;
        throw new DomainError('SLUG_CONFLICT', message, [{ field: 'slug', rule: 'unique', message }]);
      }
      throw error;
    }
  }
}
