import { Injectable, Logger } from '@nestjs/common';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import git from 'isomorphic-git';
import { AppConfig } from '../config/app-config.js';
import { EncodedObject } from './git-objects.js';
import { gitFs } from './git-fs.js';
import { OutboundHttp } from './outbound-http.js';
import { describePushError, PushCredentials, PushFailure } from './push-error.js';

/** git reads --skip as an int: beyond this it wraps around (and shows the first page again). */
const GIT_MAX_INT = 2_147_483_647;

const execFileAsync = promisify(execFile);

/** isomorphic-git records a remote-tracking ref after a push; under this name, removed right after. */
const PUSH_REMOTE = 'forgeline-push';
/** Objects written between two yields to the event loop (the writes themselves are synchronous). */
const WRITE_BATCH = 128;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA = /^[0-9a-f]{40}$/;
/** Lock files of a ref update are retried this long when another writer holds one. */
const REF_LOCK_WAIT_MS = 2_000;
/**
 * A writer holds a ref's lock file for the microseconds of a read, a write and a rename; one
 * older than this was left by a process that died in between, and is removed.
 */
const REF_LOCK_STALE_MS = 10_000;

/** The branch moved between reading it and updating it: nothing was changed. */
export class RefConflictError extends Error {
  constructor(
    readonly ref: string,
    readonly expected: string | null,
    readonly actual: string | null,
  ) {
    super(`${ref} is at ${actual ?? '(none)'} instead of ${expected ?? '(none)'}: another writer moved it`);
    this.name = 'RefConflictError';
  }
}

/** Another writer holds the ref's lock file: nothing was changed. */
export class RefLockedError extends Error {
  constructor(readonly ref: string) {
    super(`${ref} is locked by another writer (${ref}.lock exists)`);
    this.name = 'RefLockedError';
  }
}

export interface LogEntry {
  sha: string;
  parents: string[];
  authorName: string;
  authorEmail: string;
  date: string;
  message: string;
  changedPaths: number;
}

export interface PushRequest {
  url: string;
  /** What to push: a local ref, fully qualified (refs/heads/main, refs/tags/v1), or a commit id. */
  ref: string;
  remoteRef: string;
  force: boolean;
  credentials?: PushCredentials;
}

export interface PushedRef {
  ref: string;
  ok: boolean;
  error?: string;
}

/**
 * Every use of Git goes through here: the bare repositories under REPOS_DIR, isomorphic-git
 * (objects, commits, pushes through OutboundHttp) and the git CLI (log, upload-pack, gc). Refs
 * are updated with git's own lock-file protocol, compare-and-swap: isomorphic-git's writeRef is
 * not safe between processes.
 */
@Injectable()
export class GitService {
  private readonly logger = new Logger('Git');
  readonly root: string;

  constructor(
    private readonly config: AppConfig,
    private readonly outbound: OutboundHttp,
  ) {
    this.root = resolve(config.REPOS_DIR ?? join(config.DATA_DIR, 'repos'));
  }

  /** `<REPOS_DIR>/<project id>.git`: ids, not slugs, which can change. */
  pathOf(projectId: string): string {
    if (!UUID.test(projectId)) throw new Error(`not a project id: ${projectId}`);
    return join(this.root, `${projectId}.git`);
  }

  exists(projectId: string): boolean {
    return existsSync(join(this.pathOf(projectId), 'HEAD'));
  }

  /** The project's bare repository, created (atomically: built aside, then renamed in) when missing. */
  async open(projectId: string): Promise<{ gitdir: string; created: boolean }> {
    const gitdir = this.pathOf(projectId);
    if (existsSync(join(gitdir, 'HEAD'))) return { gitdir, created: false };
    await mkdir(this.root, { recursive: true });
    const staging = join(this.root, `.init-${projectId}-${randomBytes(4).toString('hex')}`);
    await git.init({ fs: gitFs, gitdir: staging, bare: true, defaultBranch: 'main' });
    try {
      await rename(staging, gitdir);
      return { gitdir, created: true };
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      if (existsSync(join(gitdir, 'HEAD'))) return { gitdir, created: false };
      throw error;
    }
  }

  /**
   * The object id a ref points at (loose or packed), or null when there is none. A ref file that
   * holds anything else is an error, never "no ref": a compare-and-swap against null would then
   * replace the branch's history with a new root commit.
   */
  async readRef(gitdir: string, ref: string): Promise<string | null> {
    const loose = await readFile(join(gitdir, ref), 'utf8').catch((error: NodeJS.ErrnoException) => {
      // Missing; or `a` is a folder of refs (EISDIR), or `a/b` sits below the ref file `a` (ENOTDIR).
      if (error.code === 'ENOENT' || error.code === 'EISDIR' || error.code === 'ENOTDIR') return null;
      throw error;
    });
    if (loose !== null) {
      const value = loose.trim();
      if (SHA.test(value)) return value;
      if (value.startsWith('ref: ')) return this.readRef(gitdir, value.slice(5));
      throw new Error(`${ref} is damaged (it holds neither an object id nor a symbolic ref); repair or remove it`);
    }
    const packed = await readFile(join(gitdir, 'packed-refs'), 'utf8').catch(() => '');
    for (const line of packed.split('\n')) {
      if (line.endsWith(` ${ref}`) && SHA.test(line.slice(0, 40))) return line.slice(0, 40);
    }
    return null;
  }

