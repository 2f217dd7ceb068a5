import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { startTestApp, TestApp } from '../utils/test-app.js';

describe('database connection loss', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('survives its connections being killed: the pool reconnects and requests succeed again', async () => {
    const warnings = jest.spyOn(Logger.prototype, 'warn');
    await t.api.post('/api/projects').send({ name: 'Before the outage' }).expect(201);
    const database = new URL(t.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: t.databaseUrl });
    await admin.connect();
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    await admin.end();
    expect(killed.rowCount).toBeGreaterThan(0);
    // A request may meet a connection that died under it (503); the process must not crash,
    // and the pool must hand out fresh connections.
    let status = 0;
    for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
      status = (await t.api.get('/api/projects')).status;
      expect([200, 503]).toContain(status);
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    const list = await t.api.get('/api/projects').expect(200);
    expect(list.body.items.map((p: { name: string }) => p.name)).toContain('Before the outage');
    await t.api.get('/health').expect(200);
    // Each idle connection the server ended was reported, not dropped silently.
    expect(warnings.mock.calls.map(([message]) => String(message))).toEqual(expect.arrayContaining([expect.stringMatching(/a database connection was lost and will be replaced/)]));
    warnings.mockRestore();
  });
});
