/**
 * JSON null in an optional body field: refused with a 400 naming the field, wherever null does
 * not mean something (class-validator's IsOptional lets null through to the services, where it
 * used to answer 500, store a NULL, or be taken as false or ignored).
 */
import { textFile } from '../factories/file.factory.js';
import { createProject } from '../factories/project.factory.js';
import { createWorkflow } from '../factories/workflow.factory.js';
import { expectErrorDetail } from '../utils/http.js';
import { startTestApp, TestApp } from '../utils/test-app.js';

describe('null in an optional body field', () => {
  let t: TestApp;
  let projectId: string;
  let workflowId: string;
  let agentId: string;

  beforeAll(async () => {
    t = await startTestApp();
    projectId = (await createProject(t.api)).id;
    await t.api.put(`/api/projects/${projectId}/files`).send({ files: [textFile('run.sh', '#!/bin/sh\n', { executable: true })] }).expect(200);
    workflowId = (await createWorkflow(t.api, [{ id: 'p', type: 'create_project', config: { name: 'x' } }], 'named')).id;
    agentId = (await t.api.post('/api/agents').send({ name: 'agent', allowedOperations: [] }).expect(201)).body.id;
  });

  afterAll(async () => {
    await t?.close();
  });

  const remote = { url: 'https://example.com/r.git' };
  it.each([
    ['an export tag', 'post', () => `/api/projects/${projectId}/exports`, { tag: null }, 'tag'],
    ['an export message', 'post', () => `/api/projects/${projectId}/exports`, { message: null }, 'message'],
    ['an export branch', 'post', () => `/api/projects/${projectId}/exports`, { branch: null }, 'branch'],
    ['a push token', 'post', () => `/api/projects/${projectId}/exports`, { remote: { ...remote, token: null } }, 'remote.token'],
    ['a push user name', 'post', () => `/api/projects/${projectId}/exports`, { remote: { ...remote, username: null, token: 't' } }, 'remote.username'],
    ['a workflow name', 'patch', () => `/api/workflows/${workflowId}`, { name: null }, 'name'],
    ['a workflow description', 'patch', () => `/api/workflows/${workflowId}`, { description: null }, 'description'],
    ['a file\'s executable bit', 'put', () => `/api/projects/${projectId}/files`, { files: [{ path: 'run.sh', content: '#!/bin/sh\n', executable: null }] }, 'files[0].executable'],
    ['a move\'s overwrite', 'post', () => `/api/projects/${projectId}/files/move`, { from: 'run.sh', to: 'b.sh', overwrite: null }, 'overwrite'],
    ['an agent name', 'patch', () => `/api/agents/${agentId}`, { name: null }, 'name'],
    ['an agent\'s allowed operations', 'patch', () => `/api/agents/${agentId}`, { allowedOperations: null }, 'allowedOperations'],
    ['an agent model', 'patch', () => `/api/agents/${agentId}`, { model: null }, 'model'],
    ['an agent run\'s wait', 'post', () => `/api/agents/${agentId}/runs`, { input: 'hello', wait: null }, 'wait'],
  ] as const)('refuses %s sent as null with 400 naming it, changing nothing', async (_label, method, path, body, field) => {
    const state = () =>
      t.sql(
        `SELECT (SELECT count(*) FROM repository_exports) AS exports, (SELECT count(*) FROM agent_runs) AS runs,
                (SELECT json_agg(json_build_object('n', name, 'd', description)) FROM workflows) AS workflows,
                (SELECT json_agg(json_build_object('n', name, 'm', model)) FROM agents) AS agents,
                (SELECT json_agg(json_build_object('p', path, 'm', mode)) FROM project_files) AS files`,
      );
    const before = await state();
    expectErrorDetail(await t.api[method](path()).send(body), 400, 'VALIDATION_FAILED', { field });
    expect(await state()).toEqual(before);
  });

  it('still takes null where it means something: it clears an agent\'s output schema (and the deprecated temperature)', async () => {
    await t.api.patch(`/api/agents/${agentId}`).send({ outputSchema: { type: 'object' } }).expect(200);
    const cleared = await t.api.patch(`/api/agents/${agentId}`).send({ outputSchema: null, temperature: null }).expect(200);
    expect(cleared.body).toMatchObject({ outputSchema: null, temperature: null });
  });
});
