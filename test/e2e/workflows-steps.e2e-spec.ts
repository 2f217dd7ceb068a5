import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { callTools, endTurn, FakeAnthropicServer, startFakeAnthropic, toolUse } from '../setup/fake-anthropic-server.js';
import { GitHttpServer, startGitHttpServer } from '../setup/git-http-server.js';
import { createWorkflow, startRun, stepOf, waitForRun } from '../factories/workflow.factory.js';
import { git, scratch } from '../utils/git-cli.js';
import { startTestApp, TestApp } from '../utils/test-app.js';
import { CreateProjectStep } from '../../src/workflows/steps/create-project.step.js';
import { NonRetryableStepError } from '../../src/workflows/step-executor.js';
import type { StepContext } from '../../src/workflows/step-executor.js';

const REDIS_URL = process.env.REDIS_URL;

const MODES: Array<[string, Record<string, string> | null]> = [
  ['in-process jobs', {}],
  [REDIS_URL ? 'Bull jobs on Redis' : 'Bull jobs on Redis (skipped: REDIS_URL is not set)', REDIS_URL ? { REDIS_URL, QUEUE_PREFIX: `fl-wf-steps-${randomBytes(4).toString('hex')}` } : null],
];

describe.each(MODES)('built-in workflow steps with %s', (_mode, env) => {
  const maybe = env ? it : it.skip;
  let t: TestApp;
  let remote: GitHttpServer;
  let fake: FakeAnthropicServer;
  const repos = scratch('wf-repos');
  const work = scratch('wf-work');
  const workspaces = scratch('wf-workspaces');

  beforeAll(async () => {
    if (!env) return;
    remote = await startGitHttpServer();
    fake = await startFakeAnthropic();
    t = await startTestApp({
      ...env,
      REPOS_DIR: repos.path,
      WORKSPACES_DIR: workspaces.path,
      GIT_ALLOW_HTTP: 'true',
      OUTBOUND_ALLOW_PRIVATE: 'true',
      ANTHROPIC_API_KEY: fake.apiKey,
      ANTHROPIC_BASE_URL: fake.url,
    });
  });

  afterAll(async () => {
    await t?.close();
    await remote?.close();
    await fake?.close();
    repos.cleanup();
    work.cleanup();
    workspaces.cleanup();
  });

  maybe('creates a project from a template, writes files, generates it and exports it to a Git remote, with trailers leading back to the run', async () => {
    const repository = remote.createRepository(`wf-${randomBytes(3).toString('hex')}`);
    const workflow = await createWorkflow(t.api, [
      { id: 'scaffold', type: 'create_project', config: { name: '${{ input.name }}', template: 'typescript-library', variables: { packageName: '${{ input.package }}' } } },
      {
        id: 'docs',
        type: 'write_files',
        needs: ['scaffold'],
        config: { projectId: '${{ steps.scaffold.output.projectId }}', files: [{ path: 'docs/USAGE.md', content: 'Use ${{ input.package }}.\n' }] },
      },
      { id: 'generate', type: 'generate_project', needs: ['docs'], config: { projectId: '${{ steps.scaffold.output.projectId }}' } },
      {
        id: 'export',
        type: 'export_repository',
        needs: ['scaffold', 'generate'],
        config: { projectId: '${{ steps.scaffold.output.projectId }}', message: 'Scaffold ${{ input.package }}', remote: { url: repository } },
      },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id, { name: 'Invoice utils', package: 'invoice-utils' })).id, undefined, 60_000);
    expect(run.status).toBe('succeeded');
    const scaffold = stepOf(run, 'scaffold').output;
    expect(scaffold).toMatchObject({ template: 'typescript-library', created: true, slug: 'invoice-utils' });
    expect(stepOf(run, 'generate').output.written).toBe(scaffold.fileCount + 1);
    const generated = readFileSync(join(stepOf(run, 'generate').output.outputDir, 'docs', 'USAGE.md'), 'utf8');
    expect(generated).toBe('Use invoice-utils.\n');
    const exported = stepOf(run, 'export').output;
    expect(exported).toMatchObject({ commitSha: expect.stringMatching(/^[0-9a-f]{40}$/), unchanged: false, branch: 'main', remoteUrl: repository });
    expect(run.output).toEqual({ export: exported });

    const checkout = join(work.path, `clone-${randomBytes(3).toString('hex')}`);
    await git(['clone', '--quiet', repository, checkout]);
    expect((await git(['rev-parse', 'HEAD'], { cwd: checkout })).trim()).toBe(exported.commitSha);
    expect(readFileSync(join(checkout, 'docs', 'USAGE.md'), 'utf8')).toBe('Use invoice-utils.\n');
    expect(JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')).name).toBe('invoice-utils');
    const trailers = await git(['log', '-1', '--format=%(trailers:only,unfold)'], { cwd: checkout });
    expect(trailers).toContain(`Forgeline-Run: ${run.id}`);
    expect(trailers).toContain('Forgeline-Step: export');
    expect(trailers).toContain(`Forgeline-Project: ${scaffold.projectId}`);
    expect((await git(['log', '-1', '--format=%s'], { cwd: checkout })).trim()).toBe('Scaffold invoice-utils');
  });

  maybe('runs an agent whose structured result feeds the next step, and whose recorded calls show who wrote each file', async () => {
    const marker = `[wf-agent ${randomBytes(4).toString('hex')}]`;
    const project = await t.api.post('/api/projects').send({ name: `Agent target ${randomBytes(3).toString('hex')}` }).expect(201);
    const agent = await t.api
      .post('/api/agents')
      .send({
        name: 'writer',
        allowedOperations: ['upsertProjectFiles'],
        outputSchema: { type: 'object', required: ['title', 'path'], properties: { title: { type: 'string' }, path: { type: 'string' } }, additionalProperties: false },
      })
      .expect(201);
    fake.script(marker, [
      callTools(toolUse('upsertProjectFiles', { id: project.body.id, files: [{ path: 'src/hello.ts', content: 'export const hello = 1;\n' }] })),
      callTools(toolUse('submit_result', { title: 'Hello module', path: 'src/hello.ts' })),
      endTurn('done'),
    ]);
    const workflow = await createWorkflow(t.api, [
      { id: 'write', type: 'agent', config: { agentId: agent.body.id, input: `${marker} write src/hello.ts in ${project.body.id}` } },
      {
        id: 'index',
        type: 'write_files',
        needs: ['write'],
        config: { projectId: project.body.id, files: [{ path: 'INDEX.md', content: '- [${{ steps.write.output.result.title }}](${{ steps.write.output.result.path }})\n' }] },
      },
      { id: 'export', type: 'export_repository', needs: ['index'], config: { projectId: project.body.id } },
    ]);
    const run = await waitForRun(t.api, (await startRun(t.api, workflow.id)).id, undefined, 60_000);
    expect(run.status).toBe('succeeded');
    const write = stepOf(run, 'write').output;
    expect(write).toMatchObject({ result: { title: 'Hello module', path: 'src/hello.ts' }, agentRunId: expect.any(String), stopReason: 'result_submitted' });
    const index = await t.api.get(`/api/projects/${project.body.id}/files/content`).query({ path: 'INDEX.md' }).expect(200);
    expect(index.text).toBe('- [Hello module](src/hello.ts)\n');

    // From the commit back to the tool call that wrote src/hello.ts.
    const checkout = join(work.path, `agent-${randomBytes(3).toString('hex')}`);
    await git(['clone', '--quiet', join(repos.path, `${project.body.id}.git`), checkout]);
    const trailers = await git(['log', '-1', '--format=%(trailers:only,unfold)'], { cwd: checkout });
    const runId = /Forgeline-Run: (\S+)/.exec(trailers)![1];
    const stepId = /Forgeline-Step: (\S+)/.exec(trailers)![1];
    expect([runId, stepId]).toEqual([run.id, 'export']);
    const traced = (await t.api.get(`/api/workflow-runs/${runId}`).expect(200)).body;
    const agentRunId = traced.steps.find((s: { type: string }) => s.type === 'agent').output.agentRunId;
    const agentRun = await t.api.get(`/api/agent-runs/${agentRunId}`).expect(200);
    const call = agentRun.body.calls.find((c: { operationId: string }) => c.operationId === 'upsertProjectFiles');
    expect(call).toMatchObject({ method: 'PUT', responseStatus: 200 });
    expect(JSON.stringify(call.request)).toContain('src/hello.ts');
  });
});

