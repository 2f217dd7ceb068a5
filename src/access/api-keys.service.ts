import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash, randomBytes } from 'node:crypto';
import { EntityManager, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { ApiKey, Scope } from './api-key.entity.js';
import { AuthContext } from './auth-context.js';

export const TOKEN_PREFIX = 'fl_';
const TOKEN_BYTES = 32;
const DISPLAY_PREFIX_LENGTH = 8;
/** Most tokens, known and unknown each, whose lookup is remembered (the oldest go first). */
const MAX_REMEMBERED_TOKENS = 10_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED_TOKENS) map.delete(map.keys().next().value as string);
}

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** `fl_` + 32 random bytes in base64url: 256 bits, so a fast hash is enough to store it. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

export interface NewKey {
  name: string;
  scopes: Scope[];
  expiresAt?: Date | null;
  /** Restricts the key to these operationIds (null: no restriction). */
  allowedOperations?: string[] | null;
}

interface CachedKey {
  key: Pick<ApiKey, 'id' | 'workspaceId' | 'scopes' | 'expiresAt' | 'revokedAt' | 'allowedOperations'>;
  until: number;
}

const keyNotFound = (id: string) => new DomainError('API_KEY_NOT_FOUND', `API key ${id} does not exist`);
const unauthenticated = (message: string) => new DomainError('UNAUTHENTICATED', message);

/**
 * Issues, verifies and revokes API keys. Verification hits the database at most once per key
 * per API_KEY_CACHE_TTL_MS; last use is kept in memory and written in one batch periodically.
 */
@Injectable()
export class ApiKeysService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(ApiKeysService.name);
  private readonly keys: WorkspaceScopedRepository<ApiKey>;
  private readonly cache = new Map<string, CachedKey>();
  /** Hashes of tokens that matched no key, until when: a flood of made-up tokens costs no queries. */
  private readonly unknown = new Map<string, number>();
  private readonly lastUsed = new Map<string, Date>();
  private flushTimer?: NodeJS.Timeout;

  constructor(
    @InjectRepository(ApiKey) private readonly repository: Repository<ApiKey>,
    private readonly config: AppConfig,
  ) {
    this.keys = new WorkspaceScopedRepository(repository, keyNotFound);
  }

  onModuleInit(): void {
    this.flushTimer = setInterval(() => void this.flushLastUsed(), this.config.API_KEY_LAST_USED_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Before the pool closes: the last uses still get written. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushLastUsed();
  }

  async create(workspaceId: string, input: NewKey, manager?: EntityManager): Promise<{ key: ApiKey; token: string }> {
    return this.createWithToken(workspaceId, input, generateToken(), manager);
  }

  async createWithToken(workspaceId: string, input: NewKey, token: string, manager?: EntityManager): Promise<{ key: ApiKey; token: string }> {
    const key = this.keys.create(workspaceId, {
      name: input.name,
      scopes: [...new Set(input.scopes)],
      expiresAt: input.expiresAt ?? null,
      allowedOperations: input.allowedOperations ? [...new Set(input.allowedOperations)] : null,
      prefix: token.slice(0, DISPLAY_PREFIX_LENGTH),
      tokenHash: hashToken(token),
    });
    const saved = await this.keys.save(workspaceId, key, manager);
    this.unknown.delete(key.tokenHash);
    delete (saved as Partial<ApiKey>).tokenHash;
    return { key: saved, token };
  }

  list(workspaceId: string): Promise<ApiKey[]> {
    return this.keys.query(workspaceId, 'k').orderBy('k.created_at', 'DESC').getMany();
  }

  async revoke(workspaceId: string, id: string): Promise<ApiKey> {
    const key = await this.keys.get(workspaceId, id);
    if (!key.revokedAt) {
      key.revokedAt = new Date();
      await this.keys.save(workspaceId, key);
    }
    this.cache.clear();
    return key;
  }

  /**
   * The id of the key this token matched when it was last verified, found without I/O: the rate
   * limit's bucket (whether the key is still valid is authenticate's business).
   */
  verifiedKeyId(token: string): string | undefined {
    return this.cache.get(hashToken(token))?.key.id;
  }

  /** Resolves a bearer token to its caller, or throws UNAUTHENTICATED. */
  async authenticate(token: string): Promise<AuthContext> {
    if (!token.startsWith(TOKEN_PREFIX)) throw unauthenticated('The bearer token is not a Forgeline API key (they start with "fl_")');
    const hash = hashToken(token);
    const now = Date.now();
    let cached = this.cache.get(hash);
    if (!cached || cached.until < now) {
      if ((this.unknown.get(hash) ?? 0) >= now) throw unauthenticated('Unknown API key');
      const key = await this.repository.findOne({
        where: { tokenHash: hash },
        select: { id: true, workspaceId: true, scopes: true, expiresAt: true, revokedAt: true, allowedOperations: true },
      });
      if (!key) {
        remember(this.unknown, hash, now + this.config.API_KEY_CACHE_TTL_MS);
        throw unauthenticated('Unknown API key');
      }
      cached = { key, until: now + this.config.API_KEY_CACHE_TTL_MS };
      remember(this.cache, hash, cached);
    }
    const { key } = cached;
    if (key.revokedAt) throw unauthenticated('This API key has been revoked');
    if (key.expiresAt && key.expiresAt.getTime() <= now) throw unauthenticated('This API key has expired');
    this.lastUsed.set(key.id, new Date(now));
    return { workspaceId: key.workspaceId, apiKeyId: key.id, scopes: key.scopes, allowedOperations: key.allowedOperations };
  }

  /** Makes sure `token` is a valid admin key of the workspace (BOOTSTRAP_API_KEY). */
  async ensureToken(workspaceId: string, token: string, manager: EntityManager): Promise<void> {
    const hash = hashToken(token);
    const existing = await manager.findOne(ApiKey, { where: { tokenHash: hash } });
    if (!existing) {
      await this.createWithToken(workspaceId, { name: 'bootstrap (BOOTSTRAP_API_KEY)', scopes: ['admin'] }, token, manager);
      return;
    }
    await manager.update(ApiKey, { id: existing.id }, { workspaceId, scopes: ['admin'], revokedAt: null, expiresAt: null });
    this.cache.clear();
    this.unknown.clear();
  }

  private async flushLastUsed(): Promise<void> {
    if (this.lastUsed.size === 0) return;
    const entries = [...this.lastUsed.entries()];
    this.lastUsed.clear();
    try {
      await this.repository.query(
        `UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at)
           FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id`,
        [entries.map(([id]) => id), entries.map(([, at]) => at.toISOString())],
      );
    } catch (error) {
      this.logger.warn(`could not record API key use: ${(error as Error).message}`);
    }
  }
}
