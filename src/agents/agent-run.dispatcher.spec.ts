import { loadConfig } from '../config/app-config.js';
import type { JobContext, JobHandler, JobTypeOptions } from '../queue/job-queue.js';
import { AGENT_RUN_JOB, AgentRunDispatcher } from './agent-run.dispatcher.js';

/** The part of JobQueue the dispatcher uses, recorded. */
class RecordingQueue {
  registered: Array<{ name: string; handler: JobHandler<{ runId: string }>; options: JobTypeOptions<{ runId: string }> }> = [];
  enqueued: Array<{ name: string; data: unknown; jobId: string }> = [];
  register(name: string, handler: JobHandler<{ runId: string }>, options: JobTypeOptions<{ runId: string }>) {
    this.registered.push({ name, handler, options });
  }
  async enqueue(name: string, data: unknown, options: { jobId: string }) {
    this.enqueued.push({ name, data, jobId: options.jobId });
  }
}

function setup(withQueue: boolean) {
  const calls: string[] = [];
  const caller = {
    run: async (id: string) => void calls.push(`run ${id}`),
    stop: async (id: string, reason: string) => {
      calls.push(`stop ${id} ${reason}`);
      return true;
    },
    activeRunIds: [],
    stopAll: async () => undefined,
  };
  const recorder = { queuedIds: async () => ['r1', 'r2'], failStale: async () => [], heartbeat: async () => ({ cancel: [], gone: [] }) };
  const queue = new RecordingQueue();
  const config = loadConfig({ AGENT_RUN_CONCURRENCY: '3' }, '');
  const dispatcher = new AgentRunDispatcher(caller as never, recorder as never, {} as never, config, withQueue ? (queue as never) : undefined);
  return { dispatcher, queue, calls };
}

describe('AgentRunDispatcher on the queue seam', () => {
  it('registers the agent-run job type: one attempt, AGENT_RUN_CONCURRENCY, queued runs recovered', async () => {
    const { dispatcher, queue } = setup(true);
    dispatcher.onModuleInit();
    expect(queue.registered).toHaveLength(1);
    const [type] = queue.registered;
    expect(type.name).toBe(AGENT_RUN_JOB);
    expect(type.options).toMatchObject({ attempts: 1, concurrency: 3 });
    expect(await type.options.recover!()).toEqual([
      { jobId: 'agent-run:r1', data: { runId: 'r1' } },
      { jobId: 'agent-run:r2', data: { runId: 'r2' } },
    ]);
  });

  it('enqueues a run with its id as job id, and its handler runs it; a shutdown abort interrupts it', async () => {
    const { dispatcher, queue, calls } = setup(true);
    dispatcher.onModuleInit();
    await dispatcher.dispatch('r9');
    expect(queue.enqueued).toEqual([{ name: AGENT_RUN_JOB, data: { runId: 'r9' }, jobId: 'agent-run:r9' }]);
    const controller = new AbortController();
    const ctx: JobContext = { jobId: 'agent-run:r9', attempt: 1, maxAttempts: 1, enqueuedAt: Date.now(), signal: controller.signal };
    const running = queue.registered[0].handler({ runId: 'r9' }, ctx);
    controller.abort();
    await running;
    expect(calls).toEqual(['run r9', 'stop r9 interrupted']);
  });

  it('runs in-process without a queue', async () => {
    const { dispatcher, calls } = setup(false);
    dispatcher.onModuleInit();
    await dispatcher.dispatch('r5');
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['run r5']);
  });
});