describe('the http_request step', () => {
  let t: TestApp;
  let open: TestApp;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/redirect-out') return void response.writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/json` }).end();
      if (request.url === '/big') return void response.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(5000));
      if (request.url === '/missing') return void response.writeHead(404).end('nope');
      // Headers now, the body never (until the server closes): for the step's time limit.
      if (request.url === '/stalls') return void response.writeHead(200, { 'content-type': 'text/plain' }).write('partial');
      if (request.url === '/silent') return;
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: request.method, body, auth: request.headers.authorization ?? null })));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Every host is allowed by name here, so the refusals below come from the address check after DNS.
    t = await startTestApp({ HTTP_STEP_ALLOWED_HOSTS: '127.0.0.1,169.254.169.254,[::1],localhost,10.1.2.3', OUTBOUND_ALLOW_PRIVATE: 'false' });
    open = await startTestApp({ HTTP_STEP_ALLOWED_HOSTS: '127.0.0.1', OUTBOUND_ALLOW_PRIVATE: 'true', HTTP_STEP_MAX_RESPONSE_BYTES: '1024' });
  });

  afterAll(async () => {
    await t?.close();
    await open?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function call(app: TestApp, config: Record<string, unknown>) {
    const workflow = await createWorkflow(app.api, [{ id: 'call', type: 'http_request', config }]);
    return stepOf(await waitForRun(app.api, (await startRun(app.api, workflow.id)).id), 'call');
  }

  it.each([
    ['127.0.0.1 (loopback)', () => `${base}/json`],
    ['169.254.169.254 (link-local: cloud metadata)', () => 'http://169.254.169.254/latest/meta-data/'],
    ['[::1] (IPv6 loopback)', () => `http://[::1]:${new URL(base).port}/json`],
    ['a host name that resolves to loopback', () => `http://localhost:${new URL(base).port}/json`],
    ['a private address', () => 'http://10.1.2.3/'],
  ])('refuses %s after DNS resolution', async (_label, url) => {
    const step = await call(t, { url: url() });
    expect(step.status).toBe('failed');
    expect(step.error).toMatch(/not allowed.*(private|meta) IP address/i);
  });

  it('refuses a host that is not on HTTP_STEP_ALLOWED_HOSTS', async () => {
    const step = await call(t, { url: 'http://example.com/' });
    expect(step).toMatchObject({ status: 'failed', error: 'host "example.com" is not on HTTP_STEP_ALLOWED_HOSTS' });
  });

  it('calls an allowed host and returns status, headers and parsed JSON', async () => {
    await open.api.post('/api/secrets').send({ name: 'API_TOKEN', value: 'tok-123456' }).expect(200);
    const workflow = await createWorkflow(open.api, [
      { id: 'call', type: 'http_request', config: { url: `${base}/json`, method: 'POST', headers: { authorization: 'Bearer ${{ secrets.API_TOKEN }}' }, body: { hello: '${{ input.who }}' } } },
      { id: 'use', type: 'write_files', needs: ['call'], config: { projectId: '${{ input.projectId }}', files: [{ path: 'method.txt', content: '${{ steps.call.output.json.method }}' }] } },
    ]);
    const project = await open.api.post('/api/projects').send({ name: 'http target' }).expect(201);
    const run = await waitForRun(open.api, (await startRun(open.api, workflow.id, { who: 'world', projectId: project.body.id })).id);
    expect(run.status).toBe('succeeded');
    const output = stepOf(run, 'call').output;
    expect(output).toMatchObject({ status: 200, json: { method: 'POST', body: '{"hello":"world"}', auth: 'Bearer ***' } });
    expect(output.headers['content-type']).toBe('application/json');
    expect(stepOf(run, 'call').config.headers.authorization).toBe('Bearer ***');
  });

  it('keeps a password given in the URL out of the output, also in its percent-encoded form', async () => {
    // `new URL()` writes "=" in a password as "%3D": masking the raw value alone would miss it.
    const secret = `pw-${randomBytes(6).toString('hex')}==`;
    await open.api.post('/api/secrets').send({ name: 'URL_PASSWORD', value: secret }).expect(200);
    const workflow = await createWorkflow(open.api, [{ id: 'call', type: 'http_request', config: { url: `http://user:\${{ secrets.URL_PASSWORD }}@${base.slice('http://'.length)}/json` } }]);
    const run = await waitForRun(open.api, (await startRun(open.api, workflow.id)).id);
    const step = stepOf(run, 'call');
    expect(step.status).toBe('succeeded');
    expect(step.output.url).toBe(`${base}/json`);
    expect(step.output.json.auth).toMatch(/^Basic /);
    const shown = JSON.stringify(run);
    for (const form of [secret, encodeURIComponent(secret), secret.slice(0, -2)]) expect(shown).not.toContain(form);
  });

  it('fails a request that gets no response, or no complete body, within its timeoutMs', async () => {
    expect(await call(open, { url: `${base}/silent`, timeoutMs: 300 })).toMatchObject({ status: 'failed', error: 'no response within 300 ms' });
    expect(await call(open, { url: `${base}/stalls`, timeoutMs: 300 })).toMatchObject({ status: 'failed', error: 'the response did not finish within 300 ms' });
  });

  it('checks every redirect against the allowed hosts again', async () => {
    const step = await call(open, { url: `${base}/redirect-out` });
    expect(step).toMatchObject({ status: 'failed', error: 'host "localhost" is not on HTTP_STEP_ALLOWED_HOSTS' });
  });

  it('bounds the response size, and fails on an HTTP error unless told not to', async () => {
    expect(await call(open, { url: `${base}/big` })).toMatchObject({ status: 'failed', error: expect.stringMatching(/HTTP_STEP_MAX_RESPONSE_BYTES/) });
    expect(await call(open, { url: `${base}/missing` })).toMatchObject({ status: 'failed', error: expect.stringMatching(/404/) });
    expect(await call(open, { url: `${base}/missing`, failOnHttpError: false })).toMatchObject({ status: 'succeeded', output: { status: 404, body: 'nope' } });
  });
});

