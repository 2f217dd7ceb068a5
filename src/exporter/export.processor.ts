import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import { SecretsService } from '../access/secrets.service.js';
import { DomainError } from '../common/domain-error.js';
import { JobContext, JobQueue } from '../queue/job-queue.js';
import { ExportJob, EXPORT_JOB, ExportsService, inlineCredentialContext } from './exports.service.js';
import { GitCredentialsService } from './git-credentials.service.js';
import { RefConflictError, RefLockedError } from './git.service.js';
import { PushCredentials, PushFailure } from './push-error.js';
import { redact } from './remote-url.js';
import { CommitOutcome, CommitResult, ExportFailure, RepositoryExporter } from './repository-exporter.js';
import { RepositoryExport } from './repository-export.entity.js';
import { TreeEntryError } from './tree-builder.js';

const FINAL = new Set(['succeeded', 'failed']);

type FinishPatch = Partial<Pick<RepositoryExport, 'status' | 'commitSha' | 'parentSha' | 'unchanged' | 'fileCount' | 'pushResult' | 'error'>>;

/**
 * The `export` job: "work on export row X now". Everything it needs is in the row; running it
 * twice is harmless (a finished row is left alone, the project's lock serialises runs, and a
 * commit an earlier attempt already made is found by its Forgeline-Export trailer).
 */
@Injectable()
export class ExportProcessor implements OnModuleInit {
  private readonly logger = new Logger('Exports');

  constructor(
    private readonly jobs: JobQueue,
    private readonly exporter: RepositoryExporter,
    private readonly exportsService: ExportsService,
    private readonly credentials: GitCredentialsService,
    private readonly secrets: SecretsService,
    @InjectRepository(RepositoryExport) private readonly repository: Repository<RepositoryExport>,
  ) {}

  onModuleInit(): void {
    this.jobs.register<ExportJob>(EXPORT_JOB, ({ exportId }, ctx) => this.run(exportId, ctx), {
      recover: () => this.exportsService.unfinished(),
    });
  }

  async run(exportId: string, ctx: JobContext): Promise<void> {
    const first = await this.repository.findOneBy({ id: exportId });
    if (!first || FINAL.has(first.status)) return;
    try {
      await this.runLocked(first.projectId, exportId, ctx);
    } catch (error) {
      // A failure around the export itself (the lock's timeout, the database): on the last
      // attempt the row ends as failed, or the recovery sweep would enqueue it again forever.
      if (!ctx.signal.aborted && ctx.attempt >= ctx.maxAttempts) {
        const message = redact(error instanceof Error ? error.message : String(error), []);
        await this.repository
          .update({ id: exportId, status: In(['queued', 'running']) }, { status: 'failed', error: message, finishedAt: new Date(), inlineCredential: null })
          .catch(() => undefined);
      }
      throw error;
    }
  }

  private async runLocked(projectId: string, exportId: string, ctx: JobContext): Promise<void> {
    await this.exporter.withProjectLock(projectId, ctx.signal, async (runner) => {
      // Read again under the lock: another worker may have finished it meanwhile.
      const row = await this.load(exportId);
      if (!row || FINAL.has(row.status)) return;
      const startedAt = row.startedAt ?? new Date();
      await this.repository.update({ id: exportId }, { status: 'running', startedAt, attempts: row.attempts + 1 });
      let outcome: CommitOutcome | undefined;
      let remember: () => Promise<void> = async () => undefined;
      let credentials: PushCredentials | undefined;
      try {
        const result = row.commitSha ? await this.committedEarlier(row) : await this.exporter.commit(runner, {
          projectId: row.projectId,
          exportId: row.id,
          branch: row.branch,
          message: row.message,
          author: { name: row.authorName, email: row.authorEmail },
          allowEmpty: row.allowEmpty,
          trailers: row.trailers,
          signal: ctx.signal,
        });
        const { remember: save, ...committed } = result;
        outcome = committed;
        remember = save;
        // Recorded at once: a retry (after a failed push, a crash) reuses this commit, even when
        // another export has committed on top of it meanwhile.
        if (!row.commitSha) await this.repository.update({ id: exportId }, committed);
        if (row.tag) await this.exporter.tag(row.projectId, row.tag, outcome.commitSha);
        let pushResult = null;
        if (row.remoteUrl) {
          credentials = await this.credentialsOf(row);
          pushResult = await this.exporter.push(row.projectId, {
            url: row.remoteUrl,
            commitSha: outcome.commitSha,
            remoteBranch: row.remoteBranch ?? row.branch,
            tag: row.tag,
            force: row.remoteForce,
            credentials,
          }, ctx.signal);
        }
        await this.finish(row, startedAt, { status: 'succeeded', ...outcome, pushResult, error: null });
      } catch (error) {
        await this.failed(row, startedAt, ctx, error, outcome, credentials);
      } finally {
        // Still under the project's lock, after the row says how the export went.
        await remember();
        // A project deleted meanwhile had its repository removed (ProjectsService.onRemoved), which
        // this export may have written again: the last writer removes it. (A delete that commits
        // after this check runs its own removal after every write.)
        const removed = await this.exporter.removeIfProjectGone(runner, row.projectId);
        if (!removed && !ctx.signal.aborted) await this.exporter.maintain(row.projectId);
      }
    });
  }

