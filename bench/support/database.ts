/** Scratch databases: a fresh one per service, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { onCleanup } from './cleanup.js';

const DEFAULT_SERVER = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** A connection to the server's maintenance database: DATABASE_URL's server when set, else the local default. */
async function adminClient(): Promise<pg.Client> {
  const url = process.env.DATABASE_URL || DEFAULT_SERVER;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return client;
  } catch (error) {
    // DATABASE_URL may name a database that does not exist yet: the server's own "postgres" will do.
    if ((error as { code?: string }).code !== '3D000') {
      throw new Error(`cannot reach PostgreSQL at ${new URL(url).host} (${(error as Error).message}); set DATABASE_URL to a server the bench may create databases on`);
    }
    const fallback = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
    await fallback.connect();
    return fallback;
  }
}

/** Creates `<prefix>_<random>` on the server and returns its URL; drop() removes it (WITH (FORCE)). */
export async function createScratchDatabase(prefix = 'fl_bench'): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = await adminClient();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const base = process.env.DATABASE_URL || DEFAULT_SERVER;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    unregister();
    const client = await adminClient();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  };
  const unregister = onCleanup(drop);
  return { name, url: withDatabase(base, name), drop };
}