describe('the create_project step run again (a retry, a re-run after a crash)', () => {
  let t: TestApp;
  let step: CreateProjectStep;
  let workspaceId: string;
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const ctxOf = (runId: string) => ({ workspaceId, runId, stepId: 'scaffold', logger, signal: new AbortController().signal }) as unknown as StepContext;
  const config = { name: 'Again', template: 'typescript-library', variables: { packageName: 'again' } };
  const count = async () => (await t.sql<{ n: number }>(`SELECT count(*)::int AS n FROM generated_projects`))[0].n;

  beforeAll(async () => {
    t = await startTestApp();
    step = t.app.get(CreateProjectStep);
    workspaceId = (await t.api.get('/api/workspaces/current').expect(200)).body.id;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('gives back the project the first execution made, complete, instead of making another', async () => {
    const runId = randomUUID();
    const before = await count();
    const first = await step.run(config, ctxOf(runId));
    const again = await step.run(config, ctxOf(runId));
    expect(again).toEqual({ ...first, created: false });
    expect(await count()).toBe(before + 1);
    const stored = (await t.api.get(`/api/projects/${first.projectId}`).expect(200)).body;
    expect(stored.metadata).toEqual({ forgelineWorkflow: { runId, stepId: 'scaffold' }, instantiatedFrom: { template: 'typescript-library' } });
    expect(stored.fileCount).toBe(first.fileCount);
  });

  it('fails a config that can never work without a retry', async () => {
    await expect(step.run({ name: 'x', variables: { a: 'b' } }, ctxOf(randomUUID()))).rejects.toBeInstanceOf(NonRetryableStepError);
    await expect(step.run({ ...config, metadata: { a: 1 } }, ctxOf(randomUUID()))).rejects.toBeInstanceOf(NonRetryableStepError);
    // Refused by the API (a variable the template does not have): the same on every attempt.
    await expect(step.run({ ...config, variables: { packageName: 'ok', unknown: 'x' } }, ctxOf(randomUUID()))).rejects.toBeInstanceOf(NonRetryableStepError);
  });

  it('makes again a project that an earlier execution left incomplete', async () => {
    const runId = randomUUID();
    const partial = (await t.api.post('/api/projects').send({ name: 'Half made', metadata: { forgelineWorkflow: { runId, stepId: 'scaffold' }, forgelineIncomplete: true } }).expect(201)).body;
    const before = await count();
    const made = await step.run(config, ctxOf(runId));
    expect(made).toMatchObject({ created: true, template: 'typescript-library' });
    expect(made.projectId).not.toBe(partial.id);
    expect(made.fileCount).toBeGreaterThan(0);
    await t.api.get(`/api/projects/${partial.id}`).expect(404);
    expect(await count()).toBe(before);
  });
});
