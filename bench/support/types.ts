/** What every bench module exports (as its default export) and what the runner gives it. */

export interface BenchRow {
  /** What was measured, e.g. "upsert 5,000 × 4 KiB files (1 PUT)". */
  benchmark: string;
  /** Forgeline's value, formatted with its unit. */
  forgeline: string;
  /** The baseline's value, formatted, saying what the baseline is. */
  baseline: string;
  /** forgeline / baseline, oriented so that higher is better; null when there is no ratio (shown as "-"). */
  ratio: number | null;
  /** The floor as text, e.g. ">= 0.33" or "< 400 MiB". */
  floor: string;
  /** Whether the floor was met. A missed floor is reported, it does not fail the run. */
  ok: boolean;
}

export interface BenchContext {
  /** A progress line (stderr), prefixed with the bench's name. */
  log(message: string): void;
}

export interface Bench {
  /** Short, unique, matched by the CLI filter (`npm run bench -- <part of a name>`). */
  name: string;
  /** One line for `npm run bench -- --list`. */
  description?: string;
  /** Runs the bench; must stop every process and drop every database it started, even when it throws. */
  run(ctx: BenchContext): Promise<BenchRow[]>;
}
