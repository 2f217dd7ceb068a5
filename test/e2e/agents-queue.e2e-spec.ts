import type { DynamicModule } from '@nestjs/common';
import { AppModule } from '../../src/app.module.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { QueueModule } from '../../src/queue/queue.module.js';
import { callTools, endTurn, FakeAnthropicServer, startFakeAnthropic, toolUse } from '../setup/fake-anthropic-server.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

/** Loads QueueModule into the app when app.module does not (yet) import it. */
function withQueueModule(): () => void {
  const original = AppModule.forRoot.bind(AppModule);
  AppModule.forRoot = (options) => {
    const module = original(options);
    const imports = (module.imports ?? []) as DynamicModule[];
    if (!imports.some((entry) => entry?.module === QueueModule)) module.imports = [...imports, QueueModule.forRoot(options.config)];
    return module;
  };
  return () => {
    AppModule.forRoot = original;
  };
}

describe('agents: background runs through the JobQueue seam', () => {
  let t: TestApp;
  let fake: FakeAnthropicServer;
  let restore: () => void;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    restore = withQueueModule();
    // No REDIS_URL: the in-process backend of the same seam.
    t = await startTestApp({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, REDIS_URL: '' });
  });

  afterAll(async () => {
    await t?.close();
    await fake?.close();
    restore?.();
  });

  it('runs a queued run as an agent-run job', async () => {
    const queue = t.app.get(JobQueue, { strict: false });
    expect(queue.backend).toBe('in-process');
    const enqueued: string[] = [];
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = async (name, data, options) => {
      enqueued.push(`${name} ${options.jobId}`);
      return enqueue(name, data, options);
    };
    const agent = (await t.api.post('/api/agents').send({ name: 'queued', allowedOperations: ['getCurrentWorkspace'] }).expect(201)).body;
    fake.script('[queue-case]', [callTools(toolUse('getCurrentWorkspace', {})), endTurn('via the queue')]);
    const started = await t.api.post(`/api/agents/${agent.id}/runs`).send({ input: '[queue-case] go' }).expect(202);
    expect(enqueued).toEqual([`agent-run agent-run:${started.body.id}`]);
    let run = started.body;
    for (let i = 0; i < 200 && run.status !== 'succeeded'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      run = (await t.api.get(`/api/agent-runs/${started.body.id}`).expect(200)).body;
    }
    expect(run).toMatchObject({ status: 'succeeded', finalText: 'via the queue' });
    expect(run.calls.map((c: { responseStatus: number }) => c.responseStatus)).toEqual([200]);
    expect(fake.violations).toEqual([]);
  });
});
