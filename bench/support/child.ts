/** Runs a Node script as a child process: output kept for error messages, stop() that waits, peak memory. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { trackChild } from './cleanup.js';

export interface NodeChild {
  pid: number;
  /** The last lines the child printed (stdout and stderr), for error messages. */
  output(): string;
  /** Resolves with the exit code (or the signal's name) when the child has exited. */
  exited: Promise<number | string>;
  /** Whether the child is still running. */
  running(): boolean;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the child has exited. */
  stop(timeoutMs?: number): Promise<void>;
  /** Calls `listener` with each line the child prints on stdout. */
  onLine(listener: (line: string) => void): void;
}

const KEEP_LINES = 200;

export function spawnNode(script: string, options: { args?: string[]; env?: NodeJS.ProcessEnv; cwd?: string; nodeArgs?: string[] } = {}): NodeChild {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...(options.args ?? [])], {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  const pid = child.pid;
  const untrack = trackChild(pid);
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  let alive = true;
  const keep = (stream: NodeJS.ReadableStream, isStdout: boolean) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > KEEP_LINES) lines.shift();
        if (isStdout) for (const listener of listeners) listener(line);
      }
    });
  };
  keep(child.stdout, true);
  keep(child.stderr, false);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      untrack();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    pid,
    exited,
    output: () => lines.join('\n'),
    running: () => alive,
    onLine: (listener) => void listeners.push(listener),
    stop: async (timeoutMs = 15_000) => {
      if (!alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A field of /proc/<pid>/status in bytes: VmHWM is the peak resident set size, VmRSS the current one. */
export function procMemory(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Polls `check` every `intervalMs` until it returns true; fails after `timeoutMs` or when `child` exits. */
export async function waitUntil(what: string, check: () => Promise<boolean>, options: { child?: NodeChild; timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (options.child && !options.child.running()) {
      throw new Error(`${what}: the process exited (${await options.child.exited}) first. Its last output:\n${options.child.output()}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not ready after ${options.timeoutMs ?? 60_000} ms${options.child ? `. Its last output:\n${options.child.output()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
