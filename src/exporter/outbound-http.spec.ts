import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { loadConfig } from '../config/app-config.js';
import { GitHttpResponse, OutboundHttp, OutboundRefusedError } from './outbound-http.js';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

async function server(handler: (url: string, respond: (status: number, headers?: Record<string, string>, body?: string) => void) => void): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const http: Server = createServer((request, response) => {
    seen.push({ url: request.url ?? '', headers: request.headers });
    handler(request.url ?? '', (status, headers = {}, body = '') => response.writeHead(status, headers).end(body));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { port: (http.address() as AddressInfo).port, seen, close: () => new Promise((resolve) => {
      http.closeAllConnections();
      http.close(() => resolve());
    }) };
}

const text = async (response: GitHttpResponse) => {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString();
};

describe('outbound HTTP client', () => {
  const open: OutboundHttp[] = [];
  const client = (env: Record<string, string>) => {
    const http = new OutboundHttp(loadConfig(env, ''));
    open.push(http);
    return http.gitClient(AbortSignal.timeout(30_000));
  };
  afterEach(() => open.splice(0).forEach((http) => http.onApplicationShutdown()));

  it('refuses loopback and private addresses after DNS resolution unless OUTBOUND_ALLOW_PRIVATE', async () => {
    const target = await server((_url, respond) => respond(200, {}, 'hello'));
    try {
      const strict = client({ OUTBOUND_ALLOW_PRIVATE: 'false' });
      await expect(strict.request({ url: `http://127.0.0.1:${target.port}/` })).rejects.toThrow(/is not allowed/);
      await expect(strict.request({ url: `http://localhost:${target.port}/` })).rejects.toThrow(/is not allowed/);
      await expect(strict.request({ url: 'http://169.254.169.254/latest/meta-data' })).rejects.toThrow(/is not allowed/);
      expect(target.seen).toEqual([]);
      const open = client({ OUTBOUND_ALLOW_PRIVATE: 'true' });
      expect(await text(await open.request({ url: `http://127.0.0.1:${target.port}/` }))).toBe('hello');
    } finally {
      await target.close();
    }
  });

  it('follows a redirect on the same host with credentials, and one to another host without them', async () => {
    const elsewhere = await server((_url, respond) => respond(200, {}, 'elsewhere'));
    const origin = await server((url, respond) => {
      if (url === '/same') respond(302, { location: '/final' });
      else if (url === '/away') respond(302, { location: `http://localhost:${elsewhere.port}/landed` });
      else respond(200, {}, 'final');
    });
    try {
      const http = client({ OUTBOUND_ALLOW_PRIVATE: 'true' });
      const same = await http.request({ url: `http://127.0.0.1:${origin.port}/same`, headers: { authorization: 'Basic c2VjcmV0' } });
      expect([same.statusCode, same.url, await text(same)]).toEqual([200, `http://127.0.0.1:${origin.port}/final`, 'final']);
      expect(origin.seen.map((s) => s.headers.authorization)).toEqual(['Basic c2VjcmV0', 'Basic c2VjcmV0']);
      const away = await http.request({ url: `http://127.0.0.1:${origin.port}/away` });
      expect(await text(away)).toBe('elsewhere');
    } finally {
      await Promise.all([origin.close(), elsewhere.close()]);
    }
  });

  it('never carries credentials to another host (isomorphic-git issue #2433)', async () => {
    const elsewhere = await server((_url, respond) => respond(200, {}, 'stolen'));
    const origin = await server((_url, respond) => respond(301, { location: `http://localhost:${elsewhere.port}/repo.git/info/refs` }));
    try {
      const http = client({ OUTBOUND_ALLOW_PRIVATE: 'true' });
      const attempt = http.request({ url: `http://127.0.0.1:${origin.port}/repo.git/info/refs`, headers: { Authorization: 'Basic c2VjcmV0' } });
      await expect(attempt).rejects.toBeInstanceOf(OutboundRefusedError);
      await expect(attempt).rejects.toThrow(/redirected to another host \(localhost:\d+\); not followed, because the request carries credentials/);
      expect(elsewhere.seen).toEqual([]);
    } finally {
      await Promise.all([origin.close(), elsewhere.close()]);
    }
  });

  it('stops after GIT_MAX_REDIRECTS and never turns a POST into a GET', async () => {
    const loop = await server((url, respond) => respond(url === '/post' ? 302 : 307, { location: url === '/post' ? '/elsewhere' : '/again' }));
    try {
      const http = client({ OUTBOUND_ALLOW_PRIVATE: 'true', GIT_MAX_REDIRECTS: '2' });
      await expect(http.request({ url: `http://127.0.0.1:${loop.port}/start` })).rejects.toThrow(/more than GIT_MAX_REDIRECTS=2/);
      await expect(http.request({ url: `http://127.0.0.1:${loop.port}/post`, method: 'POST', body: [Buffer.from('x')] })).rejects.toThrow(/only 307 and 308 keep a request body/);
    } finally {
      await loop.close();
    }
  });

  it('ends every request of an operation when its signal aborts', async () => {
    const silent = await server(() => undefined);
    try {
      const http = new OutboundHttp(loadConfig({ OUTBOUND_ALLOW_PRIVATE: 'true' }, ''));
      open.push(http);
      // The server never answers: only the signal can end the request.
      await expect(http.gitClient(AbortSignal.timeout(200)).request({ url: `http://127.0.0.1:${silent.port}/` })).rejects.toThrow(/aborted|timeout/i);
    } finally {
      await silent.close();
    }
  });
});
