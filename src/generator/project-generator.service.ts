import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ProjectsService, projectNotFound } from '../projects/projects.service.js';
import { FileContent, GenerationSession, groupBySize, ProjectContentRepository } from './project-content.repository.js';
import { DesiredFile, planWorkspace } from './workspace-plan.js';
import { STAT_FIELDS } from './file-writer.worker.js';
import { FileStat, ManifestEntry, ProjectWorkspace, StatedScan, statAt, WorkspaceStorage } from './workspace.storage.js';

export interface GenerateOptions {
  /** Remove the project's folder first (also a symlinked one) and write everything again. */
  clean?: boolean;
}

export interface GenerateResult {
  /** Absolute path of the project's folder. */
  outputDir: string;
  /** Files whose bytes or executable bit were written. */
  written: number;
  /** Files already on disk with the right bytes and mode. */
  unchanged: number;
  /** Files (or other entries) removed because the project no longer has them. */
  deleted: number;
  /** Bytes of file content written. */
  bytes: number;
  durationMs: number;
}

/** The longest stretch of synchronous filesystem work before the event loop gets a turn. */
const SLICE_MS = 8;
/** The first batch is small, so writing starts early; the next ones are GENERATOR_BATCH_BYTES. */
const FIRST_BATCH_BYTES = 512 * 1024;

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);


/**
 * Materialises projects: writes a project's files from the database into
 * WORKSPACES_DIR/<projectId>/ so tools can run on them. The database stays the source of truth;
 * the folder is a mirror that the next generation repairs, whatever happened to it.
 */
@Injectable()
export class ProjectGenerator {
  private readonly logger = new Logger(ProjectGenerator.name);

  constructor(
    private readonly config: AppConfig,
    private readonly projects: ProjectsService,
    private readonly content: ProjectContentRepository,
    private readonly storage: WorkspaceStorage,
  ) {
    // A deleted project's folder and manifest go too.
    projects.onRemoved((projectId) => this.storage.remove(projectId));
  }

  /** Where a project's files are (or will be) materialised. */
  outputDirOf(projectId: string): string {
    return this.storage.pathOf(projectId);
  }

  /**
   * Brings the project's folder in line with the database: writes files whose bytes or mode
   * differ (atomically), deletes what the project no longer has, removes emptied folders.
   * Generations of one project never overlap, in any process (a PostgreSQL advisory lock).
   */
  async generate(workspaceId: string, projectId: string, options: GenerateOptions = {}): Promise<GenerateResult> {
    const started = performance.now();
    await this.projects.get(workspaceId, projectId);
    const result = await this.content.withGenerationLock(projectId, this.config.GENERATE_LOCK_TIMEOUT_MS, (session) =>
      this.materialise(session, projectId, options),
    );
    const durationMs = Math.round(performance.now() - started);
    this.logger.log(`generated project ${projectId}: ${result.written} written, ${result.unchanged} unchanged, ${result.deleted} deleted in ${durationMs} ms`);
    return { ...result, durationMs };
  }

