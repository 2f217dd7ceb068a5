import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface SourceFile {
  path: string;
  content: string;
  executable: boolean;
}

export interface SourceFileOptions {
  /** Size of each file in bytes (ASCII), before jitter. */
  bytes?: number;
  /** Each file's size varies by up to ± jitter/2 bytes. */
  jitter?: number;
  path?: (index: number) => string;
  executable?: (index: number) => boolean;
}

/** mulberry32: a small seeded PRNG, so every run writes the same bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['agent', 'build', 'cache', 'delta', 'event', 'fetch', 'graph', 'index', 'job', 'key', 'limit', 'model',
  'node', 'order', 'patch', 'queue', 'route', 'state', 'token', 'user', 'value', 'worker', 'yield', 'zone', 'async',
  'await', 'return', 'const', 'let', 'if', 'else', 'for', 'of', 'new', 'this', 'map', 'filter', 'reduce', 'string', 'number'];

/**
 * `count` files of code-like pseudo-random text (it compresses like source code), the same for
 * the same seed; by default 4 KiB each at `src/mod<N>/file<M>.ts`, in folders of 50.
 */
export function makeSourceFiles(count: number, seed: number, options: SourceFileOptions = {}): SourceFile[] {
  const { bytes = 4 * 1024, jitter = 0, path = (i) => `src/mod${Math.floor(i / 50)}/file${i}.ts`, executable = () => false } = options;
  const random = prng(seed);
  const word = () => WORDS[Math.floor(random() * WORDS.length)];
  return Array.from({ length: count }, (_, index) => {
    const size = bytes - Math.floor(jitter / 2) + Math.floor(random() * (jitter + 1));
    let content = '';
    while (content.length < size) {
      const n = Math.floor(random() * 100_000);
      content += `export const ${word()}${n} = ${word()}(${n}, '${word()} ${word()} ${word()}', ${Math.floor(random() * 1e9)});\n`;
    }
    return { path: path(index), content: `${content.slice(0, size - 1)}\n`, executable: executable(index) };
  });
}

/** Writes the files under `root`, with their modes, as a baseline tool would find them on disk. */
export function writeTree(root: string, files: SourceFile[]): void {
  for (const file of files) {
    const target = join(root, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content, { mode: file.executable ? 0o755 : 0o644 });
  }
}
