import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { pathToFileURL } from 'node:url';
import { AppOptions } from './app.module.js';
import { createApp } from './bootstrap.js';
import { openDatabase } from './database/database.js';
import { exitGracefullyOnSignals, loadConfigOrExit, runMain } from './process-lifecycle.js';
import { JobQueue } from './queue/job-queue.js';

/**
 * A worker: the same modules and processors as the app, initialised but never listening, so it
 * serves no HTTP and only runs jobs from the Redis queues (`npm run start:worker`). It is built
 * like the app (createApp without listen) so that every processor finds what it finds there,
 * the OpenAPI document the agents' tools are made from included. Agent runs call the API over
 * HTTP: with ANTHROPIC_API_KEY set, the worker needs API_BASE_URL (the app's address).
 */
export async function createWorker(options: AppOptions): Promise<NestFastifyApplication> {
  const app = await createApp(options);
  await app.init();
  return app;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  if (!config.REDIS_URL) {
    console.error('npm run start:worker needs REDIS_URL: without Redis there is no queue to share, and jobs run inside the app process.');
    process.exit(1);
  }
  if (config.WORKER_CONCURRENCY === 0) {
    console.error('WORKER_CONCURRENCY is 0: this worker would run nothing.');
    process.exit(1);
  }
  if (config.ANTHROPIC_API_KEY && !config.API_BASE_URL) {
    // Agent runs call the API over HTTP, and a worker serves none of its own.
    console.error(
      'This worker runs agent runs (ANTHROPIC_API_KEY is set), whose tool calls go to the Forgeline API over HTTP, and it serves no HTTP itself: set API_BASE_URL to the address of the app (e.g. http://127.0.0.1:3000).',
    );
    process.exit(1);
  }
  const database = await openDatabase(config);
  const worker = await createWorker({ config, databaseUrl: database.url });

  exitGracefullyOnSignals(
    `finishing running jobs (up to JOB_SHUTDOWN_GRACE_MS=${config.JOB_SHUTDOWN_GRACE_MS} ms), handing back the rest`,
    config.JOB_SHUTDOWN_GRACE_MS + config.SHUTDOWN_TIMEOUT_MS + 5_000,
    async () => {
      try {
        await worker.close();
      } finally {
        await database.stop();
      }
    },
  );
  const backend = worker.get(JobQueue).backend;
  console.log(`Forgeline worker running ${backend} jobs (concurrency ${config.WORKER_CONCURRENCY} per job type, queue prefix "${config.QUEUE_PREFIX}"); no HTTP`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runMain(main);
}