  private async materialise(session: GenerationSession, projectId: string, options: GenerateOptions): Promise<Omit<GenerateResult, 'durationMs'>> {
    // The database lists the files while the folder is walked.
    const listing = session.listFiles();
    const fetch = (batch: DesiredFile[]) => session.fetchContents(batch.map((file) => file.path));
    let workspace: ProjectWorkspace;
    let scan: StatedScan;
    let manifest: ReadonlyMap<string, ManifestEntry>;
    let prefetching: Promise<{ batch: DesiredFile[]; rows: Promise<FileContent[]> } | undefined> | undefined;
    try {
      workspace = this.storage.open(projectId, options);
      manifest = workspace.readManifest();
      const scanning = workspace.scan();
      scanning.catch(() => undefined);
      // Files whose bytes changed in the database since the last generation wrote them are written
      // whatever the disk holds: their first batch is read as soon as the listing is in, while the
      // walk goes on.
      prefetching = listing.then((files) => {
        const stale = files.filter((file) => {
          const entry = manifest.get(file.path);
          return entry !== undefined && entry.sha256 !== file.sha256;
        });
        const [batch] = groupBySize(stale.sort(byPath), FIRST_BATCH_BYTES);
        if (!batch) return undefined;
        const rows = fetch(batch);
        rows.catch(() => undefined);
        return { batch, rows };
      });
      prefetching.catch(() => undefined);
      scan = await scanning;
    } catch (error) {
      listing.catch(() => undefined);
      throw error;
    }
    const files = await listing;
    const prefetched = await prefetching;
    const plan = planWorkspace(files, scan);
    const recorded = new Map(manifest);
    /** Paths whose manifest entry was set or removed by this generation. */
    const changes = new Set<string>();
    const yieldTurn = turnTaker();
    let written = 0;
    let unchanged = 0;
    let bytes = 0;

    // Known to need writing before anything is inspected: missing files, and files whose bytes
    // changed in the database since the last generation wrote them. Their first (small) batch
    // is on its way (or here) while folders are prepared and the other files on disk are checked.
    const inFirst = new Set(prefetched?.batch.map((file) => file.path));
    const early = plan.missing.filter((file) => !inFirst.has(file.path));
    /** Files on disk that will be written: replaced, so their old versions go to the trash. */
    const onDisk = new Set<string>();
    const toCheck: Array<{ file: DesiredFile; at: number; entry: ManifestEntry | undefined }> = [];
    for (const { file, at } of plan.present) {
      const entry = manifest.get(file.path);
      if (entry && entry.sha256 !== file.sha256) {
        onDisk.add(file.path);
        if (!inFirst.has(file.path)) early.push(file);
      } else toCheck.push({ file, at, entry });
    }
    early.sort(byPath);
    const restEarly = groupBySize(early, FIRST_BATCH_BYTES);
    const first = prefetched?.batch ?? restEarly.shift();
    const record = (file: FileContent, stat: FileStat) => {
      recorded.set(file.path, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, executable: stat.executable, sha256: file.sha256 });
      changes.add(file.path);
      written++;
      bytes += file.size;
    };
    let next: Promise<FileContent[]> | undefined = prefetched?.rows ?? (first ? fetch(first) : undefined);
    /** The last batch's writes, on the writer thread. */
    let writing: Promise<void> | undefined;
    /** Set once the project is found deleted: whatever failed after that failed because of it. */
    let deleted: ProjectDeleted | undefined;
    /** Hands a batch to the writer thread (not awaited: `writing`) once the last one is written. */
    const put = async (batch: DesiredFile[], rows: FileContent[]) => {
      await writing;
      if (rows.length < batch.length && !(await session.projectExists())) throw (deleted = await this.deletedMeanwhile(projectId));
      writing = workspace.writeFiles(rows, (row, stat) => record(rows[row], stat), onDisk);
      writing.catch(() => undefined);
    };
    let putFirst: Promise<void> | undefined;
    try {
      for (const path of plan.deleteEntries) {
        workspace.removeEntry(path);
        if (recorded.delete(path)) changes.add(path);
      }
      for (const path of plan.deleteDirs) workspace.removeDir(path);
      workspace.stageDirs(plan.createDirs);
      // The first batch is written while the other files on disk are checked.
      putFirst = first && next!.then((rows) => put(first, rows));
      putFirst?.catch(() => undefined);
      next = undefined;
      await yieldTurn();

      const changed: DesiredFile[] = [];
      for (let index = 0; index < toCheck.length; index++) {
        const { file, at, entry } = toCheck[index];
        const outcome = this.check(workspace, file, scan.stats, at, entry, recorded, changes);
        if (outcome === 'write') {
          changed.push(file);
          if (scan.stats[at * STAT_FIELDS] >= 0) onDisk.add(file.path);
        } else if (outcome === 'mode-fixed') written++;
        else unchanged++;
        if ((index & 63) === 63) await yieldTurn();
      }

      const batches = groupBySize([...restEarly.flat(), ...changed].sort(byPath), this.config.GENERATOR_BATCH_BYTES);
      if (batches.length > 0) next = fetch(batches[0]);
      await putFirst;
      // At most one batch is being written (on the writer thread) while the next one is read.
      for (let index = 0; index < batches.length; index++) {
        const rows: FileContent[] = await next!;
        // The next batch is requested before this one is written, so PostgreSQL works meanwhile.
        next = index + 1 < batches.length ? fetch(batches[index + 1]) : undefined;
        await put(batches[index], rows);
      }
      await writing;
      workspace.publishStaged();
      if (!(await session.projectExists())) throw (deleted = await this.deletedMeanwhile(projectId));
      if (recorded.size !== files.length) {
        const wanted = new Set(files.map((file) => file.path));
        for (const path of recorded.keys()) {
          if (wanted.has(path)) continue;
          recorded.delete(path);
          changes.add(path);
        }
      }
      if (changes.size > 0) workspace.writeManifest(recorded, changes);
    } catch (error) {
      next?.catch(() => undefined);
      await putFirst?.catch(() => undefined);
      await writing?.catch(() => undefined);
      // The project may have been deleted meanwhile, its folder with it (ProjectsService.remove):
      // whatever failed on disk then failed because of it. The first batch's check may have found
      // that out already; otherwise ask (a failing database keeps the error as it is).
      if (!deleted && !(await session.projectExists().catch(() => true))) deleted = await this.deletedMeanwhile(projectId);
      if (deleted) throw deleted.cause;
      try {
        workspace.discardStaged();
      } catch {
        // Left for the next generation, which deletes folders the project does not have.
      }
      // Whatever is recorded still describes the disk truthfully: keep it, so the retry is quick.
      try {
        workspace.writeManifest(recorded, changes);
      } catch {
        // The disk is failing: the next generation hashes what it finds instead.
      }
      throw error;
    }
    return { outputDir: workspace.dir, written, unchanged, deleted: plan.deleteEntries.length, bytes };
  }

  /**
   * Whether a file on disk already holds the project's bytes and mode. The manifest answers when
   * the file's size, mtime and inode (`stat`, taken by the scan) are what the last generation
   * left; otherwise the file is hashed. What is learnt goes into `recorded`.
   */
  private check(
    workspace: ProjectWorkspace,
    file: DesiredFile,
    stats: Float64Array,
    index: number,
    entry: ManifestEntry | undefined,
    recorded: Map<string, ManifestEntry>,
    changes: Set<string>,
  ): 'write' | 'same' | 'mode-fixed' {
    const at = index * STAT_FIELDS;
    if (stats[at] < 0 || stats[at] !== file.size) return 'write';
    const executable = (stats[at + 3] & 0o111) !== 0;
    const trusted =
      entry !== undefined && entry.size === stats[at] && entry.mtimeMs === stats[at + 1] && entry.ino === stats[at + 2] && entry.executable === executable;
    if (!trusted && workspace.hash(file.path) !== file.sha256) return 'write';
    if (executable !== file.executable) {
      recorded.set(file.path, { ...workspace.setExecutable(file.path, file.executable), sha256: file.sha256 });
      changes.add(file.path);
      return 'mode-fixed';
    }
    if (!trusted) {
      recorded.set(file.path, { ...statAt(stats, index)!, sha256: file.sha256 });
      changes.add(file.path);
    }
    return 'same';
  }

  /** The project was deleted while it was being generated: its folder goes too. */
  private async deletedMeanwhile(projectId: string): Promise<ProjectDeleted> {
    await this.storage.remove(projectId);
    return new ProjectDeleted(projectNotFound(projectId));
  }
}

class ProjectDeleted extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/** Returns a function that yields to the event loop once SLICE_MS of synchronous work has passed. */
function turnTaker(): () => Promise<void> {
  let sliceStart = performance.now();
  return async () => {
    if (performance.now() - sliceStart < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  };
}
