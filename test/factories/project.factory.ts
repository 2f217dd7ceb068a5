import { randomBytes } from 'node:crypto';
import type { TestApp } from '../utils/test-app.js';

type Agent = TestApp['api'];

export interface ProjectBody {
  id: string;
  name: string;
  slug: string;
  description: string;
  status: string;
  metadata: Record<string, unknown>;
  fileCount: number;
  totalBytes: number;
  createdAt: string;
  updatedAt: string;
}

/** A short lowercase token that no other test uses: keeps names, slugs and filters apart. */
export function uniqueToken(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** A create-project payload with a unique name; `overrides` win. */
export function projectPayload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: `Project ${uniqueToken()}`, ...overrides };
}

/** Creates a project through the API and returns its body. */
export async function createProject(api: Agent, overrides: Record<string, unknown> = {}): Promise<ProjectBody> {
  const res = await api.post('/api/projects').send(projectPayload(overrides));
  if (res.status !== 201) throw new Error(`createProject answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as ProjectBody;
}
