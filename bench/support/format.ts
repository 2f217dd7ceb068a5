/** Formatting and row helpers shared by the benches and the runner. */
import type { BenchRow } from './types.js';

export const MiB = 1024 * 1024;

/** 12345.6 → "12,346" */
export const int = (value: number): string => Math.round(value).toLocaleString('en-US');

/** 1.23456 → "1.23" (more digits below 0.1, so small ratios stay readable). */
export const ratio = (value: number | null): string =>
  value === null || !Number.isFinite(value) ? '-' : value.toFixed(value < 0.1 ? 3 : 2);

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A row comparing two throughputs (higher is better): ratio = forgeline / baseline, ok when ratio >= min. */
export function throughputRow(fields: {
  benchmark: string;
  forgeline: { value: number; text: string };
  baseline: { value: number; text: string };
  min: number;
}): BenchRow {
  const r = fields.forgeline.value / fields.baseline.value;
  return {
    benchmark: fields.benchmark,
    forgeline: fields.forgeline.text,
    baseline: fields.baseline.text,
    ratio: r,
    floor: `>= ${fields.min}`,
    ok: Number.isFinite(r) && r >= fields.min,
  };
}

/** A row with an absolute limit and no baseline (e.g. peak memory < 400 MiB). */
export function limitRow(fields: { benchmark: string; value: number; text: string; below: number; limitText: string; baseline?: string }): BenchRow {
  return {
    benchmark: fields.benchmark,
    forgeline: fields.text,
    baseline: fields.baseline ?? '- (absolute limit)',
    ratio: null,
    floor: `< ${fields.limitText}`,
    ok: fields.value < fields.below,
  };
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(rows: BenchRow[]): string {
  const lines = [
    '| Benchmark | Forgeline | Baseline | Ratio | Floor | OK |',
    '| --- | --- | --- | ---: | --- | :---: |',
    ...rows.map((row) =>
      `| ${cell(row.benchmark)} | ${cell(row.forgeline)} | ${cell(row.baseline)} | ${ratio(row.ratio)} | ${cell(row.floor)} | ${row.ok ? '✓' : '✗'} |`),
  ];
  return lines.join('\n');
}

/** One line for a row as soon as it is known. */
export function rowLine(row: BenchRow): string {
  return `${row.ok ? '✓' : '✗'} ${row.benchmark}: ${row.forgeline} vs ${row.baseline} → ratio ${ratio(row.ratio)} (floor ${row.floor})`;
}
