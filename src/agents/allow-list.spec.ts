import { allowedTools, isAllowed } from './allow-list.js';

const tools = [
  { name: 'createProject', explicitOnly: false },
  { name: 'getProject', explicitOnly: false },
  { name: 'listProjects', explicitOnly: false },
  { name: 'deleteProject', explicitOnly: true },
  { name: 'createApiKey', explicitOnly: true },
];

describe('allow-list', () => {
  it('grants exact names and patterns', () => {
    expect(allowedTools(tools, ['createProject', 'get*']).map((t) => t.name)).toEqual(['createProject', 'getProject']);
    expect(allowedTools(tools, ['*Project*']).map((t) => t.name)).toEqual(['createProject', 'getProject', 'listProjects']);
  });

  it('never reaches an explicit-only tool through a pattern, "*" included', () => {
    expect(isAllowed(tools[3], ['*'])).toBe(false);
    expect(isAllowed(tools[3], ['delete*'])).toBe(false);
    expect(isAllowed(tools[4], ['create*'])).toBe(false);
    expect(isAllowed(tools[3], ['deleteProject'])).toBe(true);
  });

  it('treats no entry as nothing allowed', () => {
    expect(allowedTools(tools, [])).toEqual([]);
  });
});
