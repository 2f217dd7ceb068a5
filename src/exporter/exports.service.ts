import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { SecretsService } from '../access/secrets.service.js';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { Page, PageQueryDto } from '../common/pagination.js';
import { WorkspaceScopedRepository } from '../common/workspace-scoped.repository.js';
import { ProjectsService } from '../projects/projects.service.js';
import { JobQueue, PendingJob } from '../queue/job-queue.js';
import { CommitDto, CreateExportDto, ListCommitsQueryDto, RepositoryExportDto } from './dto/export.dto.js';
import { GitCredentialsService } from './git-credentials.service.js';
import { GitService } from './git.service.js';
import { assertRefName } from './ref-name.js';
import { assertRemoteUrl } from './remote-url.js';
import { RepositoryExport } from './repository-export.entity.js';

/** The job type of exports on the queue seam; its data is `{ exportId }`. */
export const EXPORT_JOB = 'export';
export interface ExportJob {
  exportId: string;
}
export const exportJobId = (exportId: string) => `${EXPORT_JOB}:${exportId}`;
/** Bound into inline credentials' ciphertext: they decrypt only for their own export. */
export const inlineCredentialContext = (exportId: string) => `export:${exportId}:inline-credential`;

export const exportNotFound = (id: string) => new DomainError('EXPORT_NOT_FOUND', `Export ${id} does not exist`);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

const invalid = (field: string, rule: string, message: string) => new DomainError('VALIDATION_FAILED', message, [{ field, rule, message }]);

const TRAILER_KEY = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
// eslint-disable-next-line no-control-regex
const TRAILER_VALUE = /^[^\u0000-\u001f\u007f]{1,500}$/;
/** Ours alone: a caller cannot make a commit name another export or project. */
const RESERVED_TRAILERS = new Set(['forgeline-project', 'forgeline-export']);

export function toExportDto(row: RepositoryExport): RepositoryExportDto {
  return {
    id: row.id,
    projectId: row.projectId,
    status: row.status,
    branch: row.branch,
    tag: row.tag,
    message: row.message,
    author: { name: row.authorName, email: row.authorEmail },
    allowEmpty: row.allowEmpty,
    commitSha: row.commitSha,
    parentSha: row.parentSha,
    unchanged: row.unchanged,
    fileCount: row.fileCount,
    remoteUrl: row.remoteUrl,
    pushResult: row.pushResult,
    error: row.error,
    attempts: row.attempts,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    durationMs: row.durationMs,
  };
}

/** Exports over the API: validate, record the row (the state of the work), enqueue "work on it". */
@Injectable()
export class ExportsService {
  private readonly logger = new Logger('Exports');
  readonly exports: WorkspaceScopedRepository<RepositoryExport>;

  constructor(
    @InjectRepository(RepositoryExport) private readonly repository: Repository<RepositoryExport>,
    private readonly projects: ProjectsService,
    private readonly credentials: GitCredentialsService,
    private readonly secrets: SecretsService,
    private readonly jobs: JobQueue,
    private readonly git: GitService,
    private readonly config: AppConfig,
  ) {
    this.exports = new WorkspaceScopedRepository(repository, exportNotFound);
  }

