/**
 * The service with the bench-only step type (bench_noop), as `npm start` builds it: with
 * BENCH_ROLE=worker it only runs jobs (like `npm run start:worker`), otherwise it also listens.
 * Prints "ready" once it runs; SIGTERM closes it like the real service.
 */
import 'reflect-metadata';
import { createApp } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config/app-config.js';
import { BenchStepsModule } from './workflow-bench-steps.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env, '');
  const app = await createApp({ config, databaseUrl: config.DATABASE_URL!, imports: [BenchStepsModule] });
  if (process.env.BENCH_ROLE === 'worker') await app.init();
  else await app.listen({ port: config.PORT, host: config.HOST });
  console.log('ready');
  process.once('SIGTERM', () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
