// Plain JavaScript: Jest runs global setup outside its module map and transform, so this file
// uses the compiled service (`pretest` builds it) rather than the TypeScript source.
import { join } from 'node:path';

/**
 * Without DATABASE_URL the suite runs on a real embedded PostgreSQL of its own (its own folder
 * and port, so a running `npm start` is never touched). Each test file makes its own database.
 */
export default async function globalSetup() {
  if (!process.env.REDIS_URL) console.log('\nREDIS_URL is not set: the tests that need Redis are skipped.');
  if (process.env.DATABASE_URL) return;
  const { startEmbeddedPostgres } = await import('../../dist/src/database/embedded-postgres.js');
  const db = await startEmbeddedPostgres({
    dir: join('.data', 'test-postgres'),
    port: Number(process.env.TEST_EMBEDDED_PG_PORT ?? 54339),
    database: 'forgeline_test',
  });
  process.env.DATABASE_URL = db.url;
  globalThis.__embeddedPostgres = db;
}
