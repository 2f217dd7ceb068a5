/**
 * Git export against the real git CLI, in the same run, on the same 5,000 files of ~4 KiB:
 * - a cold export (a project's files in PostgreSQL → commit in an empty bare repository, through
 *   POST /api/projects/{id}/exports until GET says succeeded) vs `git init && git add -A &&
 *   git commit` on the same files already on disk;
 * - a second export after 1% of the files changed vs `git add -A && git commit` of that change;
 * - a push of the whole repository to a loopback `git http-backend` vs `git push` of the same
 *   history (reported, no floor).
 * Every Forgeline tree is checked against the tree git builds from the same files.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { int, median, seconds, throughputRow } from './support/format.js';
import { onCleanup } from './support/cleanup.js';
import { startService } from './support/service.js';
import type { Service } from './support/service.js';
import { makeSourceFiles, writeTree } from './support/source-files.js';
import type { SourceFile } from './support/source-files.js';
import type { Bench, BenchRow } from './support/types.js';

const execFileAsync = promisify(execFile);

const FILES = 5_000;
const FILE_BYTES = 4 * 1024;
const CHANGED = FILES / 100;
const RUNS = 3;
const COLD_FLOOR = 1.0; // no slower than native git
const INCREMENTAL_FLOOR = 1 / 1.5; // within 1.5× of native git
const POLL_MS = 5;

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
};

const git = async (args: string[], cwd?: string) => (await execFileAsync('git', args, { cwd, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 })).stdout.trim();

/** About 4 KiB each (± 512 bytes), under ten top folders, one in 20 executable. */
const exportFiles = (count: number, seed: number) =>
  makeSourceFiles(count, seed, { bytes: FILE_BYTES, jitter: 1024, path: (i) => `pkg${i % 10}/mod${Math.floor(i / 50)}/file${i}.ts`, executable: (i) => i % 20 === 0 });

async function upload(service: Service, projectId: string, files: SourceFile[]): Promise<void> {
  const body = { files: files.map((file) => ({ path: file.path, content: file.content, encoding: 'utf8', executable: file.executable })) };
  await service.json('PUT', `/api/projects/${projectId}/files`, body);
}

interface ExportResult {
  id: string;
  status: string;
  commitSha: string;
  unchanged: boolean;
  durationMs: number;
  error: string | null;
}

