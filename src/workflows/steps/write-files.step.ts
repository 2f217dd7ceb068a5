import { ProjectFilesService } from '../../projects/project-files.service.js';
import type { FileInputDto } from '../../projects/dto/project-file.dto.js';
import { StepContext, StepExecutor, StepHandler } from '../step-executor.js';

interface WriteFilesInput {
  projectId: string;
  files: Array<{ path: string; content: string; encoding?: 'utf8' | 'base64'; executable?: boolean }>;
}

interface WriteFilesOutput {
  created: number;
  updated: number;
  unchanged: number;
  files: Array<{ path: string; sha256: string; size: number; status: string }>;
}

/** Idempotent by nature: writing the same bytes again reports them `unchanged`. */
@StepExecutor({
  type: 'write_files',
  description: 'Create or replace files of a project, all or nothing (the same rules as PUT /api/projects/{id}/files)',
  input: {
    type: 'object',
    required: ['projectId', 'files'],
    additionalProperties: false,
    properties: {
      projectId: { type: 'string', format: 'uuid', description: 'Usually ${{ steps.<create>.output.projectId }}' },
      files: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['path', 'content'],
          additionalProperties: false,
          properties: {
            path: { type: 'string', minLength: 1 },
            content: { type: 'string' },
            encoding: { enum: ['utf8', 'base64'] },
            executable: { type: 'boolean' },
          },
        },
      },
    },
  },
  output: {
    type: 'object',
    required: ['created', 'updated', 'unchanged', 'files'],
    properties: {
      created: { type: 'integer' },
      updated: { type: 'integer' },
      unchanged: { type: 'integer' },
      files: {
        type: 'array',
        items: { type: 'object', properties: { path: { type: 'string' }, sha256: { type: 'string' }, size: { type: 'integer' }, status: { enum: ['created', 'updated', 'unchanged'] } } },
      },
    },
  },
})
export class WriteFilesStep implements StepHandler<WriteFilesInput, WriteFilesOutput> {
  constructor(private readonly files: ProjectFilesService) {}

  async run(input: WriteFilesInput, ctx: StepContext): Promise<WriteFilesOutput> {
    const result = await this.files.upsert(ctx.workspaceId, input.projectId, input.files as FileInputDto[]);
    ctx.logger.info(`${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged`);
    return { created: result.created, updated: result.updated, unchanged: result.unchanged, files: result.files };
  }
}
