/**
 * The compiled service as its own process (`node dist/src/main.js`, as `npm start` runs it, or
 * the worker), for the tests that need a process boundary: a crash, a restart, a second worker,
 * or memory measured apart from jest's. `npm test` builds first (`pretest`); run
 * `npx tsc -p tsconfig.build.json` before running one of these files alone.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const MAIN = join(process.cwd(), 'dist', 'src', 'main.js');
export const WORKER = join(process.cwd(), 'dist', 'src', 'worker.js');

export interface ServiceProcess {
  process: ChildProcess;
  /** Everything it printed so far (for failure messages). */
  output(): string;
  /** Its exit code (null when ended by a signal). */
  exited: Promise<number | null>;
  /** Resident memory now, in bytes (Linux /proc). */
  rss(): number;
  /** Signals it and waits for the exit; SIGKILL after `timeoutMs`. Resolves the exit code, null when killed. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** A port that was free a moment ago: listen on port 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `script` with exactly `env` (plus PATH and HOME): nothing of jest's environment, such
 * as NODE_OPTIONS or DATABASE_URL, leaks in unless given.
 */
export function spawnService(script: string, env: Record<string, string | undefined>): ServiceProcess {
  if (!existsSync(script)) throw new Error(`${script} is missing: run "npm run build" first`);
  const child = spawn(process.execPath, [script], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const result = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (result !== 'late') return result;
    child.kill('SIGKILL');
    await exited;
    return null;
  };
  const rss = () => {
    const line = readFileSync(`/proc/${child.pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
  };
  return { process: child, output: () => output, exited, rss, stop };
}

/** Polls `check` until it gives a truthy value; fails after `timeoutMs` with the process's output. */
export async function until<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs: number, service?: ServiceProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (service && service.process.exitCode !== null) throw new Error(`the process exited (${service.process.exitCode}) while waiting for ${what}:\n${service.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${service ? `\n--- process output ---\n${service.output()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the service's output contains `text`. */
export function untilOutput(service: ServiceProcess, text: string | RegExp, timeoutMs: number): Promise<true> {
  const found = () => (typeof text === 'string' ? service.output().includes(text) : text.test(service.output()));
  return until(`the output ${String(text)}`, async () => found(), timeoutMs, service);
}
