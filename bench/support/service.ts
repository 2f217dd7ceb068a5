/**
 * The real Forgeline service as a child process (`node dist/src/main.js`), on a free loopback
 * port, against a fresh database of its own, with a random bootstrap API key that every
 * request sends. Benches use `request`/`json` (or `authHeaders` with their own client).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.js';
import { procMemory, spawnNode, waitUntil } from './child.js';
import { createScratchDatabase } from './database.js';

/** The repository root: this file runs as dist/bench/support/service.js. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface Service {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  pid: number;
  /** The bootstrap admin key, `fl_` + 43 base64url characters. */
  token: string;
  /** `{ authorization: 'Bearer <token>' }`: send it with every request. */
  authHeaders: Record<string, string>;
  databaseUrl: string;
  /** fetch() on the service with the Authorization header added. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** A JSON request; throws with the status and body unless the answer is 2xx. */
  json<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Peak resident memory of the service process so far (VmHWM), in bytes. */
  peakMemory(): number;
  /** Current resident memory (VmRSS), in bytes. */
  currentMemory(): number;
  /** The service's last output lines. */
  output(): string;
  /** SIGTERM, wait for the exit, drop the database. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  /** Extra environment variables (e.g. RATE_LIMIT_MAX for a bench that makes many API calls). */
  env?: Record<string, string>;
  /** Extra node flags, e.g. ['--cpu-prof'] to profile the service under a bench. */
  nodeArgs?: string[];
  /** How long to wait for GET /health to answer 200. */
  readyTimeoutMs?: number;
}

/** A port that was free a moment ago (the kernel's choice for port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export const randomApiKey = (): string => `fl_${randomBytes(32).toString('base64url')}`;

export async function startService(options: ServiceOptions = {}): Promise<Service> {
  const main = join(REPO_ROOT, 'dist/src/main.js');
  if (!existsSync(main)) throw new Error(`${main} does not exist: run "npm run build" first`);
  const database = await createScratchDatabase('fl_bench');
  const dataDir = await mkdtemp(join(tmpdir(), 'fl-bench-'));
  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });
  let child;
  try {
    const port = await freePort();
    const token = randomApiKey();
    const url = `http://127.0.0.1:${port}`;
    child = spawnNode(main, {
      cwd: REPO_ROOT,
      nodeArgs: options.nodeArgs,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        BOOTSTRAP_API_KEY: token,
        SECRETS_KEY: randomBytes(32).toString('hex'),
        // Keeps anything written to disk out of the repository's .data.
        DATA_DIR: dataDir,
        ...options.env,
      },
    });
    const authHeaders = { authorization: `Bearer ${token}` };
    const request = (path: string, init: RequestInit = {}) =>
      fetch(url + path, { ...init, headers: { ...authHeaders, ...(init.headers as Record<string, string> | undefined) } });
    const running = child;
    await waitUntil('the service (GET /health)', async () => (await request('/health')).status === 200, {
      child: running,
      timeoutMs: options.readyTimeoutMs ?? 60_000,
    });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      unregister();
      try {
        await running.stop();
      } finally {
        await database.drop();
        await removeDataDir();
      }
    };
    const unregister = onCleanup(stop);
    return {
      url,
      pid: running.pid,
      token,
      authHeaders,
      databaseUrl: database.url,
      request,
      json: async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const response = await request(path, {
          method,
          ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        });
        const text = await response.text();
        if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 1000)}`);
        return (text ? JSON.parse(text) : undefined) as T;
      },
      peakMemory: () => procMemory(running.pid, 'VmHWM'),
      currentMemory: () => procMemory(running.pid, 'VmRSS'),
      output: () => running.output(),
      stop,
    };
  } catch (error) {
    await child?.stop();
    await database.drop();
    await removeDataDir();
    throw error;
  }
}
