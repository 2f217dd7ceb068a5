import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ProjectsService, projectNotFound } from '../projects/projects.service.js';
import { FileContent, GenerationSession, groupBySize, ProjectContentRepository } from './project-content.repository.js';
import { DesiredFile, planWorkspace } from './workspace-plan.js';
import { FileStat, ManifestEntry, ProjectWorkspace, StatedScan, WorkspaceStorage } from './workspace.storage.js';

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

/** Whether a manifest entry differs from what was recorded this time (same keys assumed). */
function changedEntries(before: ReadonlyMap<string, ManifestEntry>, after: ReadonlyMap<string, ManifestEntry>): boolean {
  for (const [path, entry] of after) if (before.get(path) !== entry) return true;
  return false;
}

const sameStat = (a: FileStat, b: FileStat) => a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.executable === b.executable;

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
  ) {}

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
    let workspace: ProjectWorkspace;
    let scan: StatedScan;
    let manifest: ReadonlyMap<string, ManifestEntry>;
    try {
      workspace = this.storage.open(projectId, options);
      // The walk and its lstats run while the listing arrives.
      const scanning = workspace.scan();
      scanning.catch(() => undefined);
      manifest = workspace.readManifest();
      scan = await scanning;
    } catch (error) {
      listing.catch(() => undefined);
      throw error;
    }
    const files = await listing;
    const plan = planWorkspace(files, scan);
    const recorded = new Map(manifest);
    const yieldTurn = turnTaker();
    let written = 0;
    let unchanged = 0;
    let bytes = 0;

    // Known to need writing before anything is inspected: missing files, and files whose bytes
    // changed in the database since the last generation wrote them. Their first (small) batch
    // is on its way while folders are prepared and the other files on disk are checked.
    const early = [...plan.missing];
    const toCheck: DesiredFile[] = [];
    for (const file of plan.present) {
      const entry = manifest.get(file.path);
      if (entry && entry.sha256 !== file.sha256) early.push(file);
      else toCheck.push(file);
    }
    early.sort(byPath);
    const [first, ...restEarly] = groupBySize(early, FIRST_BATCH_BYTES);
    const onDisk = new Set(plan.present.map((file) => file.path));
    const record = (file: FileContent, stat: FileStat) => {
      recorded.set(file.path, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, executable: stat.executable, sha256: file.sha256 });
      written++;
      bytes += file.size;
    };
    const fetch = (batch: DesiredFile[]) => session.fetchContents(batch.map((file) => file.path));
    let next: Promise<FileContent[]> | undefined = first ? fetch(first) : undefined;
    /** The last batch's writes, on the writer thread. */
    let writing: Promise<void> | undefined;
    /** Hands a batch to the writer thread (not awaited: `writing`) once the last one is written. */
    const put = async (batch: DesiredFile[], rows: FileContent[]) => {
      await writing;
      if (rows.length < batch.length && !(await session.projectExists())) throw await this.deletedMeanwhile(projectId);
      writing = workspace.writeFiles(rows, (row, stat) => record(rows[row], stat), onDisk);
      writing.catch(() => undefined);
    };
    let putFirst: Promise<void> | undefined;
    try {
      for (const path of plan.deleteEntries) {
        workspace.removeEntry(path);
        recorded.delete(path);
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
        const file = toCheck[index];
        const outcome = this.check(workspace, file, scan.stats.get(file.path) ?? null, manifest.get(file.path), recorded);
        if (outcome === 'write') changed.push(file);
        else if (outcome === 'mode-fixed') written++;
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
      if (!(await session.projectExists())) throw await this.deletedMeanwhile(projectId);
      if (recorded.size !== files.length) {
        const wanted = new Set(files.map((file) => file.path));
        for (const path of recorded.keys()) if (!wanted.has(path)) recorded.delete(path);
      }
      if (written > 0 || plan.deleteEntries.length > 0 || recorded.size !== manifest.size || changedEntries(manifest, recorded)) workspace.writeManifest(recorded);
    } catch (error) {
      next?.catch(() => undefined);
      await putFirst?.catch(() => undefined);
      await writing?.catch(() => undefined);
      try {
        workspace.discardStaged();
      } catch {
        // Left for the next generation, which deletes folders the project does not have.
      }
      // Whatever is recorded still describes the disk truthfully: keep it, so the retry is quick.
      if (!(error instanceof ProjectDeleted)) {
        try {
          workspace.writeManifest(recorded);
        } catch {
          // The disk is failing: the next generation hashes what it finds instead.
        }
      }
      throw error instanceof ProjectDeleted ? error.cause : error;
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
    stat: FileStat | null,
    entry: ManifestEntry | undefined,
    recorded: Map<string, ManifestEntry>,
  ): 'write' | 'same' | 'mode-fixed' {
    if (!stat || stat.size !== file.size) return 'write';
    const trusted = entry !== undefined && sameStat(entry, stat);
    if (!trusted && workspace.hash(file.path) !== file.sha256) return 'write';
    if (stat.executable !== file.executable) {
      recorded.set(file.path, { ...workspace.setExecutable(file.path, file.executable), sha256: file.sha256 });
      return 'mode-fixed';
    }
    if (!trusted) recorded.set(file.path, { ...stat, sha256: file.sha256 });
    return 'same';
  }

  /** The project was deleted while it was being generated: its folder goes too. */
  private async deletedMeanwhile(projectId: string): Promise<ProjectDeleted> {
    this.storage.remove(projectId);
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