  /**
   * Points `ref` at `next` only if it still points at `expected` (null: must not exist), with
   * git's protocol: create `<ref>.lock` exclusively, check, write, rename over the ref. Safe
   * against other processes and the git CLI. Throws RefConflictError when the ref moved.
   */
  async updateRef(gitdir: string, ref: string, expected: string | null, next: string): Promise<void> {
    const path = join(gitdir, ref);
    const lock = `${path}.lock`;
    await mkdir(join(path, '..'), { recursive: true });
    const handle = await this.acquireLockFile(lock, ref);
    try {
      const actual = await this.readRef(gitdir, ref);
      if (actual !== expected) throw new RefConflictError(ref, expected, actual);
      // No fsync, like the objects before it (git does not fsync loose objects by default either).
      await handle.writeFile(`${next}\n`);
      await handle.close();
      await rename(lock, path);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(lock).catch(() => undefined);
      throw error;
    }
  }

  /**
   * A ref that stands in the way of `ref` as a file or a folder: Git cannot hold both `a` and
   * `a/b` (loose refs are files, so one would be a folder of the other). Null when there is none.
   */
  async clashingRef(gitdir: string, ref: string): Promise<string | null> {
    const parts = ref.split('/');
    for (let length = 3; length < parts.length; length++) {
      const prefix = parts.slice(0, length).join('/');
      if ((await this.readRef(gitdir, prefix)) !== null) return prefix;
    }
    const below = (await this.run(gitdir, ['for-each-ref', '--count=1', '--format=%(refname)', `${ref}/`])).trim();
    return below || null;
  }

  /** Makes HEAD name `branch` when the branch it names does not exist (a first export to another branch). */
  async pointHeadAtIfDangling(gitdir: string, branch: string): Promise<void> {
    const head = (await readFile(join(gitdir, 'HEAD'), 'utf8')).trim();
    const target = head.startsWith('ref: ') ? head.slice(5) : null;
    if (target && (await this.readRef(gitdir, target)) === null && target !== `refs/heads/${branch}`) {
      await git.writeRef({ fs: gitFs, gitdir, ref: 'HEAD', value: `refs/heads/${branch}`, symbolic: true, force: true });
    }
  }

  /**
   * Writes loose objects through isomorphic-git's writeObject (already hashed and deflated, so
   * isomorphic-git only stores them; existing objects are skipped). Yields to the event loop
   * between batches and stops when `signal` aborts.
   */
  async writeObjects(gitdir: string, objects: Iterable<EncodedObject>, signal?: AbortSignal): Promise<number> {
    let count = 0;
    for (const object of objects) {
      await git.writeObject({ fs: gitFs, gitdir, type: 'blob', format: 'deflated', oid: object.oid, object: object.deflated });
      if (++count % WRITE_BATCH === 0) {
        signal?.throwIfAborted();
        await yieldToEventLoop();
      }
    }
    return count;
  }

  async readCommit(gitdir: string, oid: string): Promise<{ tree: string; parents: string[]; message: string }> {
    const { commit } = await git.readCommit({ fs: gitFs, gitdir, oid });
    return { tree: commit.tree, parents: commit.parent, message: commit.message };
  }

  /** A page of a branch's history, newest first, with the number of paths each commit changed. */
  async log(gitdir: string, branch: string, limit: number, offset: number): Promise<{ items: LogEntry[]; total: number }> {
    const ref = `refs/heads/${branch}`;
    if ((await this.readRef(gitdir, ref)) === null) return { items: [], total: 0 };
    const [count, log] = await Promise.all([
      this.run(gitdir, ['rev-list', '--count', ref, '--']),
      this.run(gitdir, ['log', '-z', '--no-renames', '--name-only', `--skip=${Math.min(offset, GIT_MAX_INT)}`, `--max-count=${limit}`, '--format=%x1e%H%x00%P%x00%an%x00%ae%x00%aI%x00%B%x00', ref, '--']),
    ]);
    const items = log
      .split('\x1e')
      .filter(Boolean)
      .map((record) => {
        const [sha, parents, authorName, authorEmail, date, message, ...names] = record.split('\0');
        return {
          sha,
          parents: parents ? parents.split(' ') : [],
          authorName,
          authorEmail,
          date,
          message: message.replace(/\n+$/, ''),
          changedPaths: names.map((name) => name.replace(/^\n/, '')).filter(Boolean).length,
        };
      });
    return { items, total: Number(count.trim()) };
  }

