import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { SecretsService } from './secrets.service.js';
import { WorkspaceSecret } from './workspace-secret.entity.js';

const secretNotFound = (name: string) => new DomainError('SECRET_NOT_FOUND', `Secret "${name}" does not exist`);
const contextOf = (workspaceId: string, name: string) => `workspace:${workspaceId}:secret:${name}`;

/** Named, write-only secrets of a workspace (for `${{ secrets.NAME }}` and credentials). */
@Injectable()
export class WorkspaceSecretsService {
  private readonly secrets: WorkspaceScopedRepository<WorkspaceSecret>;

  constructor(
    @InjectRepository(WorkspaceSecret) private readonly repository: Repository<WorkspaceSecret>,
    private readonly crypto: SecretsService,
    private readonly config: AppConfig,
  ) {
    this.secrets = new WorkspaceScopedRepository(repository, secretNotFound);
  }

  async put(workspaceId: string, name: string, value: string): Promise<WorkspaceSecret> {
    const bytes = Buffer.byteLength(value);
    if (bytes > this.config.MAX_SECRET_BYTES) {
      const message = `value is ${bytes} bytes; MAX_SECRET_BYTES is ${this.config.MAX_SECRET_BYTES}`;
      throw new DomainError('VALIDATION_FAILED', message, [{ field: 'value', rule: 'max-secret-bytes', message }]);
    }
    const ciphertext = this.crypto.encrypt(value, contextOf(workspaceId, name));
    await this.repository.upsert({ workspaceId, name, ciphertext }, { conflictPaths: ['workspaceId', 'name'] });
    return this.describe(workspaceId, name);
  }

  list(workspaceId: string): Promise<WorkspaceSecret[]> {
    return this.secrets.query(workspaceId, 's').orderBy('s.name').getMany();
  }

  async describe(workspaceId: string, name: string): Promise<WorkspaceSecret> {
    const [secret] = await this.secrets.find(workspaceId, { name });
    if (!secret) throw secretNotFound(name);
    return secret;
  }

  async remove(workspaceId: string, name: string): Promise<void> {
    const secret = await this.describe(workspaceId, name);
    await this.secrets.delete(workspaceId, secret.id);
  }

  /** The plaintext, for the code that uses it; never for a response or a log. */
  async reveal(workspaceId: string, name: string): Promise<string> {
    const secret = await this.secrets
      .query(workspaceId, 's')
      .addSelect('s.ciphertext')
      .andWhere('s.name = :name', { name })
      .getOne();
    if (!secret) throw secretNotFound(name);
    return this.crypto.decrypt(secret.ciphertext, contextOf(workspaceId, name));
  }
}
