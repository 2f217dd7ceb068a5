import { startTestApp, TestApp } from '../utils/test-app.js';

describe('projects', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates a project and derives its slug from the name', async () => {
    const res = await t.api.post('/api/projects').send({ name: 'Invoice Service' }).expect(201);
    expect(res.body).toMatchObject({ name: 'Invoice Service', slug: 'invoice-service', fileCount: 0, totalBytes: 0 });
  });
});
