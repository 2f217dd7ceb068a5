import { Injectable, Logger } from '@nestjs/common';
import { Archiver, ZipArchive } from 'archiver';
import { pipeline, Readable, Transform, TransformCallback } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pack as tarPack, Pack } from 'tar-stream';
import { AppConfig } from '../config/app-config.js';
import { ProjectsService } from '../projects/projects.service.js';
import { FileContent, ProjectContentRepository } from './project-content.repository.js';

export const ARCHIVE_FORMATS = ['zip', 'tar.gz'] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

const CONTENT_TYPES: Record<ArchiveFormat, string> = { zip: 'application/zip', 'tar.gz': 'application/gzip' };

/**
 * The tar stream reaches zlib in pieces of about this size. tar-stream pushes a header, the
 * content and the padding of every entry separately, and each write to a zlib stream is one trip
 * to the thread pool: 5,000 small files made 15,000 of them.
 */
const GZIP_INPUT_BYTES = 256 * 1024;
/** Size of the pieces zlib hands back (Node's default is 16 KiB). */
const GZIP_CHUNK_BYTES = 64 * 1024;

export interface ProjectArchive {
  stream: Readable;
  /** `<slug>.zip` or `<slug>.tar.gz`. */
  filename: string;
  contentType: string;
}

/**
 * Streams a project as a zip or gzipped tar. Files are read from the database one bounded batch
 * at a time (GENERATOR_BATCH_BYTES); the next batch is read while the last one goes into the
 * archive, and only once the archive stream has taken it in, which happens only as fast as the
 * client reads: at most two batches are held, whatever the project's size. Entries sit under a
 * `<slug>/` folder and keep their executable bit.
 *
 * tar.gz is tar-stream's pack piped into zlib's gzip (compression runs on the thread pool, at
 * ARCHIVE_COMPRESSION_LEVEL, 6 by default like gzip's); zip is archiver's ZipArchive.
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
    // Files are read in batches over the whole download: one that moved or changed meanwhile could
    // be missed or mixed. The project's updatedAt moves with every change of its files, so an
    // archive whose project changed is cut short (an incomplete download), not finished.
    const unchanged = async () => {
      const now = await this.projects.get(workspaceId, projectId);
      if (now.updatedAt.getTime() !== project.updatedAt.getTime()) throw new Error('the project changed while its archive was read: it is cut short, download it again');
    };
    const stream = format === 'zip' ? this.zip(projectId, project.slug, unchanged) : this.tarGz(projectId, project.slug, unchanged);
    return { stream, filename: `${project.slug}.${format}`, contentType: CONTENT_TYPES[format] };
  }

  private zip(projectId: string, slug: string, unchanged: () => Promise<void>): Readable {
    const archive = new ZipArchive({ zlib: { level: this.config.ARCHIVE_COMPRESSION_LEVEL } });
    const progress = entryProgress(archive);
    const fill = async () => {
      let appended = 0;
      await this.eachBatch(projectId, archive, async (batch) => {
        for (const file of batch) {
          archive.append(file.content, { name: `${slug}/${file.path}`, mode: modeOf(file), date: file.updatedAt });
          appended++;
        }
        await progress.reached(appended);
      });
      await unchanged();
      if (!archive.destroyed) archive.finalize().catch(() => undefined);
    };
    fill().catch((error: unknown) => this.fail(archive, projectId, error));
    return archive;
  }

  private tarGz(projectId: string, slug: string, unchanged: () => Promise<void>): Readable {
    const tar = tarPack();
    const gzip = createGzip({ level: this.config.ARCHIVE_COMPRESSION_LEVEL, chunkSize: GZIP_CHUNK_BYTES });
    // A failure anywhere (or the client going away, which destroys gzip) tears down all three.
    pipeline(tar as unknown as NodeJS.ReadableStream, new Coalesce(GZIP_INPUT_BYTES), gzip, () => undefined);
    const closed = new Promise<never>((_, reject) => gzip.once('close', () => reject(new Error('the archive stream closed (the client went away)'))));
    closed.catch(() => undefined);
    const fill = async () => {
      await this.eachBatch(projectId, gzip, async (batch) => {
        // Every entry is queued at once; the last one's callback means the pack took them all in,
        // which it does only as its reader (zlib, then the client) keeps up.
        let last: Promise<void> = Promise.resolve();
        batch.forEach((file, index) => {
          if (index < batch.length - 1) entry(tar, file, slug).catch(() => undefined);
          else last = entry(tar, file, slug);
        });
        await Promise.race([last, closed]);
      });
      await unchanged();
      if (!gzip.destroyed) tar.finalize();
    };
    fill().catch((error: unknown) => this.fail(gzip, projectId, error));
    return gzip;
  }

  /** Runs `put` on every batch of the project's files, reading the next batch meanwhile; stops once `stream` is destroyed. */
  private async eachBatch(projectId: string, stream: Readable, put: (batch: FileContent[]) => Promise<void>): Promise<void> {
    const batches = this.content.contentBatches(projectId, this.config.GENERATOR_BATCH_BYTES);
    try {
      let next = batches.next();
      for (;;) {
        const { value: batch, done } = await next;
        if (done || stream.destroyed) return;
        next = batches.next();
        next.catch(() => undefined);
        await put(batch);
      }
    } finally {
      await batches.return(undefined);
    }
  }

  private fail(stream: Readable, projectId: string, error: unknown): void {
    // The response is already under way: cutting it short is the only honest signal left.
    if (!stream.destroyed) this.logger.error(`archive of project ${projectId} failed: ${(error as Error).stack ?? String(error)}`);
    stream.destroy(error as Error);
  }
}

const modeOf = (file: FileContent) => (file.executable ? 0o755 : 0o644);

/** Queues one file in the tar stream; resolves once the pack has taken it in. */
function entry(tar: Pack, file: FileContent, slug: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const header = { name: `${slug}/${file.path}`, size: file.content.length, mode: modeOf(file), mtime: file.updatedAt };
    // When the pack is torn down, its pending entries emit 'error' besides calling back with it:
    // the callback reports it, and the listener keeps the event from becoming uncaught.
    tar.entry(header, file.content, (error) => (error ? reject(error) : resolve())).on('error', () => undefined);
  });
}

/** Joins small chunks into pieces of at least `bytes` (the last one may be smaller). */
class Coalesce extends Transform {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(private readonly bytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.parts.push(chunk);
    this.length += chunk.length;
    if (this.length >= this.bytes) this.release();
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.length > 0) this.release();
    done();
  }

  private release(): void {
    this.push(this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length));
    this.parts = [];
    this.length = 0;
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