/** Milliseconds from POST to the GET that sees it finished (polled every POLL_MS), and the export. */
async function timedExport(service: Service, projectId: string, body: object = {}): Promise<{ ms: number; result: ExportResult }> {
  const started = performance.now();
  const accepted = await service.json<ExportResult>('POST', `/api/projects/${projectId}/exports`, body);
  for (;;) {
    const result = await service.json<ExportResult>('GET', `/api/exports/${accepted.id}`);
    if (result.status === 'succeeded' || result.status === 'failed') {
      const ms = performance.now() - started;
      if (result.status === 'failed') throw new Error(`export ${accepted.id} failed: ${result.error}`);
      return { ms, result };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** A loopback smart-HTTP Git server: `git http-backend` behind node:http, pushes allowed, no auth. */
async function gitServer(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const backend = join(await git(['--exec-path']), 'git-http-backend');
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const child = spawn(backend, [], {
      env: {
        ...GIT_ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'bench',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: request.method ?? 'GET',
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        ...(request.headers['content-length'] ? { CONTENT_LENGTH: request.headers['content-length'] } : {}),
        ...(request.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] } : {}),
        ...(request.headers['git-protocol'] ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
      },
    });
    request.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (started) return void response.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const [name, ...rest] = line.split(':');
        if (name.toLowerCase() === 'status') status = Number(rest.join(':').trim().split(' ')[0]);
        else if (rest.length) headers[name] = rest.join(':').trim();
      }
      response.writeHead(status, headers);
      started = true;
      response.write(head.subarray(end + 4));
    });
    child.stdout.on('end', () => response.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const bench: Bench = {
  name: 'export',
  description: `Git export of ${FILES} × ~4 KiB files (cold, then 1% changed) vs git add -A && git commit; push vs git push`,
  async run(ctx): Promise<BenchRow[]> {
    const scratch = mkdtempSync(join(tmpdir(), 'fl-bench-export-'));
    const unregister = onCleanup(async () => rmSync(scratch, { recursive: true, force: true }));
    const reposDir = join(scratch, 'forgeline-repos');
    const work = join(scratch, 'work');
    const remotes = join(scratch, 'remotes');
    mkdirSync(remotes);
    const files = exportFiles(FILES, 42);
    writeTree(work, files);
    ctx.log(`${FILES} files (${int(files.reduce((sum, f) => sum + f.content.length, 0) / 1024)} KiB) written to ${work}`);

    const service = await startService({
      env: { REPOS_DIR: reposDir, GIT_ALLOW_HTTP: 'true', OUTBOUND_ALLOW_PRIVATE: 'true', GIT_PUSH_TIMEOUT_MS: '600000', RATE_LIMIT_MAX: '10000000' },
    });
    const server = await gitServer(remotes);
    try {
      // Warm-up: the first export of the process loads isomorphic-git and compiles the hot paths.
      const warm = await service.json<{ id: string }>('POST', '/api/projects', { name: 'bench warm-up' });
      await upload(service, warm.id, exportFiles(200, 7));
      await timedExport(service, warm.id);

      // Cold: one new project (empty repository) per run, against a new git directory per run.
      const projects: string[] = [];
      const nativeDirs: string[] = [];
      const coldMs: number[] = [];
      const coldServerMs: number[] = [];
      const nativeColdMs: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const project = await service.json<{ id: string }>('POST', '/api/projects', { name: `bench export ${run}` });
        await upload(service, project.id, files);
        projects.push(project.id);
        const { ms, result } = await timedExport(service, project.id, { message: 'Cold export' });
        coldMs.push(ms);
        coldServerMs.push(result.durationMs);
        const gitDir = join(scratch, `native-${run}.git`);
        nativeDirs.push(gitDir);
        nativeColdMs.push(await timed(async () => {
          await git(['--git-dir', gitDir, '--work-tree', work, 'init', '--quiet']);
          await git(['--git-dir', gitDir, '--work-tree', work, 'add', '-A']);
          await git(['--git-dir', gitDir, '--work-tree', work, 'commit', '--quiet', '-m', 'Cold commit']);
        }));
        const ours = await git(['--git-dir', join(reposDir, `${project.id}.git`), 'rev-parse', `${result.commitSha}^{tree}`]);
        const theirs = await git(['--git-dir', gitDir, 'rev-parse', 'HEAD^{tree}']);
        if (ours !== theirs) throw new Error(`run ${run}: Forgeline's tree ${ours} differs from git's ${theirs}`);
        ctx.log(`cold run ${run}/${RUNS}: Forgeline ${seconds(ms)} (server ${seconds(result.durationMs)}), git ${seconds(nativeColdMs.at(-1)!)}; same tree ${ours.slice(0, 12)}`);
      }

      // Incremental: 1% of the files changed, in the database and on disk; the first project and repository.
      const incrementalMs: number[] = [];
      const incrementalServerMs: number[] = [];
      const nativeIncrementalMs: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const changed = files.slice((run - 1) * CHANGED * 7, (run - 1) * CHANGED * 7 + CHANGED * 7).filter((_, index) => index % 7 === 0).map((file) => ({ ...file, content: `${file.content}// change ${run}\n` }));
        writeTree(work, changed);
        await upload(service, projects[0], changed);
        const { ms, result } = await timedExport(service, projects[0], { message: `Change ${run}` });
        incrementalMs.push(ms);
        incrementalServerMs.push(result.durationMs);
        nativeIncrementalMs.push(await timed(async () => {
          await git(['--git-dir', nativeDirs[0], '--work-tree', work, 'add', '-A']);
          await git(['--git-dir', nativeDirs[0], '--work-tree', work, 'commit', '--quiet', '-m', `Change ${run}`]);
        }));
        const ours = await git(['--git-dir', join(reposDir, `${projects[0]}.git`), 'rev-parse', `${result.commitSha}^{tree}`]);
        const theirs = await git(['--git-dir', nativeDirs[0], 'rev-parse', 'HEAD^{tree}']);
        if (ours !== theirs) throw new Error(`change ${run}: Forgeline's tree ${ours} differs from git's ${theirs}`);
        ctx.log(`1% change ${run}/${RUNS} (${changed.length} files): Forgeline ${seconds(ms)} (server ${seconds(result.durationMs)}), git ${seconds(nativeIncrementalMs.at(-1)!)}`);
      }

      // Push: the whole history of the first project to an empty remote, against git push of the same history.
      await git(['init', '--quiet', '--bare', join(remotes, 'forgeline.git')]);
      await git(['init', '--quiet', '--bare', join(remotes, 'native.git')]);
      await git(['--git-dir', join(remotes, 'forgeline.git'), 'config', 'http.receivepack', 'true']);
      await git(['--git-dir', join(remotes, 'native.git'), 'config', 'http.receivepack', 'true']);
      const unchanged = await timedExport(service, projects[0]);
      const push = await timedExport(service, projects[0], { remote: { url: `${server.url}/forgeline.git` } });
      const nativePushMs = await timed(() => git(['--git-dir', nativeDirs[0], 'push', '--quiet', `${server.url}/native.git`, 'HEAD:refs/heads/main']));
      const pushed = await git(['--git-dir', join(remotes, 'forgeline.git'), 'rev-parse', 'main^{tree}']);
      if (pushed !== (await git(['--git-dir', nativeDirs[0], 'rev-parse', 'HEAD^{tree}']))) throw new Error('the pushed tree differs from git\'s');
      await git(['--git-dir', join(remotes, 'forgeline.git'), 'fsck', '--strict', '--no-dangling']);
      ctx.log(`push: Forgeline ${seconds(push.ms)} (an unchanged export alone: ${seconds(unchanged.ms)}), git push ${seconds(nativePushMs)}`);

      const rate = (ms: number[]) => FILES / (median(ms) / 1000);
      return [
        throughputRow({
          benchmark: `cold export of ${int(FILES)} × ~4 KiB files from PostgreSQL (median of ${RUNS}; POST → succeeded)`,
          forgeline: { value: rate(coldMs), text: `${seconds(median(coldMs))} (server ${seconds(median(coldServerMs))})` },
          baseline: { value: rate(nativeColdMs), text: `${seconds(median(nativeColdMs))}: git init && git add -A && git commit, files on disk` },
          min: COLD_FLOOR,
        }),
        throughputRow({
          benchmark: `export after 1% (${CHANGED}) of the files changed (median of ${RUNS})`,
          forgeline: { value: rate(incrementalMs), text: `${seconds(median(incrementalMs))} (server ${seconds(median(incrementalServerMs))})` },
          baseline: { value: rate(nativeIncrementalMs), text: `${seconds(median(nativeIncrementalMs))}: git add -A && git commit` },
          min: Number(INCREMENTAL_FLOOR.toFixed(2)),
        }),
        {
          ...throughputRow({
            benchmark: `push of the whole repository (${RUNS + 1} commits, ${int(FILES)} files) to a loopback git http-backend`,
            forgeline: { value: 1 / push.ms, text: `${seconds(push.ms)} (export with push; unchanged export alone ${seconds(unchanged.ms)})` },
            baseline: { value: 1 / nativePushMs, text: `${seconds(nativePushMs)}: git push of the same history` },
            min: 0,
          }),
          floor: 'reported',
        },
      ];
    } finally {
      await server.close();
      await service.stop();
      rmSync(scratch, { recursive: true, force: true });
      unregister();
    }
  },
};

export default bench;
