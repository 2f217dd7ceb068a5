/**
 * The generator against the system's tar, in the same run, on the same 5,000 files of 4 KiB:
 * - materialising a project from scratch (POST /api/projects/{id}/generate into an empty
 *   workspace) vs `tar -xf` of the same files into an empty folder;
 * - regenerating after 1% of the files changed vs that full generation;
 * - streaming the project as tar.gz (GET /api/projects/{id}/archive) vs `tar -czf -`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { int, median, mib, ratio, seconds } from './support/format.js';
import { startService } from './support/service.js';
import type { Service } from './support/service.js';
import { makeSourceFiles, writeTree } from './support/source-files.js';
import type { SourceFile } from './support/source-files.js';
import type { Bench, BenchRow } from './support/types.js';

const run = promisify(execFile);

const FILES = 5_000;
const FILE_BYTES = 4 * 1024;
const CHANGED = FILES / 100;
const RUNS = 7;
const MATERIALISE_FLOOR = 0.5; // within 2× of tar -xf
const INCREMENTAL_SHARE = 0.15; // under 15% of a full generation
const ARCHIVE_FLOOR = 0.5; // within 2× of tar -czf
const UPLOAD_BATCH = 1_000;

async function upload(service: Service, projectId: string, files: SourceFile[]): Promise<void> {
  for (let start = 0; start < files.length; start += UPLOAD_BATCH) {
    await service.json('PUT', `/api/projects/${projectId}/files`, { files: files.slice(start, start + UPLOAD_BATCH) });
  }
}

interface GenerateResult {
  outputDir: string;
  written: number;
  unchanged: number;
  deleted: number;
  durationMs: number;
}

/** Wall time of one POST …/generate as a client sees it. */
async function generate(service: Service, projectId: string, expectWritten: number): Promise<{ ms: number; result: GenerateResult }> {
  const started = performance.now();
  const result = await service.json<GenerateResult>('POST', `/api/projects/${projectId}/generate`, {});
  const ms = performance.now() - started;
  if (result.written !== expectWritten) throw new Error(`generate wrote ${result.written} files, expected ${expectWritten}`);
  return { ms, result };
}

/** Reads a whole response or process output, counting its bytes. */
async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

async function archive(service: Service, projectId: string): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const response = await service.request(`/api/projects/${projectId}/archive?format=tar.gz`);
  if (response.status !== 200 || !response.body) throw new Error(`archive answered ${response.status}: ${await response.text()}`);
  const bytes = await drain(response.body as unknown as AsyncIterable<Uint8Array>);
  return { ms: performance.now() - started, bytes };
}

