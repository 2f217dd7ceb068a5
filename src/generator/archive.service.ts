import { Injectable, Logger } from '@nestjs/common';
import { Archiver, TarArchive, ZipArchive } from 'archiver';
import type { Readable } from 'node:stream';
import { AppConfig } from '../config/app-config.js';
import { ProjectsService } from '../projects/projects.service.js';
import { ProjectContentRepository } from './project-content.repository.js';

export const ARCHIVE_FORMATS = ['zip', 'tar.gz'] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

const CONTENT_TYPES: Record<ArchiveFormat, string> = { zip: 'application/zip', 'tar.gz': 'application/gzip' };

export interface ProjectArchive {
  stream: Readable;
  /** `<slug>.zip` or `<slug>.tar.gz`. */
  filename: string;
  contentType: string;
}

/**
 * Streams a project as a zip or gzipped tar. Files are read from the database one bounded
 * batch at a time, and the next batch is read only once the last one has gone into the
 * archive stream, which only takes more when the client reads: memory stays flat whatever the
 * project's size. Entries sit under a `<slug>/` folder and keep their executable bit.
 */
@Injectable()
export class ArchiveService {
  private readonly logger = new Logger(ArchiveService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly projects: ProjectsService,
    private readonly content: ProjectContentRepository,
  ) {}

  /** Checks access first (404 before any byte is sent), then starts the stream. */
  async open(workspaceId: string, projectId: string, format: ArchiveFormat): Promise<ProjectArchive> {
    const project = await this.projects.get(workspaceId, projectId);
    const level = this.config.ARCHIVE_COMPRESSION_LEVEL;
    const archive = format === 'zip' ? new ZipArchive({ zlib: { level } }) : new TarArchive({ gzip: true, gzipOptions: { level } });
    this.fill(archive, projectId, project.slug).catch((error: unknown) => {
      // The response is already under way: cutting it short is the only honest signal left.
      if (!archive.destroyed) this.logger.error(`archive of project ${projectId} failed: ${(error as Error).stack ?? String(error)}`);
      archive.destroy(error as Error);
    });
    return { stream: archive, filename: `${project.slug}.${format}`, contentType: CONTENT_TYPES[format] };
  }

  private async fill(archive: Archiver, projectId: string, slug: string): Promise<void> {
    const progress = entryProgress(archive);
    let appended = 0;
    for await (const batch of this.content.contentBatches(projectId, this.config.GENERATOR_BATCH_BYTES)) {
      if (archive.destroyed) return;
      for (const file of batch) {
        archive.append(file.content, { name: `${slug}/${file.path}`, mode: file.executable ? 0o755 : 0o644, date: file.updatedAt });
        appended++;
      }
      await progress.reached(appended);
    }
    if (archive.destroyed) return;
    archive.finalize().catch(() => undefined);
  }
}

/** Resolves once `count` entries have gone into the archive stream; rejects if the stream fails or closes first. */
function entryProgress(archive: Archiver): { reached(count: number): Promise<void> } {
  let processed = 0;
  let waiter: { count: number; resolve: () => void; reject: (error: Error) => void } | undefined;
  const settle = () => {
    if (waiter && processed >= waiter.count) {
      waiter.resolve();
      waiter = undefined;
    }
  };
  const fail = (error: Error) => {
    waiter?.reject(error);
    waiter = undefined;
  };
  archive.on('entry', () => {
    processed++;
    settle();
  });
  archive.on('error', (error: Error) => fail(error));
  archive.on('close', () => fail(new Error('the archive stream closed (the client went away)')));
  return {
    reached: (count) =>
      new Promise<void>((resolve, reject) => {
        if (archive.destroyed) return reject(new Error('the archive stream was destroyed'));
        waiter = { count, resolve, reject };
        settle();
      }),
  };
}
