import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { SecretsService } from '../access/secrets.service.js';
import { DomainError } from '../common/domain-error.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { CreateGitCredentialDto } from './dto/git-credential.dto.js';
import { GitCredential } from './git-credential.entity.js';
import type { PushCredentials } from './push-error.js';

export const gitCredentialNotFound = (id: string) => new DomainError('GIT_CREDENTIAL_NOT_FOUND', `Git credential ${id} does not exist`);
/** Bound into the ciphertext: a token copied to another row or workspace does not decrypt. */
const contextOf = (workspaceId: string, id: string) => `workspace:${workspaceId}:git-credential:${id}`;

export interface RevealedCredential extends PushCredentials {
  host: string | null;
}

/** Stored credentials for Git remotes: the token is encrypted at rest and never leaves except to a push. */
@Injectable()
export class GitCredentialsService {
  private readonly credentials: WorkspaceScopedRepository<GitCredential>;

  constructor(
    @InjectRepository(GitCredential) repository: Repository<GitCredential>,
    private readonly secrets: SecretsService,
  ) {
    this.credentials = new WorkspaceScopedRepository(repository, gitCredentialNotFound);
  }

  async create(workspaceId: string, dto: CreateGitCredentialDto): Promise<GitCredential> {
    const credential = this.credentials.create(workspaceId, { name: dto.name, username: dto.username, host: dto.host.toLowerCase() });
    credential.id = randomUUID();
    credential.ciphertext = this.secrets.encrypt(dto.token, contextOf(workspaceId, credential.id));
    try {
      await this.credentials.save(workspaceId, credential);
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505') {
        const message = `a Git credential named "${dto.name}" already exists in this workspace`;
        throw new DomainError('GIT_CREDENTIAL_CONFLICT', message, [{ field: 'name', rule: 'unique', message }]);
      }
      throw error;
    }
    return this.credentials.get(workspaceId, credential.id);
  }

  list(workspaceId: string): Promise<GitCredential[]> {
    return this.credentials.query(workspaceId, 'c').orderBy('c.name').getMany();
  }

  get(workspaceId: string, id: string): Promise<GitCredential> {
    return this.credentials.get(workspaceId, id);
  }

  remove(workspaceId: string, id: string): Promise<void> {
    return this.credentials.delete(workspaceId, id);
  }

  /** The username and token, for the push that uses them; never for a response or a log. */
  async reveal(workspaceId: string, id: string): Promise<RevealedCredential> {
    const credential = await this.credentials.query(workspaceId, 'c').addSelect('c.ciphertext').andWhere('c.id = :id', { id }).getOne();
    if (!credential?.ciphertext) throw gitCredentialNotFound(id);
    return { username: credential.username, token: this.secrets.decrypt(credential.ciphertext, contextOf(workspaceId, id)), host: credential.host };
  }
}
