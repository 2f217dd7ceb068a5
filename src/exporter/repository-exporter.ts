import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { rm } from 'node:fs/promises';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryRunner } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { sleep } from '../queue/job-queue.js';
import type { FileMode } from '../projects/project-file.entity.js';
import { ProjectsService } from '../projects/projects.service.js';
import { encodeCommitBody, encodeObject, EncodedObject, readTrailer, withTrailers } from './git-objects.js';
import { GitService, RefConflictError } from './git.service.js';
import { ObjectEncoder } from './object-encoder.js';
import type { PushCredentials } from './push-error.js';
import type { PushResult } from './repository-export.entity.js';
import { buildTrees, FileRecord, parseSnapshot, planExport, serialiseSnapshot, snapshotOf, TreeSnapshot } from './tree-builder.js';

export const EXPORT_TRAILER = 'Forgeline-Export';
export const PROJECT_TRAILER = 'Forgeline-Project';

/**
 * Contents are read in chunks of at most this many files or bytes, and pipelined: while one
 * chunk is written, the next is compressed on the encoder's thread and the one after that is on
 * its way from PostgreSQL.
 */
const CHUNK_FILES = 500;
const CHUNK_BYTES = 4 * 1024 * 1024;

export interface CommitRequest {
  projectId: string;
  exportId: string;
  branch: string;
  /** The message as requested; trailers are appended. */
  message: string;
  author: { name: string; email: string };
  allowEmpty: boolean;
  /** Extra trailers after Forgeline-Project and Forgeline-Export (workflow run and step, later). */
  trailers?: Array<[string, string]>;
  signal: AbortSignal;
}

export interface CommitOutcome {
  /** The branch's commit after the export (its existing tip when unchanged). */
  commitSha: string;
  /** The branch's tip before the export. */
  parentSha: string | null;
  unchanged: boolean;
  fileCount: number | null;
}

export interface CommitResult extends CommitOutcome {
  /**
   * Saves the snapshot (path → blob, folder → tree) the next export of the branch starts from.
   * Call it under the same lock, once the export is recorded: it is a cache, and the export's
   * caller need not wait for it. Never throws (a missing snapshot only makes the next export slower).
   */
  remember(): Promise<void>;
}

const NOTHING_TO_REMEMBER = async () => undefined;

export interface PushRequest {
  url: string;
  /** The export's own commit: what the remote branch is set to, wherever the local branch is now. */
  commitSha: string;
  remoteBranch: string;
  tag: string | null;
  force: boolean;
  credentials?: PushCredentials;
}

/** A permanent failure of an export (retrying will not help): the message is shown as is. */
export class ExportFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportFailure';
  }
}

interface ListedFile extends FileRecord {
  size: number;
}

interface SnapshotRow {
  branch: string;
  commit_sha: string;
}

/**
 * Builds a project's Git history straight from PostgreSQL: blobs, trees bottom-up and the commit,
 * hashed and deflated here and stored with isomorphic-git's object API (no working tree, no
 * index); the branch moves only after every object is written, and only if it still points at
 * the parent (compare-and-swap). Callers hold the project's export lock (`withProjectLock`).
 */
