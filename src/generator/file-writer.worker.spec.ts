import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWriter, STAT_FIELDS, WalkError } from './file-writer.worker.js';

describe('file writer thread: walk', () => {
  let root: string;
  let writer: FileWriter;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'fl-walk-'));
    writer = new FileWriter();
  });

  afterEach(async () => {
    await writer.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('walks the folders and lstats the files it is given, reporting links and other entries without following them', async () => {
    for (const folder of ['a/deep/er', 'b']) mkdirSync(join(root, folder), { recursive: true });
    for (const name of ['top.txt', 'a/1.txt', 'a/deep/er/2.sh', 'b/3.txt']) writeFileSync(join(root, name), name, { mode: name.endsWith('.sh') ? 0o755 : 0o644 });
    symlinkSync('/etc', join(root, 'a/deep/etc'));
    execFileSync('mkfifo', [join(root, 'b/fifo')]);
    const found = await writer.walk(root, [['top.txt', 'gone.txt']], ['a', 'b'], new SharedArrayBuffer(4));
    expect(found.files).toEqual(['top.txt', 'gone.txt', 'a/1.txt', 'a/deep/er/2.sh', 'b/3.txt']);
    expect(found.stats[STAT_FIELDS]).toBe(-1);
    for (const [index, name] of found.files.entries()) {
      if (name === 'gone.txt') continue;
      const stat = lstatSync(join(root, name));
      expect([...found.stats.subarray(index * STAT_FIELDS, (index + 1) * STAT_FIELDS)]).toEqual([stat.size, stat.mtimeMs, stat.ino, stat.mode]);
    }
    expect(found.dirs.sort()).toEqual(['a/deep', 'a/deep/er']);
    expect(found.links).toEqual(['a/deep/etc']);
    expect(found.others).toEqual(['b/fifo']);
  });

  it('takes only the tasks left on the shared counter', async () => {
    mkdirSync(join(root, 'a'));
    mkdirSync(join(root, 'b'));
    writeFileSync(join(root, 'a/1.txt'), '1');
    writeFileSync(join(root, 'b/2.txt'), '2');
    const counter = new SharedArrayBuffer(4);
    Atomics.store(new Int32Array(counter), 0, 1);
    expect((await writer.walk(root, [], ['a', 'b'], counter)).files).toEqual(['b/2.txt']);
  });

  it('reports a folder it cannot read with its path', async () => {
    const error = await writer.walk(root, [], ['missing'], new SharedArrayBuffer(4)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WalkError);
    expect(error).toMatchObject({ path: 'missing', action: 'read the folder', code: 'ENOENT' });
  });
});
