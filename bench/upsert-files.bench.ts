/**
 * One PUT /api/projects/{id}/files of 5,000 files × 4 KiB through the real service, against the
 * same rows written by raw `pg` in one multi-row INSERT in one transaction, in the same run.
 * Also the service's peak memory (VmHWM) once the upserts are done.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { int, limitRow, median, mib, MiB, seconds, throughputRow } from './support/format.js';
import { startService } from './support/service.js';
import type { Service } from './support/service.js';
import { makeSourceFiles } from './support/source-files.js';
import type { SourceFile } from './support/source-files.js';
import type { Bench, BenchRow } from './support/types.js';

const FILES = 5_000;
const FILE_BYTES = 4 * 1024;
const WARMUP_FILES = 500;
const RUNS = 3;
const RATIO_FLOOR = 0.33;
const MEMORY_LIMIT = 400 * MiB;

async function createProject(service: Service, name: string): Promise<string> {
  const project = await service.json<{ id: string }>('POST', '/api/projects', { name });
  return project.id;
}

/** Milliseconds for the PUT: from sending the (pre-serialised) body to having read the whole answer. */
async function forgelineUpsert(service: Service, projectId: string, body: string, count: number): Promise<number> {
  const started = performance.now();
  const response = await service.request(`/api/projects/${projectId}/files`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/json' },
  });
  const text = await response.text();
  const elapsed = performance.now() - started;
  if (response.status !== 200) throw new Error(`PUT /api/projects/${projectId}/files answered ${response.status}: ${text.slice(0, 1000)}`);
  const result = JSON.parse(text) as { created: number };
  if (result.created !== count) throw new Error(`PUT created ${result.created} files, expected ${count}`);
  return elapsed;
}

/**
 * Milliseconds for raw pg: encoding + sha256 of each file, then BEGIN, one INSERT of every row
 * (4 parameters a row: 20,000 for 5,000 rows, under the 65,535 limit, so no chunking), COMMIT.
 */
async function baselineInsert(client: pg.Client, table: string, files: SourceFile[]): Promise<number> {
  await client.query(`CREATE TABLE ${table} (path text NOT NULL, content bytea NOT NULL, size int NOT NULL, sha256 char(64) NOT NULL)`);
  const started = performance.now();
  const params: unknown[] = [];
  const tuples: string[] = [];
  for (const file of files) {
    const content = Buffer.from(file.content, 'utf8');
    params.push(file.path, content, content.length, createHash('sha256').update(content).digest('hex'));
    const n = params.length;
    tuples.push(`($${n - 3}, $${n - 2}, $${n - 1}, $${n})`);
  }
  if (params.length > 65_535) throw new Error(`${params.length} parameters: over the protocol's 65,535 limit`);
  await client.query('BEGIN');
  try {
    const result = await client.query(`INSERT INTO ${table} (path, content, size, sha256) VALUES ${tuples.join(', ')}`, params);
    await client.query('COMMIT');
    if (result.rowCount !== files.length) throw new Error(`raw INSERT wrote ${result.rowCount} rows, expected ${files.length}`);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return performance.now() - started;
}

const bench: Bench = {
  name: 'upsert-files',
  description: `one PUT of ${FILES} × 4 KiB files vs raw pg multi-row INSERT; service peak memory`,
  async run(ctx): Promise<BenchRow[]> {
    const files = makeSourceFiles(FILES, 42);
    const body = JSON.stringify({ files: files.map((file) => ({ path: file.path, content: file.content, encoding: 'utf8' })) });
    const warmupFiles = makeSourceFiles(WARMUP_FILES, 7, { path: (i) => `warmup/mod${Math.floor(i / 50)}/file${i}.ts` });
    const warmupBody = JSON.stringify({ files: warmupFiles.map((file) => ({ path: file.path, content: file.content, encoding: 'utf8' })) });
    ctx.log(`request body ${mib(Buffer.byteLength(body))} (${FILES} files, ${mib(FILES * FILE_BYTES)} of content)`);

    const service = await startService();
    const client = new pg.Client({ connectionString: service.databaseUrl });
    try {
      await client.connect();
      ctx.log(`service up (pid ${service.pid}, ${mib(service.currentMemory())} resident); warming up with ${WARMUP_FILES} files each side`);
      await forgelineUpsert(service, await createProject(service, 'bench warm-up'), warmupBody, WARMUP_FILES);
      await baselineInsert(client, 'bench_baseline_warmup', warmupFiles);

      const forgelineMs: number[] = [];
      const baselineMs: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        // Alternating the two sides spreads the machine's drift over both.
        const projectId = await createProject(service, `bench upsert ${run}`);
        forgelineMs.push(await forgelineUpsert(service, projectId, body, FILES));
        baselineMs.push(await baselineInsert(client, `bench_baseline_${run}`, files));
        ctx.log(`run ${run}/${RUNS}: Forgeline ${seconds(forgelineMs.at(-1)!)} (${int(FILES / (forgelineMs.at(-1)! / 1000))} files/s), raw pg ${seconds(baselineMs.at(-1)!)} (${int(FILES / (baselineMs.at(-1)! / 1000))} rows/s)`);
      }
      const peak = service.peakMemory();
      const forgelineRate = FILES / (median(forgelineMs) / 1000);
      const baselineRate = FILES / (median(baselineMs) / 1000);
      return [
        throughputRow({
          benchmark: `upsert ${int(FILES)} × 4 KiB files in 1 PUT (median of ${RUNS})`,
          forgeline: { value: forgelineRate, text: `${int(forgelineRate)} files/s (${seconds(median(forgelineMs))})` },
          baseline: { value: baselineRate, text: `${int(baselineRate)} rows/s: raw pg, 1 multi-row INSERT of ${int(FILES)} rows in 1 tx (${seconds(median(baselineMs))})` },
          min: RATIO_FLOOR,
        }),
        limitRow({
          benchmark: `service peak memory (VmHWM) after the upserts`,
          value: peak,
          text: mib(peak),
          below: MEMORY_LIMIT,
          limitText: mib(MEMORY_LIMIT).replace('.0', ''),
        }),
      ];
    } finally {
      await client.end().catch(() => undefined);
      await service.stop();
    }
  },
};

export default bench;