  /** `options.trailers`: extra commit trailers (a workflow step adds Forgeline-Run and Forgeline-Step). */
  async create(workspaceId: string, projectId: string, dto: CreateExportDto, options: { trailers?: Array<[string, string]> } = {}): Promise<RepositoryExport> {
    for (const [key, value] of options.trailers ?? []) {
      if (!TRAILER_KEY.test(key) || RESERVED_TRAILERS.has(key.toLowerCase()) || !TRAILER_VALUE.test(value)) {
        throw new Error(`not a commit trailer this export may add: ${JSON.stringify(key)}: ${JSON.stringify(value)}`);
      }
    }
    const project = await this.projects.get(workspaceId, projectId);
    const branch = assertRefName(dto.branch ?? 'main', 'branch');
    const tag = dto.tag === undefined ? null : assertRefName(dto.tag, 'tag');
    const id = randomUUID();
    const row = this.exports.create(workspaceId, {
      id,
      projectId,
      status: 'queued',
      branch,
      tag,
      message: dto.message !== undefined && dto.message.trim() !== '' ? dto.message : `Export of ${project.name.replace(CONTROL, ' ')}`,
      authorName: dto.author?.name.trim() ?? this.config.GIT_AUTHOR_NAME,
      authorEmail: dto.author?.email ?? this.config.GIT_AUTHOR_EMAIL,
      allowEmpty: dto.allowEmpty ?? false,
      trailers: options.trailers ?? [],
      remoteUrl: null,
      remoteBranch: null,
      remoteForce: false,
      credentialId: null,
      inlineCredential: null,
    });
    const remote = dto.remote;
    if (remote) {
      row.remoteUrl = assertRemoteUrl(remote.url, this.config.GIT_ALLOW_HTTP, 'remote.url');
      row.remoteBranch = assertRefName(remote.branch ?? branch, 'remote.branch');
      row.remoteForce = remote.force ?? false;
      if (remote.credentialId && (remote.token !== undefined || remote.username !== undefined)) {
        throw invalid('remote.credentialId', 'one-credential', 'remote takes either credentialId or username and token, not both');
      }
      if (remote.username !== undefined && remote.token === undefined) {
        throw invalid('remote.token', 'token-required', 'remote.username needs remote.token');
      }
      if (remote.credentialId) {
        const credential = await this.credentials.get(workspaceId, remote.credentialId);
        const host = new URL(row.remoteUrl).host;
        if (credential.host !== host) {
          // A credential bound to no host (made before hosts were required) is sent nowhere.
          const allowed = credential.host ?? 'the host it is bound to, and it has none: create it again with a host';
          throw invalid('remote.credentialId', 'credential-host', `Git credential "${credential.name}" may only be sent to ${allowed}, not to ${host}`);
        }
        row.credentialId = credential.id;
      }
      if (remote.token !== undefined) {
        // Used for this push only: kept encrypted until the export finishes, then erased.
        row.inlineCredential = this.secrets.encrypt(JSON.stringify({ username: remote.username ?? 'git', token: remote.token }), inlineCredentialContext(id));
      }
    }
    await this.exports.save(workspaceId, row);
    try {
      await this.jobs.enqueue<ExportJob>(EXPORT_JOB, { exportId: id }, { jobId: exportJobId(id) });
    } catch (error) {
      // The row is queued in PostgreSQL: the queue's sweep enqueues it once the queue is back.
      this.logger.warn(`export ${id} recorded but not enqueued yet: ${(error as Error).message}`);
    }
    return this.exports.get(workspaceId, id);
  }

  get(workspaceId: string, id: string): Promise<RepositoryExport> {
    return this.exports.get(workspaceId, id);
  }

  async list(workspaceId: string, projectId: string, query: PageQueryDto): Promise<Page<RepositoryExport>> {
    await this.projects.get(workspaceId, projectId);
    return this.exports.page(workspaceId, query, (builder) => builder.andWhere('e.project_id = :projectId', { projectId }));
  }

  /** The branch's history, newest first; empty before the first export. */
  async commits(workspaceId: string, projectId: string, query: ListCommitsQueryDto): Promise<Page<CommitDto>> {
    await this.projects.get(workspaceId, projectId);
    const branch = assertRefName(query.branch ?? 'main', 'branch');
    if (!this.git.exists(projectId)) return { items: [], total: 0, limit: query.limit, offset: query.offset };
    const { items, total } = await this.git.log(this.git.pathOf(projectId), branch, query.limit, query.offset);
    return {
      items: items.map((entry) => ({
        sha: entry.sha,
        parents: entry.parents,
        message: entry.message,
        author: { name: entry.authorName, email: entry.authorEmail },
        date: entry.date,
        changedPaths: entry.changedPaths,
      })),
      total,
      limit: query.limit,
      offset: query.offset,
    };
  }

  /** Exports PostgreSQL shows unfinished, in every workspace: the queue's recovery sweep. */
  async unfinished(): Promise<Array<PendingJob<ExportJob>>> {
    const rows: Array<{ id: string }> = await this.repository.query(
      `SELECT id FROM repository_exports WHERE status IN ('queued', 'running') ORDER BY created_at`,
    );
    return rows.map(({ id }) => ({ jobId: exportJobId(id), data: { exportId: id } }));
  }
}