  /** Pushes one ref through OutboundHttp, within GIT_PUSH_TIMEOUT_MS; throws PushFailure (message free of secrets). */
  async push(gitdir: string, request: PushRequest, abort?: AbortSignal): Promise<PushedRef> {
    const timeout = AbortSignal.timeout(this.config.GIT_PUSH_TIMEOUT_MS);
    const signal = abort ? AbortSignal.any([timeout, abort]) : timeout;
    let offered = false;
    try {
      const result = await git.push({
        fs: gitFs,
        http: this.outbound.gitClient(signal),
        gitdir,
        url: request.url,
        ref: request.ref,
        remoteRef: request.remoteRef,
        remote: PUSH_REMOTE,
        force: request.force,
        signal,
        onAuth: () => {
          if (!request.credentials || offered) return { cancel: true };
          offered = true;
          return { username: request.credentials.username, password: request.credentials.token };
        },
        onAuthFailure: () => ({ cancel: true }),
      } as Parameters<typeof git.push>[0]);
      const outcome = result.refs?.[request.remoteRef];
      if (!result.ok || (outcome && !outcome.ok)) {
        const reason = outcome?.error ?? result.error ?? 'rejected';
        throw new PushFailure(`the remote refused to update ${request.remoteRef}: ${reason}`, true);
      }
      return { ref: request.remoteRef, ok: true };
    } catch (error) {
      if (abort?.aborted) throw error; // Not the push's failure: the job is being stopped.
      throw describePushError(error, {
        url: request.url,
        remoteRef: request.remoteRef,
        credentials: request.credentials,
        offeredCredentials: offered,
        timedOut: timeout.aborted,
        timeoutMs: this.config.GIT_PUSH_TIMEOUT_MS,
      });
    } finally {
      await rm(join(gitdir, 'refs', 'remotes', PUSH_REMOTE), { recursive: true, force: true });
    }
  }

  /** Packs loose objects when git thinks there are too many (cheap otherwise). Never throws. */
  async maintain(gitdir: string): Promise<void> {
    try {
      // In the foreground (no detached gc): it must be over before the project's lock is released,
      // or its prune could race the next export's objects.
      await this.run(gitdir, ['-c', 'gc.autoDetach=false', 'gc', '--auto', '--quiet']);
    } catch (error) {
      this.logger.warn(`git gc --auto failed in ${gitdir}: ${(error as Error).message}`);
    }
  }

  // ── Serving (the /git/ endpoint) ───────────────────────────────────────────────────────

  /** `git upload-pack --stateless-rpc [--advertise-refs]`: the smart HTTP protocol, version 0. */
  spawnUploadPack(gitdir: string, advertise: boolean): ChildProcess {
    const args = ['upload-pack', '--stateless-rpc', ...(advertise ? ['--advertise-refs'] : []), gitdir];
    return spawn('git', args, { env: this.env(), stdio: ['pipe', 'pipe', 'pipe'], timeout: this.config.GIT_UPLOAD_PACK_TIMEOUT_MS, killSignal: 'SIGKILL' });
  }

  /** info/refs of the dumb protocol: "<sha>\t<ref>" for every branch and tag. */
  async dumbInfoRefs(gitdir: string): Promise<string> {
    const out = await this.run(gitdir, ['for-each-ref', '--format=%(objectname)%09%(refname)', 'refs/heads', 'refs/tags']);
    return out.endsWith('\n') || out === '' ? out : `${out}\n`;
  }

  async headFile(gitdir: string): Promise<string> {
    return readFile(join(gitdir, 'HEAD'), 'utf8');
  }

  /** objects/info/packs of the dumb protocol. */
  async packList(gitdir: string): Promise<string> {
    const names = await readdir(join(gitdir, 'objects', 'pack')).catch(() => [] as string[]);
    return names.filter((name) => /^pack-[0-9a-f]{40}\.pack$/.test(name)).map((name) => `P ${name}\n`).join('') + '\n';
  }

  private async acquireLockFile(lock: string, ref: string) {
    const deadline = Date.now() + REF_LOCK_WAIT_MS;
    for (;;) {
      try {
        return await open(lock, 'wx');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (await this.removeIfStale(lock)) continue;
        if (Date.now() > deadline) throw new RefLockedError(ref);
        await new Promise((resolveWait) => setTimeout(resolveWait, 20));
      }
    }
  }

  private async removeIfStale(lock: string): Promise<boolean> {
    const info = await stat(lock).catch(() => null);
    if (!info) return true; // Gone meanwhile: try again at once.
    if (Date.now() - info.mtimeMs < REF_LOCK_STALE_MS) return false;
    this.logger.warn(`removing ${lock}, left by a writer that died ${Math.round((Date.now() - info.mtimeMs) / 1000)} s ago`);
    await unlink(lock).catch(() => undefined);
    return true;
  }

  /** The git CLI, with no user or system configuration and no prompts. */
  private async run(gitdir: string, args: string[]): Promise<string> {
    const { stdout } = await execFileAsync('git', [`--git-dir=${gitdir}`, ...args], { env: this.env(), maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
    return stdout;
  }

  private env(): NodeJS.ProcessEnv {
    return {
      // The child's search path, not configuration: everything else of this environment is left out.
      PATH: process.env.PATH,
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      HOME: this.root,
    };
  }
}
