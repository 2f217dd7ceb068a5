import { WriteBatcher } from './write-batcher.js';

function batcher(options: { failMany?: (items: number[]) => boolean; failOne?: (item: number) => boolean } = {}) {
  const batches: number[][] = [];
  const singles: number[] = [];
  let release: (() => void) | undefined;
  const held = { hold: false };
  const writer = new WriteBatcher<number, string>({
    many: async (items) => {
      batches.push(items);
      if (held.hold) await new Promise<void>((resolve) => (release = resolve));
      if (options.failMany?.(items)) throw new Error('batch refused');
      return items.map((item) => `many:${item}`);
    },
    one: async (item) => {
      singles.push(item);
      if (options.failOne?.(item)) throw new Error(`item ${item} refused`);
      return `one:${item}`;
    },
    maxBatch: 3,
    maxInFlight: 1,
  });
  return { writer, batches, singles, held, release: () => release?.() };
}

describe('WriteBatcher', () => {
  it('sends calls made in the same turn together, each answered with its own output', async () => {
    const { writer, batches } = batcher();
    const outputs = await Promise.all([1, 2, 3].map((item) => writer.submit(item)));
    expect(outputs).toEqual(['many:1', 'many:2', 'many:3']);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('writes a lone call on its own', async () => {
    const { writer, batches, singles } = batcher();
    await expect(writer.submit(7)).resolves.toBe('one:7');
    expect(batches).toEqual([]);
    expect(singles).toEqual([7]);
  });

  it('keeps calls made while a batch is in flight for the next one, and respects the batch size', async () => {
    const { writer, batches, held, release } = batcher();
    held.hold = true;
    const first = Promise.all([1, 2].map((item) => writer.submit(item)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1, 2]]);
    const later = Promise.all([3, 4, 5, 6].map((item) => writer.submit(item)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toHaveLength(1);
    held.hold = false;
    release();
    await expect(first).resolves.toEqual(['many:1', 'many:2']);
    await expect(later).resolves.toEqual(['many:3', 'many:4', 'many:5', 'one:6']);
    expect(batches).toEqual([[1, 2], [3, 4, 5]]);
  });

  it('retries each call of a failed batch alone, so only the bad one fails', async () => {
    const { writer, singles } = batcher({ failMany: () => true, failOne: (item) => item === 2 });
    const results = await Promise.allSettled([1, 2, 3].map((item) => writer.submit(item)));
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual(['one:1', 'item 2 refused', 'one:3']);
    expect(singles.sort()).toEqual([1, 2, 3]);
  });
});
