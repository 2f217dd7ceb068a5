/** Text helpers of the agent loop: plain functions. */

/**
 * The first `maxChars` UTF-16 units of `text`, one fewer when the cut would split a surrogate
 * pair: a lone surrogate makes the request invalid JSON to the Messages API (a 400).
 */
export function sliceChars(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const end = maxChars > 0 && isHighSurrogate(text.charCodeAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  return text.slice(0, end);
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** `text` cut to `maxChars` (never inside a character) with a note saying how much was left out. */
export function truncateForModel(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${sliceChars(text, maxChars)}\n\n[Truncated: this result is ${text.length} characters; only the first ${maxChars} are shown. Ask for less (filters, a page, one file) to see the rest.]`;
}

/** The first `maxBytes` bytes of `text` as UTF-8, never splitting a character. */
export function truncateBytes(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  // Back up to the start of a character (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

/** Replaces every occurrence of each secret with [redacted]. */
export function redact(text: string, secrets: ReadonlyArray<string | null | undefined>): string {
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 8) out = out.split(secret).join('[redacted]');
  // Any Forgeline token that reached this text by another road.
  return out.replace(/fl_[A-Za-z0-9_-]{32,}/g, 'fl_[redacted]');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A response body as text: UTF-8 when it is, else base64 with a note. */
export function bodyText(bytes: Uint8Array, contentType: string | null): string {
  if (bytes.length === 0) return '';
  try {
    return utf8.decode(bytes);
  } catch {
    return `[binary ${contentType ?? 'data'}, ${bytes.length} bytes, base64] ${Buffer.from(bytes).toString('base64')}`;
  }
}

/**
 * `value` with every NUL character (in strings and keys, however deep) replaced by U+FFFD:
 * PostgreSQL text and jsonb cannot hold NUL, and a recorded call must never fail for it.
 */
export function withoutNul<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return (value.includes('\u0000') ? value.replaceAll('\u0000', '\ufffd') : value) as T;
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) return value.map((item) => withoutNul(item, depth + 1)) as T;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [withoutNul(key), withoutNul(item, depth + 1)])) as T;
}
