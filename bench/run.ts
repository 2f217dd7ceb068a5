/**
 * `npm run bench [-- <filter>...]`: runs the benches (all, or those whose name contains one of
 * the filters), prints each row as it completes and one markdown table at the end.
 * Exit code: 0 even when a floor is missed (✗), 1 when a bench crashed, 2 for a filter that
 * matches nothing. `npm run bench -- --list` lists the benches.
 *
 * Adding a bench: a new `bench/<name>.bench.ts` whose default export is a `Bench`
 * (support/types.ts), plus one line in BENCHES below.
 */
import { cpus, loadavg } from 'node:os';
import { markdownTable, rowLine } from './support/format.js';
import { runCleanups } from './support/cleanup.js';
import type { Bench, BenchRow } from './support/types.js';

const BENCHES: Array<Promise<{ default: Bench }>> = [
  import('./upsert-files.bench.js'),
  import('./liveness.bench.js'),
  import('./agents.bench.js'),
  import('./workflows.bench.js'),
  import('./generate.bench.js'),
  import('./export.bench.js'),
];

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const benches = (await Promise.all(BENCHES)).map((module) => module.default);
  const names = new Set<string>();
  for (const bench of benches) {
    if (names.has(bench.name)) throw new Error(`two benches are named "${bench.name}"`);
    names.add(bench.name);
  }
  if (args.includes('--list')) {
    for (const bench of benches) console.log(`${bench.name}${bench.description ? `: ${bench.description}` : ''}`);
    return 0;
  }
  const filters = args.filter((arg) => !arg.startsWith('--')).map((arg) => arg.toLowerCase());
  const selected = filters.length === 0 ? benches : benches.filter((bench) => filters.some((filter) => bench.name.toLowerCase().includes(filter)));
  if (selected.length === 0) {
    console.error(`No bench matches ${filters.map((f) => `"${f}"`).join(' or ')}. Benches: ${benches.map((b) => b.name).join(', ')}`);
    return 2;
  }

  const cpu = cpus();
  console.error(`Benchmarks: ${selected.map((b) => b.name).join(', ')} on Node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}`);
  const loadAtStart = loadavg()[0];
  const rows: BenchRow[] = [];
  const crashed: string[] = [];
  for (const bench of selected) {
    const started = Date.now();
    const log = (message: string) => console.error(`[${bench.name}] ${message}`);
    log(`starting (load average ${loadavg()[0].toFixed(2)})`);
    try {
      const result = await bench.run({ log });
      for (const row of result) console.log(rowLine(row));
      rows.push(...result);
      log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      crashed.push(bench.name);
      log(`CRASHED: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      const row: BenchRow = { benchmark: bench.name, forgeline: 'crashed', baseline: '-', ratio: null, floor: '-', ok: false };
      console.log(rowLine(row));
      rows.push(row);
      await runCleanups();
    }
  }

  console.log('');
  console.log(`## Forgeline benchmarks (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.version}, ${cpu.length} CPUs)`);
  console.log('');
  console.log(markdownTable(rows));
  console.log('');
  const missed = rows.filter((row) => !row.ok).length - crashed.length;
  console.log(`Ratio: Forgeline ÷ baseline measured in the same run, higher is better. ${missed > 0 ? `${missed} floor(s) missed (✗): reported, not a failure.` : crashed.length ? '' : 'All floors met.'}${crashed.length ? ` Crashed: ${crashed.join(', ')}.` : ''}`);
  const loadAtEnd = loadavg()[0];
  const busy = loadAtStart > cpu.length * 0.75; // at the end it counts the benches themselves
  console.log(`Load average (1 min) at start/end: ${loadAtStart.toFixed(2)}/${loadAtEnd.toFixed(2)} on ${cpu.length} CPUs${busy ? ': other processes were competing for the CPUs, so these ratios are noisier than usual; rerun on a quiet machine before acting on a ✗.' : '.'}`);
  return crashed.length > 0 ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the services and dropping the scratch databases`);
    void runCleanups().finally(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await runCleanups();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error(error);
    await runCleanups();
    process.exit(1);
  });
