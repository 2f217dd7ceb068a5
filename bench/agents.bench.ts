/**
 * The agent loop's own overhead, with a fake Messages API that answers instantly (the one the
 * tests use, on loopback): a run of 50 sequential tool calls (getProject) through the real
 * service. Per tool call, the overhead is the time from the fake server's answer with a tool_use
 * to the next model request arriving: the API call to the service, its recording, the run's
 * progress write and the next request's building. For reference, the same GET made directly.
 */
import { callTools, endTurn, startFakeAnthropic, toolUse } from '../test/setup/fake-anthropic-server.js';
import type { FakeAnthropicServer } from '../test/setup/fake-anthropic-server.js';
import { limitRow, median, seconds } from './support/format.js';
import { startService } from './support/service.js';
import type { Service } from './support/service.js';
import type { Bench, BenchRow } from './support/types.js';

const CALLS = 50;
const RUNS = 3;
const OVERHEAD_LIMIT_MS = 15;
const RUN_LIMIT_MS = 1_500;

const ms = (value: number) => `${value.toFixed(1)} ms`;

interface Measured {
  totalMs: number;
  gapsMs: number[];
}

async function measureRun(service: Service, fake: FakeAnthropicServer, agentId: string, projectId: string, name: string, calls: number): Promise<Measured> {
  const marker = `[bench ${name}]`;
  fake.script(marker, [...Array.from({ length: calls }, () => callTools(toolUse('getProject', { id: projectId }))), endTurn('done')]);
  const started = performance.now();
  const run = await service.json<{ status: string; calls: unknown[]; error: string | null }>('POST', `/api/agents/${agentId}/runs`, { input: `${marker} read the project ${calls} times`, wait: true });
  const totalMs = performance.now() - started;
  if (run.status !== 'succeeded' || run.calls.length !== calls) throw new Error(`bench run ended ${run.status} with ${run.calls.length} calls: ${run.error}`);
  if (fake.violations.length > 0) throw new Error(`the fake Messages API saw malformed requests: ${fake.violations.join('; ')}`);
  const requests = fake.requestsOf(marker);
  const gapsMs = requests.slice(1).map((request, index) => request.receivedAt - requests[index].answeredAt);
  return { totalMs, gapsMs };
}

async function directGets(service: Service, projectId: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await service.request(`/api/projects/${projectId}`);
    await response.arrayBuffer();
    times.push(performance.now() - started);
  }
  return times;
}

const bench: Bench = {
  name: 'agents',
  description: `a ${CALLS}-call agent run against an instant fake Messages API: per-call overhead and total time`,
  async run(ctx): Promise<BenchRow[]> {
    const fake = await startFakeAnthropic();
    let service: Service | undefined;
    try {
      service = await startService({ env: { ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url, RATE_LIMIT_MAX: '1000000' } });
      const project = await service.json<{ id: string }>('POST', '/api/projects', { name: 'agent bench' });
      const agent = await service.json<{ id: string }>('POST', '/api/agents', { name: 'bench agent', allowedOperations: ['getProject'], maxIterations: CALLS + 5 });
      ctx.log(`service up (pid ${service.pid}), fake Messages API at ${fake.url}; warming up`);
      await measureRun(service, fake, agent.id, project.id, 'warm-up', 10);
      await directGets(service, project.id, 50);

      const totals: number[] = [];
      const gaps: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const measured = await measureRun(service, fake, agent.id, project.id, `run ${run}`, CALLS);
        totals.push(measured.totalMs);
        gaps.push(...measured.gapsMs);
        ctx.log(`run ${run}/${RUNS}: ${CALLS} calls in ${seconds(measured.totalMs)}, median overhead per call ${ms(median(measured.gapsMs))}`);
      }
      const direct = median(await directGets(service, project.id, CALLS));
      return [
        limitRow({
          benchmark: `agent loop overhead per tool call (API call + recording + next model request), median of ${gaps.length}`,
          value: median(gaps),
          text: ms(median(gaps)),
          below: OVERHEAD_LIMIT_MS,
          limitText: `${OVERHEAD_LIMIT_MS} ms`,
          baseline: `${ms(direct)}: the same GET /api/projects/{id} made directly (reference)`,
        }),
        limitRow({
          benchmark: `${CALLS}-call agent run, POST …/runs wait=true (median of ${RUNS})`,
          value: median(totals),
          text: seconds(median(totals)),
          below: RUN_LIMIT_MS,
          limitText: seconds(RUN_LIMIT_MS),
        }),
      ];
    } finally {
      await service?.stop();
      await fake.close();
    }
  },
};

export default bench;
