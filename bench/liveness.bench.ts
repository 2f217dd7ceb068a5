/**
 * GET /health/live (no I/O) on the real service vs a bare node:http server sending the same
 * JSON with the same content type, each a child process, loaded by autocannon one after the other.
 */
import autocannon from 'autocannon';
import type { Result } from 'autocannon';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, waitUntil } from './support/child.js';
import type { NodeChild } from './support/child.js';
import { int, throughputRow } from './support/format.js';
import { startService } from './support/service.js';
import type { Bench, BenchRow } from './support/types.js';

const CONNECTIONS = 50;
const DURATION_S = 5;
const WARMUP_S = 1;
const RATIO_FLOOR = 0.5;
const BARE_SERVER = join(dirname(fileURLToPath(import.meta.url)), 'support/bare-http-server.js');

async function load(url: string, headers: Record<string, string>): Promise<Result> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION_S,
    warmup: { connections: CONNECTIONS, duration: WARMUP_S },
    headers,
  });
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0 || result.totalCompletedRequests === 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx answers (${JSON.stringify(result.statusCodeStats)}), ${result.errors} errors, ${result.timeouts} timeouts out of ${result.totalCompletedRequests}`);
  }
  return result;
}

const describe = (result: Result) => `${int(result.requests.average)} req/s (p99 ${result.latency.p99} ms)`;

async function startBareServer(contentType: string): Promise<{ child: NodeChild; url: string }> {
  const child = spawnNode(BARE_SERVER, { env: { ...process.env, PORT: '0', CONTENT_TYPE: contentType } });
  let port = 0;
  child.onLine((line) => {
    const match = /^listening (\d+)$/.exec(line);
    if (match) port = Number(match[1]);
  });
  try {
    await waitUntil('the bare node:http server', async () => port > 0, { child, timeoutMs: 10_000, intervalMs: 20 });
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { child, url: `http://127.0.0.1:${port}` };
}

const bench: Bench = {
  name: 'liveness',
  description: `autocannon on GET /health/live vs a bare node:http server (${CONNECTIONS} connections, ${DURATION_S} s)`,
  async run(ctx): Promise<BenchRow[]> {
    const service = await startService();
    let bare: { child: NodeChild; url: string } | undefined;
    try {
      const probe = await service.request('/health/live');
      const expected = await probe.text();
      const contentType = probe.headers.get('content-type') ?? 'application/json; charset=utf-8';
      if (probe.status !== 200 || JSON.stringify(JSON.parse(expected)) !== '{"status":"ok"}') {
        throw new Error(`GET /health/live answered ${probe.status}: ${expected}`);
      }
      bare = await startBareServer(contentType);
      const check = await fetch(`${bare.url}/health/live`, { headers: service.authHeaders });
      if ((await check.text()) !== expected || check.headers.get('content-type') !== contentType) {
        throw new Error('the bare server does not answer what the service does');
      }

      ctx.log(`Forgeline (pid ${service.pid}): ${WARMUP_S} s warm-up, then ${DURATION_S} s × ${CONNECTIONS} connections`);
      const forgeline = await load(`${service.url}/health/live`, service.authHeaders);
      ctx.log(`Forgeline: ${describe(forgeline)}`);
      ctx.log(`bare node:http (pid ${bare.child.pid}): the same`);
      const baseline = await load(`${bare.url}/health/live`, service.authHeaders);
      ctx.log(`bare node:http: ${describe(baseline)}`);

      return [
        throughputRow({
          benchmark: `GET /health/live, autocannon ${CONNECTIONS} conns × ${DURATION_S} s (after ${WARMUP_S} s warm-up)`,
          forgeline: { value: forgeline.requests.average, text: describe(forgeline) },
          baseline: { value: baseline.requests.average, text: `${describe(baseline)}: bare node:http server, same JSON` },
          min: RATIO_FLOOR,
        }),
      ];
    } finally {
      await bare?.child.stop();
      await service.stop();
    }
  },
};

export default bench;
