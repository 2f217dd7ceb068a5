import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { MigrationInterface } from 'typeorm';
import request from 'supertest';
import type { AppOptions } from '../../src/app.module.js';
import { createApp } from '../../src/bootstrap.js';
import { AppConfig, loadConfig } from '../../src/config/app-config.js';
import { createTestDatabase } from './test-database.js';

export interface TestApp {
  app: NestFastifyApplication;
  /** Base URL of the listening server, e.g. http://127.0.0.1:41234 */
  url: string;
  config: AppConfig;
  databaseUrl: string;
  /** supertest agent on `url`, carrying the default workspace's admin key. */
  api: ReturnType<typeof request.agent>;
  /** The default workspace's admin token (BOOTSTRAP_API_KEY). */
  adminToken: string;
  /** A supertest agent carrying another token. */
  as(token: string): ReturnType<typeof request.agent>;
  /** Every route the HTTP server serves, as `METHOD /path/{param}` (HEAD routes left out). */
  routes: string[];
  /** Runs SQL directly against this test's database (to look at what is stored). */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * TypeORM would import migrations/*.ts itself, through a dynamic import that jest binds to the
 * first test file of the worker; later files then fail. Importing them here keeps each file's own.
 */
export async function loadMigrations() {
  const folder = join(process.cwd(), 'migrations');
  const files = readdirSync(folder).filter((file) => file.endsWith('.ts')).sort();
  const modules = await Promise.all(files.map((file) => import(join(folder, file))));
  return modules.flatMap((module) => Object.values(module) as Array<new () => MigrationInterface>);
}

/**
 * The real app on a real port, against a fresh database of its own (schema from the
 * migrations, as at start-up). `env` overrides configuration variables.
 */
export async function startTestApp(env: Record<string, string> = {}, options: Pick<AppOptions, 'imports'> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const databaseUrl = database.url;
  const adminToken = `fl_${randomBytes(32).toString('base64url')}`;
  const config = loadConfig(
    {
      LOG_LEVEL: 'warn',
      BOOTSTRAP_API_KEY: adminToken,
      RATE_LIMIT_MAX: '1000000',
      SECRETS_KEY: randomBytes(32).toString('hex'),
      DATA_DIR: '.data/test',
      ...env,
      DATABASE_URL: databaseUrl,
    },
    '',
  );
  const app = await createApp({ config, databaseUrl, migrations: await loadMigrations(), imports: options.imports });
  const routes: string[] = [];
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRoute', (route) => {
      for (const method of ([] as string[]).concat(route.method)) {
        if (method !== 'HEAD') routes.push(`${method} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
      }
    });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // An idle test connection ended by the server (a forced DROP DATABASE elsewhere) is not a test failure.
  pool.on('error', () => undefined);
  return {
    app,
    url,
    config,
    databaseUrl,
    adminToken,
    routes,
    api: request.agent(url).set('authorization', `Bearer ${adminToken}`),
    as: (token) => request.agent(url).set('authorization', `Bearer ${token}`),
    sql: async (text, params) => (await pool.query(text, params)).rows,
    close: async () => {
      await app.close();
      await pool.end();
      await database.drop();
    },
  };
}