  /** The commit an earlier attempt of this export made (recorded before its tag or push). */
  private committedEarlier(row: RepositoryExport): CommitResult {
    return { commitSha: row.commitSha!, parentSha: row.parentSha, unchanged: row.unchanged ?? false, fileCount: row.fileCount, remember: async () => undefined };
  }

  private async failed(row: RepositoryExport, startedAt: Date, ctx: JobContext, error: unknown, outcome: CommitOutcome | undefined, credentials?: PushCredentials): Promise<void> {
    if (ctx.signal.aborted) {
      await this.repository.update({ id: row.id }, { status: 'queued', error: 'interrupted by a shutdown: handed back to the queue' });
      throw error;
    }
    const { message, permanent } = describe(error, credentials);
    if (!permanent && ctx.attempt < ctx.maxAttempts) {
      await this.repository.update({ id: row.id }, { status: 'queued', error: `attempt ${ctx.attempt} of ${ctx.maxAttempts} failed, retrying: ${message}` });
      throw error;
    }
    this.logger.warn(`export ${row.id} failed: ${message}`);
    await this.finish(row, startedAt, { status: 'failed', ...(outcome ?? {}), error: message });
  }

  private async finish(row: RepositoryExport, startedAt: Date, patch: FinishPatch): Promise<void> {
    const finishedAt = new Date();
    const values = { ...patch, finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime(), inlineCredential: null };
    await this.repository.update({ id: row.id }, values as QueryDeepPartialEntity<RepositoryExport>);
  }

  private async load(id: string): Promise<RepositoryExport | null> {
    return this.repository.createQueryBuilder('e').addSelect('e.inlineCredential').where('e.id = :id', { id }).getOne();
  }

  /** The push's credentials: the stored credential, else the inline ones, else none. */
  private async credentialsOf(row: RepositoryExport): Promise<PushCredentials | undefined> {
    if (row.credentialId) {
      const credential = await this.credentials.reveal(row.workspaceId, row.credentialId);
      const host = new URL(row.remoteUrl as string).host;
      if (credential.host !== host) throw new ExportFailure(`the Git credential may only be sent to ${credential.host ?? 'the host it is bound to (it has none: create it again with a host)'}, not to ${host}`);
      return { username: credential.username, token: credential.token };
    }
    if (row.inlineCredential) {
      const { username, token } = JSON.parse(this.secrets.decrypt(row.inlineCredential, inlineCredentialContext(row.id))) as PushCredentials;
      return { username, token };
    }
    return undefined;
  }
}

/** What to tell the user, and whether trying again could help. Never a secret. */
function describe(error: unknown, credentials?: PushCredentials): { message: string; permanent: boolean } {
  const secrets = credentials ? [credentials.token] : [];
  if (error instanceof PushFailure) return { message: error.message, permanent: error.permanent };
  if (error instanceof ExportFailure) return { message: error.message, permanent: true };
  if (error instanceof TreeEntryError) return { message: `the project holds a path Git must not store: ${error.message}`, permanent: true };
  if (error instanceof DomainError) return { message: redact(error.message, secrets), permanent: true };
  if (error instanceof RefConflictError) return { message: `the branch moved during the export (${error.message})`, permanent: false };
  if (error instanceof RefLockedError) return { message: error.message, permanent: false };
  return { message: redact(error instanceof Error ? error.message : String(error), secrets), permanent: false };
}
