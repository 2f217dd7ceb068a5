import type { Response } from 'supertest';

const ERROR_KEYS = ['code', 'details', 'error', 'message', 'statusCode'];

/**
 * Asserts the one error shape `{ statusCode, error, code, message, details? }` with the given
 * status and code, and returns the body for further checks.
 */
export function expectError(res: Response, status: number, code: string): { message: string; details?: Array<Record<string, unknown>> } {
  // A request made with the rawBody parser holds its JSON error as bytes.
  if (Buffer.isBuffer(res.body) && /^application\/json/.test(res.headers['content-type'] ?? '')) res.body = JSON.parse(res.body.toString('utf8'));
  if (res.status !== status || res.body?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status}: ${JSON.stringify(res.body)}`);
  }
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.body as Record<string, unknown>;
  for (const key of Object.keys(body)) expect(ERROR_KEYS).toContain(key);
  expect(body.statusCode).toBe(status);
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(0);
  expect(typeof body.message).toBe('string');
  expect((body.message as string).length).toBeGreaterThan(0);
  if ('details' in body) {
    expect(Array.isArray(body.details)).toBe(true);
    for (const detail of body.details as Array<Record<string, unknown>>) expect(typeof detail.message).toBe('string');
  }
  return body as { message: string; details?: Array<Record<string, unknown>> };
}

/** Asserts the error names `field` (and `rule`, when given) in one of its details. */
export function expectErrorDetail(res: Response, status: number, code: string, detail: { field?: string; rule?: string }): void {
  const body = expectError(res, status, code);
  expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining(detail)]));
}

/**
 * supertest parser that keeps the body as raw bytes, whatever its Content-Type. In Node,
 * superagent hands parsers the response stream (its types say Response).
 */
export function rawBody(res: Response, callback: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => callback(null, Buffer.concat(chunks)));
  stream.on('error', (error: Error) => callback(error, Buffer.alloc(0)));
}
