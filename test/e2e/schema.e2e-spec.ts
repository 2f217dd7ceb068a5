import { DataSource } from 'typeorm';
import { startTestApp, TestApp } from '../utils/test-app.js';

describe('database schema', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('comes entirely from the migrations: the entities describe exactly the migrated schema', async () => {
    const sql = await t.app.get(DataSource).driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('keeps synchronize off', () => {
    expect(t.app.get(DataSource).options.synchronize).toBe(false);
  });

  it('reverts every migration with down() and applies them again', async () => {
    const dataSource = t.app.get(DataSource);
    const applied = await dataSource.query(`SELECT count(*)::int AS n FROM migrations`);
    for (let i = 0; i < applied[0].n; i++) await dataSource.undoLastMigration({ transaction: 'each' });
    const tables = await dataSource.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'`);
    expect(tables).toEqual([]);
    const again = await dataSource.runMigrations({ transaction: 'each' });
    expect(again).toHaveLength(applied[0].n);
    const sql = await dataSource.driver.createSchemaBuilder().log();
    expect(sql.upQueries).toEqual([]);
  });
});
