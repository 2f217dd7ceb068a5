import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { AppConfig } from '../config/app-config.js';

/** isomorphic-git's HTTP client contract (GitHttpRequest / GitHttpResponse). */
export interface GitHttpRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  signal?: AbortSignal;
}

export interface GitHttpResponse {
  url: string;
  method: string;
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
  body: AsyncIterableIterator<Uint8Array>;
}

export interface GitHttpClient {
  request(request: GitHttpRequest): Promise<GitHttpResponse>;
}

/** Refusals of the client itself (not of the network): the message says why, with no secret in it. */
export class OutboundRefusedError extends Error {
  constructor(
    readonly rule: 'redirect-with-credentials' | 'redirect-downgrade' | 'redirect-scheme' | 'too-many-redirects' | 'redirect-method',
    message: string,
  ) {
    super(message);
    this.name = 'OutboundRefusedError';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** For callers other than Git (the workflows' http_request step). */
export interface OutboundRequestOptions {
  /** Redirects followed; GIT_MAX_REDIRECTS when not given. */
  maxRedirects?: number;
  /** Called with the URL and every redirect target before each is requested: throw to refuse it. */
  checkUrl?: (url: URL) => void;
}

async function collect(body: GitHttpRequest['body']): Promise<Buffer | undefined> {
  if (!body) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const originOf = (url: URL) => `${url.protocol}//${url.host}`;

/**
 * The one outbound HTTP client (Git pushes go through it). Its agents refuse loopback, private
 * and link-local addresses after DNS resolution (npm request-filtering-agent) unless
 * OUTBOUND_ALLOW_PRIVATE=true, so a remote URL cannot reach the service's own network. It
 * follows redirects itself: never to another host while the request carries credentials (the
 * leak of isomorphic-git issue #2433), never from https to http.
 */
@Injectable()
export class OutboundHttp implements OnApplicationShutdown {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: http.Agent;

  constructor(private readonly config: AppConfig) {
    const filter = { allowPrivateIPAddress: config.OUTBOUND_ALLOW_PRIVATE, allowMetaIPAddress: false, keepAlive: true };
    this.httpAgent = new RequestFilteringHttpAgent(filter);
    this.httpsAgent = new RequestFilteringHttpsAgent(filter);
  }

  /** After the job queue has drained (jobs may be pushing until then). */
  onApplicationShutdown(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** A client for isomorphic-git whose every request ends when `signal` aborts. */
  gitClient(signal: AbortSignal): GitHttpClient {
    return { request: (request) => this.request(request, signal) };
  }

  /** One request (and its redirects) through the filtering agents, ending when `operationSignal` aborts. */
  async request(request: GitHttpRequest, operationSignal: AbortSignal, options: OutboundRequestOptions = {}): Promise<GitHttpResponse> {
    const maxRedirects = options.maxRedirects ?? this.config.GIT_MAX_REDIRECTS;
    const signal = request.signal ? AbortSignal.any([request.signal, operationSignal]) : operationSignal;
    const body = await collect(request.body);
    let method = (request.method ?? 'GET').toUpperCase();
    let headers: Record<string, string> = { ...request.headers };
    let url = new URL(request.url);
    for (let redirects = 0; ; redirects++) {
      signal.throwIfAborted();
      options.checkUrl?.(url);
      const response = await this.send(url, method, headers, body, signal);
      const location = response.headers.location;
      if (!REDIRECTS.has(response.statusCode ?? 0) || !location) return this.toGitResponse(url, method, response);
      response.resume();
      if (redirects >= maxRedirects) {
        const limit = options.maxRedirects === undefined ? `GIT_MAX_REDIRECTS=${maxRedirects}` : String(maxRedirects);
        throw new OutboundRefusedError('too-many-redirects', `more than ${limit} redirects from ${url.host}`);
      }
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new OutboundRefusedError('redirect-scheme', `${url.host} redirected to a ${next.protocol} URL; only http(s) redirects are followed`);
      }
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw new OutboundRefusedError('redirect-downgrade', `${url.host} redirected from https to plain http; not followed`);
      }
      const carriesCredentials = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
      if (originOf(next) !== originOf(url) && carriesCredentials) {
        throw new OutboundRefusedError('redirect-with-credentials', `${url.host} redirected to another host (${next.host}); not followed, because the request carries credentials`);
      }
      if (method !== 'GET' && method !== 'HEAD' && response.statusCode !== 307 && response.statusCode !== 308) {
        throw new OutboundRefusedError('redirect-method', `${url.host} redirected a ${method} with status ${response.statusCode}; only 307 and 308 keep a request body`);
      }
      if (originOf(next) !== originOf(url)) {
        headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'cookie'));
      }
      url = next;
    }
  }

  private send(url: URL, method: string, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal): Promise<http.IncomingMessage> {
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(url, {
        method,
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        signal,
      });
      request.once('response', resolve);
      request.once('error', reject);
      request.end(body);
    });
  }

  private toGitResponse(url: URL, method: string, response: http.IncomingMessage): GitHttpResponse {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return {
      url: url.toString(),
      method,
      statusCode: response.statusCode ?? 0,
      statusMessage: response.statusMessage ?? '',
      headers,
      body: response[Symbol.asyncIterator]() as AsyncIterableIterator<Uint8Array>,
    };
  }
}
