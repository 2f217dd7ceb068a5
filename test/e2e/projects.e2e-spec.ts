import { randomUUID } from 'node:crypto';
import { createProject, uniqueToken } from '../factories/project.factory.js';
import { textFile } from '../factories/file.factory.js';
import { expectError, expectErrorDetail } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('projects', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('create', () => {
    it('creates a project and derives its slug from the name', async () => {
      const res = await t.api.post('/api/projects').send({ name: 'Invoice Service' }).expect(201);
      expect(res.body).toMatchObject({ name: 'Invoice Service', slug: 'invoice-service', fileCount: 0, totalBytes: 0 });
    });

    it('answers the stored project with exactly the documented fields and their defaults', async () => {
      const token = uniqueToken();
      const res = await t.api.post('/api/projects').send({ name: `Defaults ${token}` }).expect(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        name: `Defaults ${token}`,
        slug: `defaults-${token}`,
        description: '',
        status: 'active',
        metadata: {},
        fileCount: 0,
        totalBytes: 0,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      expect(Number.isNaN(Date.parse(res.body.createdAt))).toBe(false);
      const [row] = await t.sql('SELECT name, slug FROM generated_projects WHERE id = $1', [res.body.id]);
      expect(row).toEqual({ name: `Defaults ${token}`, slug: `defaults-${token}` });
    });

    it('derives an ASCII slug from an accented name', async () => {
      const token = uniqueToken();
      const res = await t.api.post('/api/projects').send({ name: `Café Déjà ${token}` }).expect(201);
      expect(res.body.slug).toBe(`cafe-deja-${token}`);
    });

    it('derives exactly "cafe-deja" from "Café Déjà"', async () => {
      const res = await t.api.post('/api/projects').send({ name: 'Café Déjà' }).expect(201);
      expect(res.body).toMatchObject({ name: 'Café Déjà', slug: 'cafe-deja' });
    });

    it('derives the same slug from a name sent decomposed (NFD)', async () => {
      const token = uniqueToken();
      const res = await t.api.post('/api/projects').send({ name: `Cafe\u0301 De\u0301ja\u0300 ${token}` }).expect(201);
      expect(res.body.slug).toBe(`cafe-deja-${token}`);
    });

    it('gives a second and third project with the same name a suffixed slug', async () => {
      const name = `Same Name ${uniqueToken()}`;
      const base = name.toLowerCase().replace(/ /g, '-');
      const first = await createProject(t.api, { name });
      const second = await createProject(t.api, { name });
      const third = await createProject(t.api, { name });
      expect([first.slug, second.slug, third.slug]).toEqual([base, `${base}-2`, `${base}-3`]);
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
    });

    it('gives projects created at the same moment with the same name distinct slugs', async () => {
      const name = `Rush ${uniqueToken()}`;
      const responses = await Promise.all(Array.from({ length: 6 }, () => t.api.post('/api/projects').send({ name })));
      expect(responses.map((r) => r.status)).toEqual(Array(6).fill(201));
      const base = name.toLowerCase().replace(/ /g, '-');
      const slugs = responses.map((r) => r.body.slug as string).sort();
      expect(slugs).toEqual([base, `${base}-2`, `${base}-3`, `${base}-4`, `${base}-5`, `${base}-6`]);
    });

    it('derives a slug for a name with no letters or digits', async () => {
      const project = await createProject(t.api, { name: '!!! ???' });
      expect(project.slug).toMatch(/^project(-\d+)?$/);
    });

    it('keeps a derived slug of a long name within 100 characters', async () => {
      const project = await createProject(t.api, { name: `${uniqueToken()} ${'long words '.repeat(18)}`.slice(0, 200) });
      expect(project.slug.length).toBeLessThanOrEqual(100);
      expect(project.slug).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
    });

    it('keeps an explicit slug as given', async () => {
      const slug = `explicit-${uniqueToken()}`;
      const project = await createProject(t.api, { name: 'Whatever Name', slug });
      expect(project.slug).toBe(slug);
    });

    it('refuses an explicit slug that is already taken with 409 SLUG_CONFLICT', async () => {
      const slug = `taken-${uniqueToken()}`;
      await createProject(t.api, { slug });
      const res = await t.api.post('/api/projects').send({ name: 'Another', slug });
      expectErrorDetail(res, 409, 'SLUG_CONFLICT', { field: 'slug' });
      const rows = await t.sql('SELECT id FROM generated_projects WHERE slug = $1', [slug]);
      expect(rows).toHaveLength(1);
    });

    it('takes the first free suffix when an explicit slug holds the derived one', async () => {
      const token = uniqueToken();
      await createProject(t.api, { name: 'x', slug: `blocked-${token}` });
      const project = await createProject(t.api, { name: `Blocked ${token}` });
      expect(project.slug).toBe(`blocked-${token}-2`);
    });

    it.each([
      ['a missing name', {}, 'name'],
      ['an empty name', { name: '' }, 'name'],
      ['a name over 200 characters', { name: 'n'.repeat(201) }, 'name'],
      ['a name that is not a string', { name: 42 }, 'name'],
      ['an uppercase slug', { name: 'ok', slug: 'Bad-Slug' }, 'slug'],
      ['a slug with a double hyphen', { name: 'ok', slug: 'a--b' }, 'slug'],
      ['a slug with a trailing hyphen', { name: 'ok', slug: 'ab-' }, 'slug'],
      ['a slug over 100 characters', { name: 'ok', slug: 'a'.repeat(101) }, 'slug'],
      ['an unknown status', { name: 'ok', status: 'deleted' }, 'status'],
      ['metadata that is not an object', { name: 'ok', metadata: 'x' }, 'metadata'],
      ['an unknown body field', { name: 'ok', colour: 'red' }, 'colour'],
      ['a field that only the server sets', { name: 'ok', fileCount: 5 }, 'fileCount'],
      ['a name with a NUL character', { name: 'a\u0000b' }, 'name'],
      ['a description with a NUL character', { name: 'ok', description: 'a\u0000b' }, 'description'],
      ['metadata with a NUL character', { name: 'ok', metadata: { note: 'a\u0000b' } }, 'metadata'],
      ['a null description', { name: 'ok', description: null }, 'description'],
      ['null metadata', { name: 'ok', metadata: null }, 'metadata'],
    ])('refuses %s with 400 naming the field', async (_label, body, field) => {
      const before = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM generated_projects');
      const res = await t.api.post('/api/projects').send(body);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field });
      const after = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM generated_projects');
      expect(after[0].n).toBe(before[0].n);
    });
  });

  describe('list', () => {
    /** Creates `count` projects whose names all contain one fresh token; oldest first. */
    async function createMany(count: number): Promise<{ token: string; ids: string[] }> {
      const token = uniqueToken();
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await createProject(t.api, { name: `Listed ${token} ${i}` })).id);
      return { token, ids };
    }

    it('lists newest first with limit, offset and the total across pages', async () => {
      const { token, ids } = await createMany(5);
      const newestFirst = [...ids].reverse();
      const page1 = await t.api.get('/api/projects').query({ q: token, limit: 2 }).expect(200);
      expect(page1.body).toMatchObject({ total: 5, limit: 2, offset: 0 });
      expect(page1.body.items.map((p: { id: string }) => p.id)).toEqual(newestFirst.slice(0, 2));
      const page2 = await t.api.get('/api/projects').query({ q: token, limit: 2, offset: 2 }).expect(200);
      expect(page2.body).toMatchObject({ total: 5, limit: 2, offset: 2 });
      expect(page2.body.items.map((p: { id: string }) => p.id)).toEqual(newestFirst.slice(2, 4));
      const page3 = await t.api.get('/api/projects').query({ q: token, limit: 2, offset: 4 }).expect(200);
      expect(page3.body.items.map((p: { id: string }) => p.id)).toEqual(newestFirst.slice(4));
      const beyond = await t.api.get('/api/projects').query({ q: token, offset: 10 }).expect(200);
      expect(beyond.body).toMatchObject({ items: [], total: 5 });
    });

    it('defaults to 20 items from offset 0', async () => {
      const res = await t.api.get('/api/projects').expect(200);
      expect(res.body).toMatchObject({ limit: 20, offset: 0 });
      expect(res.body.items.length).toBeLessThanOrEqual(20);
      expect(res.body.total).toBeGreaterThanOrEqual(res.body.items.length);
    });

    it('accepts a limit of exactly 100', async () => {
      const res = await t.api.get('/api/projects').query({ limit: 100 }).expect(200);
      expect(res.body.limit).toBe(100);
    });

    it.each([
      ['a limit over 100', { limit: 101 }, 'limit'],
      ['a limit of 0', { limit: 0 }, 'limit'],
      ['a limit that is not a number', { limit: 'ten' }, 'limit'],
      ['a fractional limit', { limit: 2.5 }, 'limit'],
      ['a negative offset', { offset: -1 }, 'offset'],
      ['an unknown query parameter', { sort: 'name' }, 'sort'],
      ['an offset beyond what PostgreSQL can skip', { offset: '100000000000000000000' }, 'offset'],
      ['a hexadecimal limit', { limit: '0x10' }, 'limit'],
      ['a limit in exponent notation', { limit: '1e1' }, 'limit'],
      ['a binary offset', { offset: '0b11' }, 'offset'],
      ['an empty offset', { offset: '' }, 'offset'],
      ['a q with a NUL character', { q: 'a\u0000' }, 'q'],
    ])('refuses %s with 400 naming the parameter', async (_label, query, field) => {
      const res = await t.api.get('/api/projects').query(query);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field });
    });

    it('filters by name, case-insensitively', async () => {
      const token = uniqueToken();
      const match = await createProject(t.api, { name: `Alpha ${token.toUpperCase()} Tool` });
      await createProject(t.api, { name: `Beta ${uniqueToken()}` });
      const res = await t.api.get('/api/projects').query({ q: `alpha ${token}` }).expect(200);
      expect(res.body.total).toBe(1);
      expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([match.id]);
    });

    it('filters by slug', async () => {
      const token = uniqueToken();
      const match = await createProject(t.api, { name: 'Unrelated display name', slug: `slugonly-${token}` });
      const res = await t.api.get('/api/projects').query({ q: `slugonly-${token}` }).expect(200);
      expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([match.id]);
    });

    it('matches a literal "%" in q only against a literal "%"', async () => {
      const token = uniqueToken();
      const percent = await createProject(t.api, { name: `${token}% off` });
      await createProject(t.api, { name: `${token}00 off` });
      await createProject(t.api, { name: `${token} off` });
      const res = await t.api.get('/api/projects').query({ q: `${token}%` }).expect(200);
      expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([percent.id]);
      expect(res.body.total).toBe(1);
    });

    it('matches a literal "_" in q only against a literal "_"', async () => {
      const token = uniqueToken();
      const underscore = await createProject(t.api, { name: `${token}_x` });
      await createProject(t.api, { name: `${token}ax` });
      const res = await t.api.get('/api/projects').query({ q: `${token}_` }).expect(200);
      expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([underscore.id]);
    });

    it('matches a literal backslash in q', async () => {
      const token = uniqueToken();
      const backslash = await createProject(t.api, { name: `${token}\\x` });
      await createProject(t.api, { name: `${token}x` });
      const res = await t.api.get('/api/projects').query({ q: `${token}\\` }).expect(200);
      expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([backslash.id]);
    });
  });

  describe('get', () => {
    it('returns a project by id', async () => {
      const project = await createProject(t.api, { description: 'about', metadata: { stack: ['nest'] } });
      const res = await t.api.get(`/api/projects/${project.id}`).expect(200);
      expect(res.body).toEqual(project);
    });

    it('answers 404 PROJECT_NOT_FOUND for an unknown id', async () => {
      const id = randomUUID();
      const res = await t.api.get(`/api/projects/${id}`);
      const body = expectError(res, 404, 'PROJECT_NOT_FOUND');
      expect(body.message).toContain(id);
      expect(res.body.error).toBe('Not Found');
    });

    it.each(['not-a-uuid', '123', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1'])('answers 400 naming id for the malformed id %j', async (id) => {
      const res = await t.api.get(`/api/projects/${id}`);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field: 'id' });
      expect(res.body.error).toBe('Bad Request');
    });
  });

  describe('update', () => {
    it('changes name, description, status and metadata and keeps the slug', async () => {
      const project = await createProject(t.api);
      const res = await t.api
        .patch(`/api/projects/${project.id}`)
        .send({ name: 'Renamed', description: 'new text', status: 'archived', metadata: { owner: 'ops', n: 1 } })
        .expect(200);
      expect(res.body).toMatchObject({ id: project.id, name: 'Renamed', slug: project.slug, description: 'new text', status: 'archived', metadata: { owner: 'ops', n: 1 } });
      const stored = await t.api.get(`/api/projects/${project.id}`).expect(200);
      expect(stored.body).toEqual(res.body);
      expect(Date.parse(stored.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(project.updatedAt));
    });

    it('leaves the fields it is not sent unchanged', async () => {
      const project = await createProject(t.api, { description: 'keep me', metadata: { keep: true } });
      const res = await t.api.patch(`/api/projects/${project.id}`).send({ status: 'archived' }).expect(200);
      expect(res.body).toMatchObject({ name: project.name, slug: project.slug, description: 'keep me', metadata: { keep: true }, status: 'archived' });
    });

    it('keeps the file count and size that concurrent file writes set', async () => {
      const project = await createProject(t.api);
      const batch = (round: number) => Array.from({ length: 200 }, (_, i) => ({ path: `r${round}/f${i}.txt`, content: 'x'.repeat(10) }));
      for (let round = 0; round < 10; round++) {
        // The PATCH reads the row while the batch's transaction is under way, and writes after it commits.
        const upsert = t.api.put(`/api/projects/${project.id}/files`).send({ files: batch(round) }).expect(200);
        await new Promise((resolve) => setTimeout(resolve, round));
        await Promise.all([upsert, t.api.patch(`/api/projects/${project.id}`).send({ description: `round ${round}` }).expect(200)]);
      }
      const stored = await t.api.get(`/api/projects/${project.id}`).expect(200);
      expect(stored.body).toMatchObject({ fileCount: 2_000, totalBytes: 20_000, description: 'round 9' });
    });

    it('changes the slug to a free one', async () => {
      const project = await createProject(t.api);
      const slug = `moved-${uniqueToken()}`;
      const res = await t.api.patch(`/api/projects/${project.id}`).send({ slug }).expect(200);
      expect(res.body.slug).toBe(slug);
    });

    it('refuses a slug that another project holds with 409 SLUG_CONFLICT and changes nothing', async () => {
      const holder = await createProject(t.api);
      const project = await createProject(t.api);
      const res = await t.api.patch(`/api/projects/${project.id}`).send({ slug: holder.slug, name: 'Should not stick' });
      expectErrorDetail(res, 409, 'SLUG_CONFLICT', { field: 'slug' });
      const stored = await t.api.get(`/api/projects/${project.id}`).expect(200);
      expect(stored.body).toMatchObject({ slug: project.slug, name: project.name });
    });

    it.each([
      ['an unknown field', { colour: 'red' }, 'colour'],
      ['an unknown status', { status: 'gone' }, 'status'],
      ['an empty name', { name: '' }, 'name'],
      ['a malformed slug', { slug: 'No Spaces' }, 'slug'],
      ['the server-kept file count', { fileCount: 0 }, 'fileCount'],
      ['a null name', { name: null }, 'name'],
      ['a null slug', { slug: null }, 'slug'],
      ['null metadata', { metadata: null }, 'metadata'],
      ['a null description', { description: null }, 'description'],
      ['a name with a NUL character', { name: 'a\u0000b' }, 'name'],
    ])('refuses %s with 400 naming the field', async (_label, body, field) => {
      const project = await createProject(t.api);
      const res = await t.api.patch(`/api/projects/${project.id}`).send(body);
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field });
      const stored = await t.api.get(`/api/projects/${project.id}`).expect(200);
      expect(stored.body).toEqual(project);
    });

    it('answers 404 PROJECT_NOT_FOUND for an unknown id', async () => {
      const res = await t.api.patch(`/api/projects/${randomUUID()}`).send({ name: 'x' });
      expectError(res, 404, 'PROJECT_NOT_FOUND');
    });

    it('answers 400 naming id for a malformed id', async () => {
      const res = await t.api.patch('/api/projects/nope').send({ name: 'x' });
      expectErrorDetail(res, 400, 'VALIDATION_FAILED', { field: 'id' });
    });
  });

  describe('delete', () => {
    it('deletes a project: 204, then 404 on every read', async () => {
      const project = await createProject(t.api);
      const res = await t.api.delete(`/api/projects/${project.id}`).expect(204);
      expect(res.text).toBe('');
      expectError(await t.api.get(`/api/projects/${project.id}`), 404, 'PROJECT_NOT_FOUND');
      expectError(await t.api.delete(`/api/projects/${project.id}`), 404, 'PROJECT_NOT_FOUND');
      const rows = await t.sql('SELECT id FROM generated_projects WHERE id = $1', [project.id]);
      expect(rows).toHaveLength(0);
    });

    it('deletes the project\'s files with it and leaves other projects\' files alone', async () => {
      const doomed = await createProject(t.api);
      const kept = await createProject(t.api);
      const files = [textFile('README.md'), textFile('src/index.ts'), textFile('src/lib/util.ts')];
      await t.api.put(`/api/projects/${doomed.id}/files`).send({ files }).expect(200);
      await t.api.put(`/api/projects/${kept.id}/files`).send({ files }).expect(200);
      const count = async (id: string) => (await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM project_files WHERE project_id = $1', [id]))[0].n;
      expect(await count(doomed.id)).toBe(3);
      await t.api.delete(`/api/projects/${doomed.id}`).expect(204);
      expect(await count(doomed.id)).toBe(0);
      expect(await count(kept.id)).toBe(3);
      expectError(await t.api.get(`/api/projects/${doomed.id}/files`), 404, 'PROJECT_NOT_FOUND');
    });

    it('answers 404 PROJECT_NOT_FOUND for an unknown id', async () => {
      expectError(await t.api.delete(`/api/projects/${randomUUID()}`), 404, 'PROJECT_NOT_FOUND');
    });

    it('answers 400 naming id for a malformed id', async () => {
      expectErrorDetail(await t.api.delete('/api/projects/1'), 400, 'VALIDATION_FAILED', { field: 'id' });
    });
  });

  describe('error shape', () => {
    it('answers every kind of error with exactly { statusCode, error, code, message, details? }', async () => {
      const project = await createProject(t.api);
      const responses: Array<[number, string, Promise<import('supertest').Response>]> = [
        [400, 'VALIDATION_FAILED', t.api.post('/api/projects').send({ name: 'x', nope: 1 }).then((r) => r)],
        [400, 'VALIDATION_FAILED', t.api.get('/api/projects/bad-id').then((r) => r)],
        [400, 'VALIDATION_FAILED', t.api.get('/api/projects').query({ limit: 1000 }).then((r) => r)],
        [404, 'PROJECT_NOT_FOUND', t.api.get(`/api/projects/${randomUUID()}`).then((r) => r)],
        [409, 'SLUG_CONFLICT', t.api.post('/api/projects').send({ name: 'x', slug: project.slug }).then((r) => r)],
      ];
      for (const [status, code, pending] of responses) expectError(await pending, status, code);
    });
  });
});
