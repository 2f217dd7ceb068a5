import * as fs from 'node:fs';
import { dirname } from 'node:path';

/**
 * The filesystem isomorphic-git writes through. Two differences from `node:fs`:
 *
 * - Every file is written to a temporary name and renamed into place, as git itself does: a
 *   crash never leaves a truncated object behind (isomorphic-git skips objects whose file
 *   exists, so a truncated one would be trusted forever).
 * - Calls are synchronous behind the promise API. An object write is a few small syscalls; the
 *   thread-pool round trips of `fs.promises` cost more than the syscalls themselves (measured:
 *   writing 5,000 loose objects took 2–3× longer). Callers yield to the event loop between
 *   batches (see GitService.writeObjects).
 */

let sequence = 0;

function notFound(path: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${path}'`), { code: 'ENOENT', errno: -2, syscall, path });
}

/** Loose objects are read-only, as git makes them; other files (refs, config) are not. */
const LOOSE_OBJECT = /\/objects\/[0-9a-f]{2}\/[0-9a-f]{38}$/;

function writeFileAtomic(path: string, data: string | Uint8Array, options?: fs.WriteFileOptions): void {
  const temporary = `${dirname(path)}/.tmp-${process.pid}-${(sequence++).toString(36)}`;
  const given = typeof options === 'string' ? { encoding: options } : options ?? {};
  const mode = given.mode ?? (LOOSE_OBJECT.test(path) ? 0o444 : 0o666);
  try {
    fs.writeFileSync(temporary, data, { ...given, mode });
    fs.renameSync(temporary, path);
  } catch (error) {
    try {
      fs.unlinkSync(temporary);
    } catch {
      // Never created, or already renamed.
    }
    throw error;
  }
}

/**
 * isomorphic-git probes whether an fs is promise-based by calling `readFile()` without
 * arguments, twice per API call: answer that probe without a failing syscall.
 */
const PROBE = Promise.resolve(undefined);

/** Directory stats for a moment: isomorphic-git stats the git directory once per object written. */
const DIRECTORY_STAT_MS = 1_000;
const directories = new Map<string, { stat: fs.Stats; until: number }>();

function statOf(path: string, syscall: 'stat' | 'lstat'): fs.Stats {
  const cached = syscall === 'stat' ? directories.get(path) : undefined;
  if (cached && cached.until > Date.now()) return cached.stat;
  const stat = syscall === 'stat' ? fs.statSync(path, { throwIfNoEntry: false }) : fs.lstatSync(path, { throwIfNoEntry: false });
  if (!stat) throw notFound(path, syscall);
  if (syscall === 'stat' && stat.isDirectory() && path.endsWith('.git')) {
    if (directories.size > 100) directories.clear();
    directories.set(path, { stat, until: Date.now() + DIRECTORY_STAT_MS });
  }
  return stat;
}

const promises = {
  readFile: (path?: string, options?: { encoding?: BufferEncoding } | BufferEncoding) => {
    if (path === undefined) return PROBE;
    return new Promise((resolve, reject) => {
      try {
        resolve(fs.readFileSync(path, options as never));
      } catch (error) {
        reject(error);
      }
    });
  },
  writeFile: async (path: string, data: string | Uint8Array, options?: fs.WriteFileOptions) => writeFileAtomic(path, data, options),
  unlink: async (path: string) => fs.unlinkSync(path),
  readdir: async (path: string) => fs.readdirSync(path),
  mkdir: async (path: string, options?: fs.MakeDirectoryOptions) => void fs.mkdirSync(path, options),
  rmdir: async (path: string) => fs.rmdirSync(path),
  stat: async (path: string) => statOf(path, 'stat'),
  lstat: async (path: string) => statOf(path, 'lstat'),
  readlink: async (path: string) => fs.readlinkSync(path),
  symlink: async (target: string, path: string) => fs.symlinkSync(target, path),
  chmod: async (path: string, mode: fs.Mode) => fs.chmodSync(path, mode),
};

/** Pass as `fs` to isomorphic-git. */
export const gitFs = { promises };
