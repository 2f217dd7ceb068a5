import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CreateExportDto } from '../../exporter/dto/export.dto.js';
import { ExportsService } from '../../exporter/exports.service.js';
import type { RepositoryExport } from '../../exporter/repository-export.entity.js';
import { sleep } from '../../queue/job-queue.js';
import { NonRetryableStepError, StepContext, StepExecutor, StepHandler } from '../step-executor.js';

/** The commit trailers that lead from a commit back to the workflow run and step that made it. */
export const RUN_TRAILER = 'Forgeline-Run';
export const STEP_TRAILER = 'Forgeline-Step';
/** How often the step looks at its export while it waits. */
const POLL_MS = 100;

interface ExportRepositoryInput extends Record<string, unknown> {
  projectId: string;
}

interface ExportRepositoryOutput {
  exportId: string;
  commitSha: string;
  parentSha: string | null;
  unchanged: boolean;
  fileCount: number | null;
  branch: string;
  tag: string | null;
  remoteUrl: string | null;
  pushResult: unknown;
}

const author = { type: 'object', required: ['name', 'email'], additionalProperties: false, properties: { name: { type: 'string' }, email: { type: 'string' } } };

/**
 * An export (POST /api/projects/{id}/exports), waited for: the commit carries Forgeline-Run and
 * Forgeline-Step trailers. Run again after a crash, it waits for the export it started (its id is
 * the step's checkpoint); a second export of the same tree makes no commit (`unchanged`).
 */
@StepExecutor({
  type: 'export_repository',
  description: 'Commit the project to its Git repository (and push it to a remote), then output the commit sha; the commit names the run and step',
  secretFields: ['remote.token'],
  input: {
    type: 'object',
    required: ['projectId'],
    additionalProperties: false,
    properties: {
      projectId: { type: 'string', format: 'uuid' },
      branch: { type: 'string' },
      tag: { type: 'string' },
      message: { type: 'string', maxLength: 10000 },
      author,
      allowEmpty: { type: 'boolean' },
      remote: {
        type: 'object',
        required: ['url'],
        additionalProperties: false,
        properties: {
          url: { type: 'string' },
          branch: { type: 'string' },
          force: { type: 'boolean' },
          credentialId: { type: 'string', format: 'uuid' },
          username: { type: 'string' },
          token: { type: 'string', description: 'Use ${{ secrets.NAME }}: masked in logs and outputs' },
        },
      },
    },
  },
  output: {
    type: 'object',
    required: ['exportId', 'commitSha', 'unchanged', 'branch'],
    properties: {
      exportId: { type: 'string', format: 'uuid' },
      commitSha: { type: 'string', pattern: '^[0-9a-f]{40}$' },
      parentSha: { type: ['string', 'null'] },
      unchanged: { type: 'boolean' },
      fileCount: { type: ['integer', 'null'] },
      branch: { type: 'string' },
      tag: { type: ['string', 'null'] },
      remoteUrl: { type: ['string', 'null'] },
      pushResult: {},
    },
  },
})
export class ExportRepositoryStep implements StepHandler<ExportRepositoryInput, ExportRepositoryOutput> {
  constructor(private readonly exports: ExportsService) {}

  async run(input: ExportRepositoryInput, ctx: StepContext): Promise<ExportRepositoryOutput> {
    const { projectId, ...request } = input;
    const dto = plainToInstance(CreateExportDto, request);
    const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length > 0) {
      const messages = errors.flatMap((error) => Object.values(error.constraints ?? {}).concat((error.children ?? []).flatMap((child) => Object.values(child.constraints ?? {}))));
      throw new NonRetryableStepError(`config: ${messages.join('; ')}`);
    }
    const saved = ctx.checkpoint as { exportId?: string } | null;
    let row: RepositoryExport | null = saved?.exportId ? await this.exports.get(ctx.workspaceId, saved.exportId).catch(() => null) : null;
    if (row && row.status !== 'failed') ctx.logger.info(`waiting for export ${row.id}, started by an earlier execution`);
    else {
      row = await this.exports.create(ctx.workspaceId, projectId, dto, { trailers: [[RUN_TRAILER, ctx.runId], [STEP_TRAILER, ctx.stepId]] });
      await ctx.saveCheckpoint({ exportId: row.id });
      ctx.logger.info(`export ${row.id} of branch ${row.branch} queued`);
    }
    while (row.status === 'queued' || row.status === 'running') {
      await sleep(POLL_MS, ctx.signal);
      ctx.signal.throwIfAborted();
      row = await this.exports.get(ctx.workspaceId, row.id);
    }
    if (row.status === 'failed' || !row.commitSha) throw new Error(`export ${row.id} failed: ${row.error ?? 'no commit'}`);
    ctx.logger.info(`${row.unchanged ? 'unchanged' : 'committed'} ${row.commitSha} on ${row.branch}${row.remoteUrl ? `, pushed to ${row.remoteUrl}` : ''}`);
    return {
      exportId: row.id,
      commitSha: row.commitSha,
      parentSha: row.parentSha,
      unchanged: row.unchanged ?? false,
      fileCount: row.fileCount,
      branch: row.branch,
      tag: row.tag,
      remoteUrl: row.remoteUrl,
      pushResult: row.pushResult,
    };
  }
}
