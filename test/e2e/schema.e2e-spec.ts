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

  it('compresses file contents with lz4 where the server has it, and keeps pglz where it does not', async () => {
    const [{ lz4 }] = await t.sql<{ lz4: boolean }>(`SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`);
    const [{ method }] = await t.sql<{ method: string }>(`SELECT attcompression AS method FROM pg_attribute WHERE attrelid = 'project_files'::regclass AND attname = 'content'`);
    // "l": lz4; "": the server's default_toast_compression (pglz).
    expect(method).toBe(lz4 ? 'l' : '');
    const project = await t.api.post('/api/projects').send({ name: 'compressed' }).expect(201);
    const text = 'export const value = 42;\n'.repeat(400);
    await t.api.put(`/api/projects/${project.body.id}/files`).send({ files: [{ path: 'a.ts', content: text }] }).expect(200);
    const [row] = await t.sql<{ method: string | null }>(`SELECT pg_column_compression(content) AS method FROM project_files WHERE project_id = $1`, [project.body.id]);
    expect(row.method).toBe(lz4 ? 'lz4' : 'pglz');
    expect((await t.api.get(`/api/projects/${project.body.id}/files/content`).query({ path: 'a.ts' }).expect(200)).text).toBe(text);
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
