/**
 * Last-resort cleanup: every child process and scratch database registers here, so that
 * Ctrl-C (or a crash) in the runner still stops them. Benches clean up with try/finally;
 * this only catches what they could not.
 */
type Task = () => Promise<void>;

const tasks = new Set<Task>();
const children = new Set<number>();

/** Registers a task; returns a function that unregisters it (call it once the task has run). */
export function onCleanup(task: Task): () => void {
  tasks.add(task);
  return () => void tasks.delete(task);
}

/** Tracks a child's pid so that even an abrupt exit of the runner kills it (synchronously). */
export function trackChild(pid: number): () => void {
  children.add(pid);
  return () => void children.delete(pid);
}

/** Runs every registered task (newest first), each at most `timeoutMs`. */
export async function runCleanups(timeoutMs = 20_000): Promise<void> {
  for (const task of [...tasks].reverse()) {
    tasks.delete(task);
    await Promise.race([
      task().catch((error: unknown) => console.error('cleanup failed:', error)),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}

process.on('exit', () => {
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
