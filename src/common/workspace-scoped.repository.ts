import { EntityManager, FindOptionsWhere, ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';
import { DomainError } from './domain-error.js';
import type { Page } from './pagination.js';

export interface WorkspaceOwned extends ObjectLiteral {
  id: string;
  workspaceId: string;
}

/**
 * The only road from a service to the rows it owns: every read, write and lock takes the
 * caller's workspace id and adds it to the query, so a row of another workspace is simply
 * not found (404, exactly like a missing id). Services keep this, never the raw Repository.
 */
export class WorkspaceScopedRepository<T extends WorkspaceOwned> {
  constructor(
    private readonly repository: Repository<T>,
    private readonly notFound: (id: string) => DomainError,
  ) {}

  get tableName(): string {
    return this.repository.metadata.tableName;
  }

  /** A query builder already restricted to the workspace, aliased `alias`. */
  query(workspaceId: string, alias: string): SelectQueryBuilder<T> {
    return this.repository.createQueryBuilder(alias).where(`${alias}.workspace_id = :workspaceId`, { workspaceId });
  }

  /**
   * A page of the workspace's rows, newest first. `filter` narrows the query; the rows' alias is `e`.
   */
  async page(workspaceId: string, page: { limit: number; offset: number }, filter?: (builder: SelectQueryBuilder<T>) => void): Promise<Page<T>> {
    const builder = this.query(workspaceId, 'e').orderBy('e.created_at', 'DESC').addOrderBy('e.id', 'DESC').take(page.limit).skip(page.offset);
    filter?.(builder);
    const [items, total] = await builder.getManyAndCount();
    return { items, total, limit: page.limit, offset: page.offset };
  }

  findOne(workspaceId: string, id: string): Promise<T | null> {
    return this.repository.findOneBy({ id, workspaceId } as FindOptionsWhere<T>);
  }

  async get(workspaceId: string, id: string): Promise<T> {
    const row = await this.findOne(workspaceId, id);
    if (!row) throw this.notFound(id);
    return row;
  }

  find(workspaceId: string, where: FindOptionsWhere<T> = {}): Promise<T[]> {
    return this.repository.findBy({ ...where, workspaceId } as FindOptionsWhere<T>);
  }

  create(workspaceId: string, data: Partial<T>): T {
    return this.repository.create({ ...data, workspaceId } as T);
  }

  /** Saves a row that belongs to the workspace; refuses one that does not. */
  async save(workspaceId: string, entity: T, manager?: EntityManager): Promise<T> {
    if (entity.workspaceId !== workspaceId) throw this.notFound(entity.id);
    return manager ? manager.save(this.repository.target, entity) : this.repository.save(entity);
  }

  /**
   * Writes only `changes` to the row (UPDATE … WHERE id AND workspace_id): columns that other
   * writers keep, such as counters, are left as they are in the database, not as they were read.
   */
  async update(workspaceId: string, id: string, changes: Partial<T>): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    const result = await this.repository.update({ id, workspaceId } as FindOptionsWhere<T>, changes as never);
    if (!result.affected) throw this.notFound(id);
  }

  async delete(workspaceId: string, id: string): Promise<void> {
    const result = await this.repository.delete({ id, workspaceId } as FindOptionsWhere<T>);
    if (!result.affected) throw this.notFound(id);
  }

  /** Locks the row (SELECT … FOR UPDATE) inside `manager`'s transaction, or throws not-found. */
  async lock(manager: EntityManager, workspaceId: string, id: string): Promise<T> {
    const row = await manager
      .createQueryBuilder(this.repository.target, 'e')
      .setLock('pessimistic_write')
      .where('e.id = :id AND e.workspace_id = :workspaceId', { id, workspaceId })
      .getOne();
    if (!row) throw this.notFound(id);
    return row as T;
  }
}
