/**
 * The raw Bull baseline: one process running no-op jobs of BENCH_QUEUE at BENCH_CONCURRENCY.
 * A job whose data has `left > 0` adds the next job of its chain (left − 1) before it completes,
 * as a finished workflow step enqueues its dependent. Prints "ready".
 */
import Bull from 'bull';

const queue = new Bull(process.env.BENCH_QUEUE!, process.env.REDIS_URL!, { prefix: process.env.BENCH_PREFIX! });
queue.on('error', (error: Error) => console.error(error.message));
void queue.process(Number(process.env.BENCH_CONCURRENCY ?? 10), async (job: Bull.Job<{ left?: number }>) => {
  const left = job.data.left ?? 0;
  if (left > 0) await queue.add({ left: left - 1 }, { removeOnComplete: true, removeOnFail: true });
});
queue.isReady().then(() => console.log('ready'));
process.once('SIGTERM', () => {
  queue.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
