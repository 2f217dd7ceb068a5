import 'reflect-metadata';
import { createApp } from './bootstrap.js';
import { openDatabase } from './database/database.js';
import { closeApp, exitGracefullyOnSignals, loadConfigOrExit, runMain } from './process-lifecycle.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const database = await openDatabase(config);
  if (database.embedded) console.log(`Embedded PostgreSQL running on 127.0.0.1:${config.EMBEDDED_PG_PORT} (data in ${config.DATA_DIR}/postgres)`);
  const app = await createApp({ config, databaseUrl: database.url });
  // The hard stop is a backstop only: closeApp cuts what is still open after SHUTDOWN_TIMEOUT_MS.
  exitGracefullyOnSignals('draining requests, then closing the database', config.SHUTDOWN_TIMEOUT_MS + config.JOB_SHUTDOWN_GRACE_MS + 5_000, async () => {
    try {
      await closeApp(app, config.SHUTDOWN_TIMEOUT_MS);
    } finally {
      await database.stop();
    }
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  const url = await app.getUrl();
  console.log(`Forgeline listening on ${url.replace('127.0.0.1', 'localhost')}: Swagger UI at /docs`);
}

runMain(main);
