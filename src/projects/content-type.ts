import mime from 'mime-types';

/** Source files whose registered MIME types mislead (".ts" is MPEG transport stream). */
const SOURCE_TEXT = new Set(['ts', 'tsx', 'mts', 'cts', 'jsx', 'vue', 'svelte', 'sh', 'env', 'lock', 'toml', 'gradle', 'kt', 'rs', 'go', 'py', 'rb', 'java', 'c', 'h', 'cpp', 'hpp', 'cs', 'sql', 'graphql', 'proto']);
const TEXT_PLAIN = 'text/plain; charset=utf-8';
const SNIFF_BYTES = 8_000;

/** The Content-Type to serve a project file with: by extension, else by looking at the bytes. */
export function contentTypeOf(path: string, content: Buffer): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const extension = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  if (SOURCE_TEXT.has(extension)) return TEXT_PLAIN;
  const known = extension ? mime.contentType(extension) : false;
  if (known) return known;
  return looksLikeText(content) ? TEXT_PLAIN : 'application/octet-stream';
}

function looksLikeText(content: Buffer): boolean {
  const head = content.subarray(0, SNIFF_BYTES);
  if (head.includes(0)) return false;
  try {
    // `stream` tolerates a character cut in half at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: head.length < content.length });
    return true;
  } catch {
    return false;
  }
}
