import { retryPacing } from './anthropic.client.js';

const ctx = {} as never;

async function paced(status: number, headers: Record<string, string>, retryCount: number): Promise<string | null> {
  const middleware = retryPacing(100, 250);
  const response = await middleware(
    { url: 'http://fake/v1/messages', method: 'POST', headers: { 'x-stainless-retry-count': String(retryCount) } } as never,
    async () => new Response('{}', { status, headers }),
    ctx,
  );
  return response.headers.get('retry-after-ms');
}

describe('retryPacing', () => {
  it('paces retryable answers without Retry-After from the configured base, doubling, capped', async () => {
    expect(await paced(529, {}, 0)).toBe('100');
    expect(await paced(500, {}, 1)).toBe('200');
    expect(await paced(429, {}, 2)).toBe('250');
  });

  it('leaves the server\'s own Retry-After and non-retryable answers alone', async () => {
    expect(await paced(429, { 'retry-after': '3' }, 0)).toBeNull();
    expect(await paced(400, {}, 0)).toBeNull();
    expect(await paced(200, {}, 0)).toBeNull();
  });
});
