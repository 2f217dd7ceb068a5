import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { copyBinary } from './copy-binary.js';

/** Runs against the PostgreSQL server of the test run (DATABASE_URL), with no table of its own. */
describe('binary COPY reader', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
  });

  it('returns bytea as the exact bytes, with text, integers and NULLs', async () => {
    const blobs = [Buffer.from([0, 255, 10, 13, 0x80]), randomBytes(300_000), Buffer.alloc(0)];
    const literal = (bytes: Buffer) => `'\\x${bytes.toString('hex')}'::bytea`;
    const rows = await copyBinary(
      client,
      `SELECT i, 'päth-' || i, b, NULL::text, (i * 10000000000)::int8
         FROM (VALUES (1, ${literal(blobs[0])}), (2, ${literal(blobs[1])}), (3, ${literal(blobs[2])})) AS v(i, b) ORDER BY i`,
      (row) => ({ i: row.int4(0), name: row.text(1), bytes: row.bytes(2), empty: row.isNull(3), big: row.int8(4) }),
    );
    expect(rows.map((row) => [row.i, row.name, row.empty, row.big])).toEqual([
      [1, 'päth-1', true, 10_000_000_000],
      [2, 'päth-2', true, 20_000_000_000],
      [3, 'päth-3', true, 30_000_000_000],
    ]);
    rows.forEach((row, index) => expect(row.bytes.equals(blobs[index])).toBe(true));
  });

  it('keeps rows intact across many messages, and the bytes survive later queries', async () => {
    const rows = await copyBinary(client, `SELECT g, decode(repeat(lpad(to_hex(g % 256), 2, '0'), 70000), 'hex') FROM generate_series(1, 200) g`, (row) => ({
      n: row.int4(0),
      bytes: row.bytes(1),
    }));
    await client.query(`SELECT repeat('x', 5000000)`);
    expect(rows).toHaveLength(200);
    for (const row of rows) {
      expect(row.bytes.length).toBe(70_000);
      expect(row.bytes.every((byte) => byte === row.n % 256)).toBe(true);
    }
  });

  it('rejects on a server error and leaves the connection usable', async () => {
    await expect(copyBinary(client, `SELECT 1 / 0`, () => 1)).rejects.toThrow(/division by zero/);
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });
});
