import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { dataSourceOptions, ENTITIES_GLOB } from './data-source.js';
import { openDatabase } from './database.js';

const USAGE = 'usage: migrate.js run | revert | show | generate <PascalCaseName>';

/** The migration CLI (npm run migration:*), on the same DataSource definition as the app. */
async function main(command: string | undefined, name: string | undefined): Promise<void> {
  if (!command || !['run', 'revert', 'show', 'generate'].includes(command)) throw new Error(USAGE);
  if (command === 'generate' && !/^[A-Z][A-Za-z0-9]*$/.test(name ?? '')) throw new Error(`generate needs a PascalCase name. ${USAGE}`);
  const config = loadConfig();
  const database = await openDatabase(config);
  const dataSource = new DataSource({ ...dataSourceOptions(database.url, 2), entities: [ENTITIES_GLOB] });
  try {
    await dataSource.initialize();
    if (command === 'run') {
      const done = await dataSource.runMigrations({ transaction: 'each' });
      console.log(done.length ? done.map((m) => `applied ${m.name}`).join('\n') : 'No pending migrations.');
    } else if (command === 'revert') {
      await dataSource.undoLastMigration({ transaction: 'each' });
      console.log('Reverted the last migration.');
    } else if (command === 'show') {
      console.log((await dataSource.showMigrations()) ? 'There are pending migrations.' : 'The schema is up to date.');
    } else {
      await generate(dataSource, name as string);
    }
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await database.stop();
  }
}

/** Writes migrations/<timestamp>-<Name>.ts from the difference between the entities and the database. */
async function generate(dataSource: DataSource, name: string): Promise<void> {
  const pending = await dataSource.showMigrations();
  if (pending) throw new Error('Run the pending migrations first (npm run migration:run): the diff must start from the latest schema.');
  const sql = await dataSource.driver.createSchemaBuilder().log();
  if (sql.upQueries.length === 0) {
    console.log('No changes: the entities match the schema.');
    return;
  }
  const timestamp = Date.now();
  const lines = (queries: typeof sql.upQueries) =>
    queries.map((q) => `    await queryRunner.query(${JSON.stringify(q.query)}${q.parameters?.length ? `, ${JSON.stringify(q.parameters)}` : ''});`).join('\n');
  const source = `import { MigrationInterface, QueryRunner } from 'typeorm';

export class ${name}${timestamp} implements MigrationInterface {
  name = '${name}${timestamp}';

  async up(queryRunner: QueryRunner): Promise<void> {
${lines(sql.upQueries)}
  }

  async down(queryRunner: QueryRunner): Promise<void> {
${lines(sql.downQueries.reverse())}
  }
}
`;
  const file = join(process.cwd(), 'migrations', `${timestamp}-${name}.ts`);
  await writeFile(file, source);
  console.log(`Wrote ${file}`);
}

main(process.argv[2], process.argv[3]).catch((error) => {
  console.error(error instanceof ConfigError ? error.message : error instanceof Error ? error.message : error);
  process.exit(1);
});
