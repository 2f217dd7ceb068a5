import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { escapeLike, Page } from '../common/pagination.js';
import { normaliseProjectPath, parentFolders } from '../common/project-path.js';
import { decodeBase64Strict } from '../common/strict-base64.js';
import {
  FileInputDto,
  ListFilesQueryDto,
  MoveFileDto,
  MoveFilesResultDto,
  ProjectFileDto,
  UpsertedFileDto,
  UpsertFilesResultDto,
} from './dto/project-file.dto.js';
import { FileMode } from './project-file.entity.js';
import { ProjectsService } from './projects.service.js';

interface DecodedFile {
  path: string;
  content: Buffer;
  sha256: string;
  /** Undefined: keep the stored mode (regular for a new file). */
  mode?: FileMode;
}

interface StoredFile {
  path: string;
  sha256: string;
  size: number;
  mode: FileMode;
}

interface LockedProject {
  fileCount: number;
  totalBytes: number;
}

const INSERT_CHUNK = 500;

export interface FileContent {
  content: Buffer;
  sha256: string;
  size: number;
  mode: FileMode;
}

/**
 * Files of a project. Every change runs in one transaction that holds the project's row lock,
 * so the project's file count and total size (and the limits checked against them) stay exact.
 */
@Injectable()
export class ProjectFilesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly projects: ProjectsService,
  ) {}

  /** All or nothing: any invalid file rejects the whole batch before anything is written. */
  async upsert(workspaceId: string, projectId: string, inputs: FileInputDto[]): Promise<UpsertFilesResultDto> {
    if (inputs.length > this.config.MAX_BATCH_FILES) {
      const message = `files has ${inputs.length} entries; at most MAX_BATCH_FILES=${this.config.MAX_BATCH_FILES} per batch`;
      throw new DomainError('TOO_MANY_FILES', message, [{ field: 'files', rule: 'max-batch-files', message }]);
    }
    const files = this.decodeBatch(inputs);
    return this.dataSource.transaction(async (manager) => {
      const project = await this.lockProject(manager, workspaceId, projectId);
      const stored = await this.storedByPath(manager, projectId, files.map((f) => f.path));
      const results: UpsertedFileDto[] = [];
      const writes: Array<DecodedFile & { mode: FileMode }> = [];
      let created = 0;
      let bytesDelta = 0;
      for (const file of files) {
        const old = stored.get(file.path);
        const mode = file.mode ?? old?.mode ?? 'regular';
        const status = !old ? 'created' : old.sha256 === file.sha256 && old.mode === mode ? 'unchanged' : 'updated';
        results.push({ path: file.path, sha256: file.sha256, size: file.content.length, status });
        if (status === 'unchanged') continue;
        writes.push({ ...file, mode });
        bytesDelta += file.content.length - (old?.size ?? 0);
        if (!old) created++;
      }
      const newPaths = files.filter((f) => !stored.has(f.path)).map((f) => f.path);
      const indexOf = new Map(files.map((file, index) => [file.path, index]));
      await this.assertNoFolderConflicts(manager, projectId, newPaths, files.map((f) => f.path), new Set(), (path) => `files[${indexOf.get(path)}].path`);
      this.assertWithinProjectLimits(project, created, bytesDelta);
      for (let start = 0; start < writes.length; start += INSERT_CHUNK) {
        await this.writeChunk(manager, projectId, writes.slice(start, start + INSERT_CHUNK));
      }
      if (writes.length > 0) await this.adjustTotals(manager, projectId, created, bytesDelta);
      return {
        files: results,
        created,
        updated: writes.length - created,
        unchanged: files.length - writes.length,
      };
    });
  }

  async list(workspaceId: string, projectId: string, query: ListFilesQueryDto): Promise<Page<ProjectFileDto>> {
    await this.projects.get(workspaceId, projectId);
    const prefix = query.prefix ? query.prefix.normalize('NFC') : '';
    const params = [projectId, `${escapeLike(prefix)}%`];
    const [{ total }] = await this.dataSource.query(
      `SELECT count(*)::int AS total FROM project_files WHERE project_id = $1 AND path LIKE $2`,
      params,
    );
    const items = await this.dataSource.query(
      `SELECT path, size, sha256, mode, created_at AS "createdAt", updated_at AS "updatedAt"
         FROM project_files WHERE project_id = $1 AND path LIKE $2
        ORDER BY path LIMIT $3 OFFSET $4`,
      [...params, query.limit, query.offset],
    );
    return { items, total, limit: query.limit, offset: query.offset };
  }

  async read(workspaceId: string, projectId: string, rawPath: string): Promise<FileContent> {
    const path = normaliseProjectPath(rawPath, 'path');
    await this.projects.get(workspaceId, projectId);
    const rows: FileContent[] = await this.dataSource.query(
      `SELECT content, sha256, size, mode FROM project_files WHERE project_id = $1 AND path = $2`,
      [projectId, path],
    );
    if (rows.length === 0) {
      throw new DomainError('FILE_NOT_FOUND', `File "${path}" does not exist in project ${projectId}`);
    }
    return rows[0];
  }

  async remove(workspaceId: string, projectId: string, rawPath: string): Promise<void> {
    const path = normaliseProjectPath(rawPath, 'path');
    await this.dataSource.transaction(async (manager) => {
      await this.lockProject(manager, workspaceId, projectId);
      const [rows] = await manager.query(`DELETE FROM project_files WHERE project_id = $1 AND path = $2 RETURNING size`, [projectId, path]);
      if (!rows || rows.length === 0) throw new DomainError('FILE_NOT_FOUND', `File "${path}" does not exist in project ${projectId}`);
      await this.adjustTotals(manager, projectId, -1, -rows[0].size);
    });
  }

  /** Moves one file, or every file under a folder, to a new path. */
  async move(workspaceId: string, projectId: string, dto: MoveFileDto): Promise<MoveFilesResultDto> {
    const from = normaliseProjectPath(dto.from, 'from');
    const to = normaliseProjectPath(dto.to, 'to');
    return this.dataSource.transaction(async (manager) => {
      await this.lockProject(manager, workspaceId, projectId);
      const single = await this.storedByPath(manager, projectId, [from]);
      // A file may become a folder's file ("config" → "config/default"); a folder cannot go into itself.
      if (!single.has(from) && to.startsWith(`${from}/`)) {
        const message = `to "${to}" is inside from "${from}": a folder cannot move into itself`;
        throw new DomainError('PATH_CONFLICT', message, [{ field: 'to', rule: 'inside-source', message }]);
      }
      const sources: string[] = single.has(from)
        ? [from]
        : (await manager.query(`SELECT path FROM project_files WHERE project_id = $1 AND path LIKE $2 ORDER BY path`, [projectId, `${escapeLike(from)}/%`])).map((r: { path: string }) => r.path);
      if (sources.length === 0) throw new DomainError('FILE_NOT_FOUND', `No file or folder "${from}" in project ${projectId}`);
      // Onto itself: nothing moves, once the project and the file (or folder) are known to be there.
      if (from === to) return { moved: [] };
      const moved = sources.map((source, index) => ({
        from: source,
        to: source === from ? to : normaliseProjectPath(to + source.slice(from.length), `to (for files[${index}])`),
      }));
      const targets = moved.map((m) => m.to);
      const occupied = await this.storedByPath(manager, projectId, targets);
      if (occupied.size > 0) {
        if (!(single.has(from) && dto.overwrite)) {
          const [taken] = occupied.keys();
          const message = `to "${taken}" already exists${single.has(from) ? ' (set overwrite to replace it)' : ''}`;
          throw new DomainError('PATH_CONFLICT', message, [{ field: 'to', rule: 'exists', message }]);
        }
        const [{ size }] = [...occupied.values()];
        await manager.query(`DELETE FROM project_files WHERE project_id = $1 AND path = $2`, [projectId, to]);
        await this.adjustTotals(manager, projectId, -1, -size);
      }
      await this.assertNoFolderConflicts(manager, projectId, targets, targets, new Set(sources), () => 'to');
      await manager.query(
        `UPDATE project_files f SET path = m.target, updated_at = now()
           FROM unnest($2::text[], $3::text[]) AS m(source, target)
          WHERE f.project_id = $1 AND f.path = m.source`,
        [projectId, moved.map((m) => m.from), targets],
      );
      await manager.query(`UPDATE generated_projects SET updated_at = now() WHERE id = $1`, [projectId]);
      return { moved };
    });
  }

  private decodeBatch(inputs: FileInputDto[]): DecodedFile[] {
    const seen = new Map<string, number>();
    return inputs.map((input, index) => {
      const field = `files[${index}]`;
      const path = normaliseProjectPath(input.path, `${field}.path`);
      const earlier = seen.get(path);
      if (earlier !== undefined) {
        const message = `${field}.path "${input.path}" is the same path as files[${earlier}].path after Unicode (NFC) normalisation`;
        throw new DomainError('PATH_INVALID', message, [{ field: `${field}.path`, rule: 'duplicate-path', message }]);
      }
      seen.set(path, index);
      const content = input.encoding === 'base64' ? decodeBase64Strict(input.content) : Buffer.from(input.content, 'utf8');
      if (!content) {
        const message = `${field}.content is not valid padded base64 (RFC 4648): characters outside A-Z a-z 0-9 + / or wrong padding`;
        throw new DomainError('CONTENT_INVALID', message, [{ field: `${field}.content`, rule: 'base64', message }]);
      }
      if (content.length > this.config.MAX_FILE_BYTES) {
        const message = `${field} "${path}" is ${content.length} bytes; MAX_FILE_BYTES is ${this.config.MAX_FILE_BYTES}`;
        throw new DomainError('FILE_TOO_LARGE', message, [{ field: `${field}.content`, rule: 'max-file-bytes', message }]);
      }
      const mode = input.executable === undefined ? undefined : input.executable ? 'executable' : 'regular';
      return { path, content, sha256: createHash('sha256').update(content).digest('hex'), mode };
    });
  }

  private assertWithinProjectLimits(project: LockedProject, created: number, bytesDelta: number): void {
    const files = project.fileCount + created;
    if (files > this.config.MAX_FILES_PER_PROJECT) {
      const message = `the project would hold ${files} files; MAX_FILES_PER_PROJECT is ${this.config.MAX_FILES_PER_PROJECT}`;
      throw new DomainError('TOO_MANY_FILES', message, [{ field: 'files', rule: 'max-files-per-project', message }]);
    }
    const bytes = project.totalBytes + bytesDelta;
    if (bytes > this.config.MAX_PROJECT_BYTES) {
      const message = `the project would hold ${bytes} bytes; MAX_PROJECT_BYTES is ${this.config.MAX_PROJECT_BYTES}`;
      throw new DomainError('PROJECT_TOO_LARGE', message, [{ field: 'files', rule: 'max-project-bytes', message }]);
    }
  }

  /**
   * A path cannot be both a file and a folder: refuses a new file whose parent folder is a file,
   * or that would be the folder of files that exist. `ignore` lists files that are going away;
   * `fieldOf` names the request field that holds a new path (the error's `field`).
   */
  private async assertNoFolderConflicts(
    manager: EntityManager,
    projectId: string,
    newPaths: string[],
    batchPaths: string[],
    ignore: Set<string>,
    fieldOf: (path: string) => string,
  ): Promise<void> {
    if (newPaths.length === 0) return;
    const batchFolders = new Set(batchPaths.flatMap(parentFolders));
    const clash = batchPaths.find((path) => batchFolders.has(path));
    /** `culprit`: the path in the request; `path`: the one it clashes with. */
    const conflict = (culprit: string, path: string, rule: string, message: string) =>
      new DomainError('PATH_CONFLICT', message, [{ field: fieldOf(culprit), rule, message, path }]);
    if (clash) throw conflict(clash, clash, 'file-is-folder', `"${clash}" is both a file and the folder of another file in this request`);
    const folders = [...new Set(newPaths.flatMap(parentFolders))];
    const fileFolders: Array<{ path: string }> = folders.length
      ? await manager.query(`SELECT path FROM project_files WHERE project_id = $1 AND path = ANY($2::text[])`, [projectId, folders])
      : [];
    const blocking = fileFolders.find((row) => !ignore.has(row.path));
    if (blocking) {
      const culprit = newPaths.find((path) => path.startsWith(`${blocking.path}/`))!;
      throw conflict(culprit, blocking.path, 'folder-is-file', `"${blocking.path}" is a file, so it cannot be a folder of "${culprit}"`);
    }
    const folderFiles: Array<{ path: string; child: string }> = await manager.query(
      `SELECT n.p AS path, f.path AS child
         FROM unnest($2::text[]) AS n(p)
         JOIN LATERAL (SELECT path FROM project_files
                        WHERE project_id = $1 AND path >= n.p || '/' AND path < n.p || '0'
                          AND NOT (path = ANY($3::text[]))
                        LIMIT 1) f ON true
        LIMIT 1`,
      [projectId, newPaths, [...ignore]],
    );
    if (folderFiles.length > 0) {
      const { path, child } = folderFiles[0];
      throw conflict(path, path, 'file-is-folder', `"${path}" is a folder (it holds "${child}"), so it cannot be a file`);
    }
  }

  private async writeChunk(manager: EntityManager, projectId: string, files: Array<DecodedFile & { mode: FileMode }>): Promise<void> {
    const params: unknown[] = [projectId];
    const rows = files.map((file) => {
      params.push(file.path, file.content, file.content.length, file.sha256, file.mode);
      const n = params.length;
      return `($1, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}, $${n})`;
    });
    await manager.query(
      `INSERT INTO project_files (project_id, path, content, size, sha256, mode) VALUES ${rows.join(', ')}
       ON CONFLICT (project_id, path) DO UPDATE
         SET content = EXCLUDED.content, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
             mode = EXCLUDED.mode, updated_at = now()`,
      params,
    );
  }

  private async adjustTotals(manager: EntityManager, projectId: string, files: number, bytes: number): Promise<void> {
    await manager.query(
      `UPDATE generated_projects SET file_count = file_count + $2, total_bytes = total_bytes + $3, updated_at = now() WHERE id = $1`,
      [projectId, files, bytes],
    );
  }

  private async storedByPath(manager: EntityManager, projectId: string, paths: string[]): Promise<Map<string, StoredFile>> {
    const rows: StoredFile[] = await manager.query(
      `SELECT path, sha256, size, mode FROM project_files WHERE project_id = $1 AND path = ANY($2::text[])`,
      [projectId, paths],
    );
    return new Map(rows.map((row) => [row.path, row]));
  }

  /** Locks the project row for the transaction: changes to one project's files run one at a time. */
  private async lockProject(manager: EntityManager, workspaceId: string, projectId: string): Promise<LockedProject> {
    return this.projects.projects.lock(manager, workspaceId, projectId);
  }
}
