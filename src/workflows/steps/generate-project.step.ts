import { ProjectGenerator } from '../../generator/project-generator.service.js';
import { StepContext, StepExecutor, StepHandler } from '../step-executor.js';

interface GenerateProjectInput {
  projectId: string;
  clean?: boolean;
}

interface GenerateProjectOutput {
  outputDir: string;
  written: number;
  unchanged: number;
  deleted: number;
  bytes: number;
  durationMs: number;
}

/** Idempotent: a second generation finds every file already right (`unchanged`). */
@StepExecutor({
  type: 'generate_project',
  description: 'Write the project\'s files from the database to its folder on the server (WORKSPACES_DIR), so tools can run on them',
  input: {
    type: 'object',
    required: ['projectId'],
    additionalProperties: false,
    properties: {
      projectId: { type: 'string', format: 'uuid' },
      clean: { type: 'boolean', default: false, description: 'Remove the folder first and write every file again' },
    },
  },
  output: {
    type: 'object',
    required: ['outputDir', 'written', 'unchanged', 'deleted', 'bytes', 'durationMs'],
    properties: {
      outputDir: { type: 'string' },
      written: { type: 'integer' },
      unchanged: { type: 'integer' },
      deleted: { type: 'integer' },
      bytes: { type: 'integer' },
      durationMs: { type: 'integer' },
    },
  },
})
export class GenerateProjectStep implements StepHandler<GenerateProjectInput, GenerateProjectOutput> {
  constructor(private readonly generator: ProjectGenerator) {}

  async run(input: GenerateProjectInput, ctx: StepContext): Promise<GenerateProjectOutput> {
    const result = await this.generator.generate(ctx.workspaceId, input.projectId, { clean: input.clean ?? false });
    ctx.logger.info(`${result.written} written, ${result.unchanged} unchanged, ${result.deleted} deleted (${result.bytes} bytes) in ${result.outputDir}`);
    return { ...result };
  }
}
