import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian and most distributions keep it; `git --exec-path` tells otherwise. */
const HTTP_BACKEND = [join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend'), '/usr/lib/git-core/git-http-backend'].find(existsSync);

export interface RecordedRequest {
  method: string;
  url: string;
  authorization?: string;
}

export interface GitHttpServer {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** Folder of the bare repositories, served as /<name>.git */
  root: string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Creates an empty bare repository that accepts pushes; returns its URL. */
  createRepository(name: string): string;
  /** The repository's folder, for the git CLI. */
  pathOf(name: string): string;
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  /** Basic auth the server demands (any request without it: 401). Unset: no auth. */
  credentials?: { username: string; token: string };
}

const gitEnv = { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: tmpdir(), GIT_TERMINAL_PROMPT: '0' };

/**
 * A real Git smart-HTTP server on loopback for the tests: `git http-backend` (the CGI program
 * git ships) behind a small Node wrapper that checks Basic auth. Extra paths for the failure
 * tests: `/redirect/<port>/<name>.git/...` answers 302 (after the auth check) to the same path on
 * localhost:<port> (another host name, so another origin), `/hang/...` never answers, and
 * `/hang-once/<name>.git/...` does not answer its first request, then serves `/<name>.git/...`.
 */
export async function startGitHttpServer(options: GitHttpServerOptions = {}): Promise<GitHttpServer> {
  if (!HTTP_BACKEND) throw new Error('git http-backend was not found (git --exec-path)');
  const root = mkdtempSync(join(tmpdir(), 'fl-git-remote-'));
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const hungOnce = new Set<string>();

  const server: Server = createServer((request, response) => {
    requests.push({ method: request.method ?? 'GET', url: request.url ?? '/', authorization: request.headers.authorization });
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/hang/')) {
      hanging.add(response);
      return;
    }
    const once = /^\/hang-once\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (once) {
      if (!hungOnce.has(once[1])) {
        hungOnce.add(once[1]);
        hanging.add(response);
        return;
      }
      url.pathname = `/${once[1]}${once[2]}`;
    }
    const expected = options.credentials && `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.token}`).toString('base64')}`;
    if (expected && request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="test git server"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    // After authentication, like a real host that moved a repository: the client now carries credentials.
    const redirect = /^\/redirect\/(\d+)(\/.*)$/.exec(url.pathname);
    if (redirect) {
      response.writeHead(302, { location: `http://localhost:${redirect[1]}${redirect[2]}${url.search}` }).end();
      return;
    }
    cgi(request, response, url, root, options.credentials?.username ?? 'anonymous');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    root,
    requests,
    createRepository(name) {
      const path = join(root, `${name}.git`);
      execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', path], { env: { ...process.env, ...gitEnv } });
      execFileSync('git', ['--git-dir', path, 'config', 'http.receivepack', 'true'], { env: { ...process.env, ...gitEnv } });
      return `http://127.0.0.1:${port}/${name}.git`;
    },
    pathOf: (name) => join(root, `${name}.git`),
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs git http-backend as a CGI program for one request. */
function cgi(request: IncomingMessage, response: ServerResponse, url: URL, root: string, user: string): void {
  const child = spawn(HTTP_BACKEND as string, [], {
    env: {
      ...process.env,
      ...gitEnv,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REMOTE_USER: user,
      REMOTE_ADDR: '127.0.0.1',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REQUEST_METHOD: request.method ?? 'GET',
      CONTENT_TYPE: request.headers['content-type'] ?? '',
      ...(request.headers['content-length'] ? { CONTENT_LENGTH: request.headers['content-length'] } : {}),
      ...(request.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] } : {}),
      ...(request.headers['git-protocol'] ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  request.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
  let head = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersSent) {
      response.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const lf = head.indexOf('\n\n');
    const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf : lf;
    if (end === -1) return;
    const separator = end === crlf ? 4 : 2;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else headers[name] = value;
    }
    response.writeHead(status, headers);
    headersSent = true;
    response.write(head.subarray(end + separator));
  });
  child.stdout.on('end', () => {
    if (!headersSent) response.writeHead(502);
    response.end();
  });
  child.on('error', () => {
    if (!headersSent) response.writeHead(500);
    response.end();
  });
}