@Injectable()
export class RepositoryExporter implements OnApplicationShutdown {
  private readonly logger = new Logger('Exporter');
  private readonly encoder = new ObjectEncoder();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly git: GitService,
    private readonly config: AppConfig,
    projects: ProjectsService,
  ) {
    // A deleted project's repository goes too (its exports went with its row).
    projects.onRemoved((projectId) => this.removeRepository(projectId));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.encoder.close();
  }

  /**
   * Runs `work` holding the project's export lock: a PostgreSQL advisory lock, so exports of one
   * project run one at a time across every process. The lock lives on a connection of its own,
   * which `work` also uses for its reads.
   */
  async withProjectLock<T>(projectId: string, signal: AbortSignal, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const key = `forgeline:export:${projectId}`;
    try {
      const deadline = Date.now() + this.config.EXPORT_LOCK_TIMEOUT_MS;
      for (let wait = 25; ; wait = Math.min(wait * 2, 1_000)) {
        const [{ locked }] = await runner.query(`SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked`, [key]);
        if (locked) break;
        signal.throwIfAborted();
        if (Date.now() > deadline) throw new Error(`another export of this project held its lock for more than EXPORT_LOCK_TIMEOUT_MS=${this.config.EXPORT_LOCK_TIMEOUT_MS} ms`);
        await sleep(wait, signal);
      }
      try {
        return await work(runner);
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [key]).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }

  /** Commits the project's current files to `branch` (or finds the tree unchanged). */
  async commit(runner: QueryRunner, request: CommitRequest): Promise<CommitResult> {
    const { projectId, branch, signal } = request;
    const started = performance.now();
    const { gitdir, created } = await this.git.open(projectId);
    const ref = `refs/heads/${branch}`;
    const tip = await this.git.readRef(gitdir, ref);
    const tipCommit = tip ? await this.git.readCommit(gitdir, tip) : null;

    // A run of this same export that crashed after moving the branch: its commit is the result.
    if (tip && tipCommit && readTrailer(tipCommit.message, EXPORT_TRAILER) === request.exportId) {
      this.logger.log(`export ${request.exportId}: the branch already holds its commit ${tip} (an earlier attempt got that far)`);
      const own = (await this.snapshots(runner, projectId)).find((row) => row.branch === branch && row.commit_sha === tip);
      const snapshot = own ? await this.loadSnapshot(runner, projectId, branch) : null;
      return { commitSha: tip, parentSha: tipCommit.parents[0] ?? null, unchanged: false, fileCount: snapshot?.files.size ?? null, remember: NOTHING_TO_REMEMBER };
    }

    if (!tip && !created) await this.refuseClash(gitdir, ref);
    const { base, baseIsTip } = created ? { base: null, baseIsTip: false } : await this.baseSnapshot(runner, gitdir, projectId, branch, tip);
    const read = performance.now();
    const files = await this.writeBlobs(runner, gitdir, projectId, base, signal);
    const blobs = performance.now();
    const trees = buildTrees(files, base, files.changedFolders);
    const parentTree = tipCommit?.tree ?? null;

    const remember = (commitSha: string) => () => this.saveSnapshot(runner, projectId, branch, commitSha, trees.root, snapshotOf(files, trees.trees));
    if (tip && trees.root === parentTree && !request.allowEmpty) {
      return { commitSha: tip, parentSha: tip, unchanged: true, fileCount: files.length, remember: baseIsTip ? NOTHING_TO_REMEMBER : remember(tip) };
    }
    await this.git.writeObjects(gitdir, trees.written, signal);

    const now = Math.floor(Date.now() / 1000);
    const commit = encodeObject(
      'commit',
      encodeCommitBody({
        tree: trees.root,
        parents: tip ? [tip] : [],
        author: { ...request.author, timestamp: now },
        committer: { name: this.config.GIT_COMMITTER_NAME, email: this.config.GIT_COMMITTER_EMAIL, timestamp: now },
        message: withTrailers(request.message, [[PROJECT_TRAILER, projectId], [EXPORT_TRAILER, request.exportId], ...(request.trailers ?? [])]),
      }),
    );
    await this.git.writeObjects(gitdir, [commit], signal);
    signal.throwIfAborted();
    // Every object is on disk: now, and only if nobody moved it, the branch may point at the commit.
    await this.git.updateRef(gitdir, ref, tip, commit.oid);
    await this.git.pointHeadAtIfDangling(gitdir, branch);
    const ms = (from: number, to: number) => Math.round(to - from);
    this.logger.debug(
      `export ${request.exportId}: ${files.length} files, ${files.written} blobs and ${trees.written.length} trees written; ` +
        `base ${ms(started, read)} ms, blobs ${ms(read, blobs)} ms, trees and commit ${ms(blobs, performance.now())} ms`,
    );
    return { commitSha: commit.oid, parentSha: tip, unchanged: false, fileCount: files.length, remember: remember(commit.oid) };
  }

  /** Points `refs/tags/<tag>` at the commit; fine if it already does, a failure if it names another. */
  async tag(projectId: string, tag: string, commitSha: string): Promise<void> {
    const { gitdir } = await this.git.open(projectId);
    if ((await this.git.readRef(gitdir, `refs/tags/${tag}`)) === null) await this.refuseClash(gitdir, `refs/tags/${tag}`);
    try {
      await this.git.updateRef(gitdir, `refs/tags/${tag}`, null, commitSha);
    } catch (error) {
      if (error instanceof RefConflictError) {
        if (error.actual === commitSha) return;
        throw new ExportFailure(`tag "${tag}" already exists and points at ${error.actual}, not at ${commitSha}`);
      }
      throw error;
    }
  }

  /**
   * Pushes the export's commit to the remote branch (and the tag). The commit, not the local
   * branch: a retry of an older export must not push what a later export committed. Throws PushFailure.
   */
  async push(projectId: string, request: PushRequest, signal?: AbortSignal): Promise<PushResult> {
    const { gitdir } = await this.git.open(projectId);
    const result: PushResult = { remoteUrl: request.url, remoteBranch: request.remoteBranch, forced: request.force, refs: [] };
    const branch = await this.git.push(gitdir, {
      url: request.url,
      ref: request.commitSha,
      remoteRef: `refs/heads/${request.remoteBranch}`,
      force: request.force,
      credentials: request.credentials,
    }, signal);
    result.refs.push(branch);
    if (request.tag) {
      const tag = await this.git.push(gitdir, { url: request.url, ref: `refs/tags/${request.tag}`, remoteRef: `refs/tags/${request.tag}`, force: request.force, credentials: request.credentials }, signal);
      result.refs.push(tag);
    }
    return result;
  }

  private async refuseClash(gitdir: string, ref: string): Promise<void> {
    const clash = await this.git.clashingRef(gitdir, ref);
    if (clash) {
      const name = (full: string) => full.replace(/^refs\/(heads|tags)\//, '');
      throw new ExportFailure(`"${name(ref)}" cannot be created next to the existing "${name(clash)}": Git cannot hold a branch or tag and a folder of that name at once`);
    }
  }

  /** Removes the project's repository when the project no longer exists (under the export lock); says whether it did. */
  async removeIfProjectGone(runner: QueryRunner, projectId: string): Promise<boolean> {
    const rows: unknown[] = await runner.query(`SELECT 1 FROM generated_projects WHERE id = $1`, [projectId]);
    if (rows.length > 0) return false;
    await this.removeRepository(projectId);
    return true;
  }

  private removeRepository(projectId: string): Promise<void> {
    return rm(this.git.pathOf(projectId), { recursive: true, force: true });
  }

  /** Packs loose objects when git thinks it is time (after an export, still under the lock). */
  maintain(projectId: string): Promise<void> {
    return this.git.maintain(this.git.pathOf(projectId));
  }

  /**
   * The snapshot that says which blobs and trees exist already: the branch's own when it still
   * describes the tip, else the snapshot of another branch whose tip it still describes (its
   * objects are in the repository too). None: everything is written, existing objects skipped.
   */
  private async baseSnapshot(runner: QueryRunner, gitdir: string, projectId: string, branch: string, tip: string | null): Promise<{ base: TreeSnapshot | null; baseIsTip: boolean }> {
    const rows = await this.snapshots(runner, projectId);
    const own = rows.find((row) => row.branch === branch);
    if (own && tip && own.commit_sha === tip) return { base: await this.loadSnapshot(runner, projectId, branch), baseIsTip: true };
    for (const row of rows) {
      if (row.branch !== branch && (await this.git.readRef(gitdir, `refs/heads/${row.branch}`)) === row.commit_sha) {
        return { base: await this.loadSnapshot(runner, projectId, row.branch), baseIsTip: false };
      }
    }
    return { base: null, baseIsTip: false };
  }

  /** Which branches have a snapshot, and of which commit (not the entries themselves). */
  private async snapshots(runner: QueryRunner, projectId: string): Promise<SnapshotRow[]> {
    return runner.query(`SELECT branch, commit_sha FROM repository_snapshots WHERE project_id = $1 ORDER BY updated_at DESC`, [projectId]);
  }

  private async loadSnapshot(runner: QueryRunner, projectId: string, branch: string): Promise<TreeSnapshot | null> {
    const [row] = await runner.query(`SELECT entries FROM repository_snapshots WHERE project_id = $1 AND branch = $2`, [projectId, branch]);
    return row ? parseSnapshot(row.entries) : null;
  }

  private async saveSnapshot(runner: QueryRunner, projectId: string, branch: string, commitSha: string, treeSha: string, snapshot: TreeSnapshot): Promise<void> {
    try {
      await this.writeSnapshot(runner, projectId, branch, commitSha, treeSha, snapshot);
    } catch (error) {
      this.logger.warn(`could not save the snapshot of ${projectId} ${branch} at ${commitSha}: ${(error as Error).message}`);
    }
  }

  private async writeSnapshot(runner: QueryRunner, projectId: string, branch: string, commitSha: string, treeSha: string, snapshot: TreeSnapshot): Promise<void> {
    await runner.query(
      `INSERT INTO repository_snapshots (project_id, branch, commit_sha, tree_sha, entries, updated_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (project_id, branch) DO UPDATE
         SET commit_sha = EXCLUDED.commit_sha, tree_sha = EXCLUDED.tree_sha, entries = EXCLUDED.entries, updated_at = now()`,
      [projectId, branch, commitSha, treeSha, serialiseSnapshot(snapshot)],
    );
  }

  /**
   * Lists the files and writes the blobs the base does not have, in one REPEATABLE READ
   * transaction (the listing and the contents are the same moment of the project). Contents
   * are read in bounded chunks: the next one is on its way while the last one is written.
   */
  private async writeBlobs(runner: QueryRunner, gitdir: string, projectId: string, base: TreeSnapshot | null, signal: AbortSignal) {
    await runner.startTransaction('REPEATABLE READ');
    try {
      const listed: ListedFile[] = await runner.query(`SELECT path, sha256, mode, size FROM project_files WHERE project_id = $1`, [projectId]);
      const plan = planExport(listed, base);
      const oids = plan.knownOids;
      const chunks = chunk(plan.needBlobs as ListedFile[]);
      const fetch = (paths: string[]): Promise<Array<{ path: string; content: Buffer }>> =>
        settledLater(runner.query(`SELECT path, content FROM project_files WHERE project_id = $1 AND path = ANY($2::text[])`, [projectId, paths]));
      let fetching = chunks.length > 0 ? fetch(chunks[0]) : undefined;
      let writing: Promise<unknown> = Promise.resolve();
      for (let index = 0; index < chunks.length; index++) {
        const rows = await (fetching as Promise<Array<{ path: string; content: Buffer }>>);
        fetching = index + 1 < chunks.length ? fetch(chunks[index + 1]) : undefined;
        const encoding = settledLater(this.encoder.encode('blob', rows.map((row) => row.content)));
        await writing; // The previous chunk, written here while this one is compressed there.
        const objects: EncodedObject[] = await encoding;
        rows.forEach((row, position) => oids.set(row.path, objects[position].oid));
        writing = this.git.writeObjects(gitdir, objects, signal);
      }
      await writing;
      await runner.commitTransaction();
      const written = plan.needBlobs.length;
      const files = listed.map((file) => {
        const oid = oids.get(file.path);
        if (!oid) throw new Error(`no blob for "${file.path}": it changed under a REPEATABLE READ transaction`);
        return { path: file.path, sha256: file.sha256, mode: file.mode as FileMode, oid };
      });
      return Object.assign(files, { changedFolders: plan.changedFolders, written });
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }
}

/**
 * Marks a promise that is awaited later (a prefetch, work on another thread) as handled now, so
 * that failing while something else is awaited is not an unhandled rejection; awaiting it later
 * still throws.
 */
function settledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** Paths in groups of at most CHUNK_FILES files and CHUNK_BYTES bytes (a single larger file is a group of its own). */
function chunk(files: ListedFile[]): string[][] {
  const groups: string[][] = [];
  let group: string[] = [];
  let bytes = 0;
  for (const file of files) {
    if (group.length > 0 && (group.length >= CHUNK_FILES || bytes + file.size > CHUNK_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(file.path);
    bytes += file.size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
