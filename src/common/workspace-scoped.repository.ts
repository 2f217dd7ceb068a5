import { EntityManager, FindOptionsWhere, ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';
import type { EntityMetadata } from 'typeorm';
import { ApplyValueTransformers } from 'typeorm/util/ApplyValueTransformers.js';
import { poolOf } from '../database/data-source.js';
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
  /** The by-id read as one plain SQL statement, built on first use (null: the entity needs TypeORM's). */
  private byId?: ByIdRead | null;

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

  /**
   * The row as findOneBy would give it, read with one SELECT prepared once per connection: the
   * by-id read is on every hot path (each run started reads its workflow), and TypeORM spends
   * more CPU building the query than PostgreSQL spends answering it.
   */
  async findOne(workspaceId: string, id: string): Promise<T | null> {
    const read = (this.byId ??= byIdRead(this.repository.metadata));
    if (!read) return this.repository.findOneBy({ id, workspaceId } as FindOptionsWhere<T>);
    const {
      rows: [row],
    } = await poolOf(this.repository.manager.connection).query<Record<string, unknown>>({ name: read.name, text: read.text, values: [id, workspaceId] });
    if (!row) return null;
    const entity = this.repository.metadata.create() as Record<string, unknown>;
    for (const { property, transformer } of read.columns) entity[property] = transformer ? ApplyValueTransformers.transformFrom(transformer, row[property]) : row[property];
    return entity as T;
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

interface ByIdRead {
  name: string;
  text: string;
  columns: Array<{ property: string; transformer: ColumnTransformer }>;
}

type ColumnTransformer = EntityMetadata['columns'][number]['transformer'];

/**
 * SELECT of the columns findOneBy hydrates (those it selects, under their property names), or
 * null for an entity whose columns are not all plain properties (embedded, a relation's own).
 */
function byIdRead(metadata: EntityMetadata): ByIdRead | null {
  const columns = metadata.columns.filter((column) => column.isSelect && !column.isVirtual);
  const plain = columns.every((column) => !column.embeddedMetadata && (!column.relationMetadata || column.relationMetadata.propertyName !== column.propertyName));
  if (!plain || !metadata.columns.some((column) => column.databaseName === 'workspace_id')) return null;
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const list = columns.map((column) => `${quote(column.databaseName)} AS ${quote(column.propertyName)}`).join(', ');
  return {
    name: `${metadata.tableName}_by_id`,
    text: `SELECT ${list} FROM ${quote(metadata.tableName)} WHERE "id" = $1 AND "workspace_id" = $2`,
    columns: columns.map((column) => ({ property: column.propertyName, transformer: column.transformer })),
  };
}