async function tarCreate(sourceDir: string): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const child = spawn('tar', ['-czf', '-', '-C', sourceDir, 'src'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const bytes = await drain(child.stdout);
  if ((await exited) !== 0) throw new Error('tar -czf failed');
  return { ms: performance.now() - started, bytes };
}

/**
 * Lets the disk settle before a timed run: earlier runs' writeback (and the deletions of other
 * benches) would otherwise land inside the next measurement, on either side.
 */
async function settle(): Promise<void> {
  await run('sync');
  const deadline = Date.now() + 3_000;
  for (;;) {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0);
    if (kib('Dirty') + kib('Writeback') < 2_048 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}

/** Extracts into a new empty folder (nothing is deleted during the runs: deletions stall ext4). */
async function tarExtract(tarball: string, target: string): Promise<number> {
  mkdirSync(target);
  await settle();
  const started = performance.now();
  await run('tar', ['-xf', tarball, '-C', target]);
  return performance.now() - started;
}

/** Moves the project's workspace aside and drops its manifest, so the next generation starts from scratch. */
async function emptyWorkspace(outputDir: string, projectId: string, trash: string): Promise<void> {
  renameSync(outputDir, trash);
  rmSync(join(dirname(outputDir), '.manifests', `${projectId}.json`), { force: true });
  await settle();
}

function row(benchmark: string, forgeline: string, baseline: string, value: number, min: number, floor: string): BenchRow {
  return { benchmark, forgeline, baseline, ratio: value, floor, ok: Number.isFinite(value) && value >= min };
}

const bench: Bench = {
  name: 'generate',
  description: `materialise ${FILES} × 4 KiB files vs tar -xf; regenerate after 1% changed; tar.gz archive vs tar -czf`,
  async run(ctx): Promise<BenchRow[]> {
    const scratch = mkdtempSync(join(tmpdir(), 'fl-bench-generate-'));
    const service = await startService({ env: { WORKSPACES_DIR: join(scratch, 'workspaces') }, nodeArgs: process.env.GENERATE_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GENERATE_BENCH_PROFILE}`] : undefined });
    try {
      const files = makeSourceFiles(FILES, 42);
      const sourceDir = join(scratch, 'source');
      writeTree(sourceDir, files);
      const tarball = join(scratch, 'files.tar');
      await run('tar', ['-cf', tarball, '-C', sourceDir, 'src']);
      let extractions = 0;
      const extractDir = () => join(scratch, `extracted-${extractions++}`);
      let trashed = 0;
      const trash = () => join(scratch, `trash-${trashed++}`);

      const { id: projectId } = await service.json<{ id: string }>('POST', '/api/projects', { name: 'bench generate' });
      await upload(service, projectId, files);
      ctx.log(`project of ${int(FILES)} files (${mib(FILES * FILE_BYTES)}) uploaded; warming up`);

      const first = await generate(service, projectId, FILES);
      const outputDir = first.result.outputDir;
      await tarExtract(tarball, extractDir());
      await archive(service, projectId);
      await tarCreate(sourceDir);

      // 1. From scratch, alternating the two sides.
      const fullMs: number[] = [];
      const tarMs: number[] = [];
      for (let i = 1; i <= RUNS; i++) {
        await emptyWorkspace(outputDir, projectId, trash());
        const full = await generate(service, projectId, FILES);
        fullMs.push(full.ms);
        tarMs.push(await tarExtract(tarball, extractDir()));
        ctx.log(`from scratch ${i}/${RUNS}: generate ${seconds(full.ms)} (server ${full.result.durationMs} ms), tar -xf ${seconds(tarMs.at(-1)!)}`);
      }

      // 2. After 1% of the files changed (the upload is not timed).
      const incrementalMs: number[] = [];
      const incrementalServerMs: number[] = [];
      for (let i = 1; i <= RUNS; i++) {
        const changed = files.filter((_, index) => index % 100 === i).map((file) => ({ ...file, content: `// run ${i}\n${file.content.slice(12)}` }));
        await upload(service, projectId, changed);
        await settle();
        const incremental = await generate(service, projectId, CHANGED);
        if (incremental.result.unchanged !== FILES - CHANGED) throw new Error(`regenerate left ${incremental.result.unchanged} unchanged`);
        incrementalMs.push(incremental.ms);
        incrementalServerMs.push(incremental.result.durationMs);
        ctx.log(`after ${CHANGED} changes ${i}/${RUNS}: generate ${incremental.ms.toFixed(1)} ms (server ${incremental.result.durationMs} ms)`);
      }

      // 3. tar.gz streaming.
      const archiveMs: number[] = [];
      const tarGzMs: number[] = [];
      let archiveBytes = 0;
      let tarGzBytes = 0;
      for (let i = 1; i <= RUNS; i++) {
        await settle();
        const streamed = await archive(service, projectId);
        archiveMs.push(streamed.ms);
        archiveBytes = streamed.bytes;
        await settle();
        const baseline = await tarCreate(sourceDir);
        tarGzMs.push(baseline.ms);
        tarGzBytes = baseline.bytes;
        ctx.log(`tar.gz ${i}/${RUNS}: archive ${seconds(streamed.ms)} (${mib(streamed.bytes)}), tar -czf ${seconds(baseline.ms)} (${mib(baseline.bytes)})`);
      }

      const full = median(fullMs);
      const tar = median(tarMs);
      const incremental = median(incrementalMs);
      const streamed = median(archiveMs);
      const tarGz = median(tarGzMs);
      return [
        row(
          `materialise ${int(FILES)} × 4 KiB files from scratch (median of ${RUNS})`,
          `${seconds(full)}: POST …/generate into an empty workspace`,
          `${seconds(tar)}: tar -xf of the same files into an empty folder`,
          tar / full,
          MATERIALISE_FLOOR,
          `>= ${MATERIALISE_FLOOR} (within 2× of tar)`,
        ),
        row(
          `regenerate after 1% of files changed (${CHANGED} of ${int(FILES)}, median of ${RUNS})`,
          `${incremental.toFixed(1)} ms (${ratio((incremental / full) * 100)}% of a full generation; the service's durationMs ${median(incrementalServerMs)} ms)`,
          `${seconds(full)}: the full generation above`,
          full / incremental,
          1 / INCREMENTAL_SHARE,
          `>= ${ratio(1 / INCREMENTAL_SHARE)} (under 15% of full)`,
        ),
        row(
          `stream the project as tar.gz (median of ${RUNS})`,
          `${seconds(streamed)}: GET …/archive?format=tar.gz (${mib(archiveBytes)})`,
          `${seconds(tarGz)}: tar -czf - of the same files (${mib(tarGzBytes)})`,
          tarGz / streamed,
          ARCHIVE_FLOOR,
          `>= ${ARCHIVE_FLOOR} (within 2× of tar -czf)`,
        ),
      ];
    } finally {
      await service.stop();
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};

export default bench;
