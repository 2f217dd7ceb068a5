import { Logger } from '@nestjs/common';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import type { DataSource, DataSourceOptions, MigrationInterface } from 'typeorm';
import { SnakeNamingStrategy } from './snake-naming.strategy.js';

const poolLogger = new Logger('Database');
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Compiled (or, under jest, source) migration files. */
export const MIGRATIONS_GLOB = join(root, 'migrations', '*.{js,ts}');
export const ENTITIES_GLOB = join(root, 'src', '**', '*.entity.{js,ts}');

/**
 * The one DataSource definition: the app (through TypeOrmModule) and the migration CLI both
 * build their connection from it. `synchronize` is never on: the schema comes from migrations/.
 */
export type MigrationList = Array<string | (new () => MigrationInterface)>;

export function dataSourceOptions(url: string, poolSize: number, migrations: MigrationList = [MIGRATIONS_GLOB]): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    namingStrategy: new SnakeNamingStrategy(),
    extra: { max: poolSize, connectionTimeoutMillis: 5_000 },
    // An idle connection the server ended (a restart, a killed backend): the pool drops it and
    // opens another on the next query; said once here, never a crash.
    poolErrorHandler: (error: Error) => poolLogger.warn(`a database connection was lost and will be replaced: ${error.message}`),
  };
}

/**
 * The app's pg.Pool (TypeORM's postgres driver keeps it as `master`): the same connections, for
 * statements TypeORM cannot send, such as named (prepared once per connection) ones.
 */
export function poolOf(dataSource: DataSource): Pool {
  return (dataSource.driver as unknown as { master: Pool }).master;
}
