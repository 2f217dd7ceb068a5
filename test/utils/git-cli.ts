import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The real git CLI, untouched by the machine's user and system configuration. */
export const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'Someone Else',
  GIT_AUTHOR_EMAIL: 'someone@example.com',
  GIT_COMMITTER_NAME: 'Someone Else',
  GIT_COMMITTER_EMAIL: 'someone@example.com',
};

export async function git(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd: options.cwd, env: { ...process.env, ...GIT_ENV, ...options.env }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Runs git and returns its failure (exit code and output) instead of throwing. */
export async function gitFails(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stderr: string }> {
  try {
    await git(args, options);
  } catch (error) {
    const e = error as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? '' };
  }
  throw new Error(`git ${args.join(' ')} succeeded`);
}

/** A fresh folder under the system's temporary folder, removed by `cleanup`. */
export function scratch(prefix: string): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `fl-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TreeFile {
  content: Buffer;
  executable: boolean;
}

/** Every file of a checkout (without .git): path → exact bytes and executable bit. */
export function readCheckout(dir: string): Map<string, TreeFile> {
  const files = new Map<string, TreeFile>();
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (entry.name === '.git' && folder === dir) continue;
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(dir, path), { content: readFileSync(path), executable: (statSync(path).mode & 0o111) !== 0 });
    }
  };
  walk(dir);
  return files;
}
