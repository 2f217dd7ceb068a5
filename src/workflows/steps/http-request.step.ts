import { AppConfig } from '../../config/app-config.js';
import { OutboundHttp } from '../../exporter/outbound-http.js';
import { StepContext, StepExecutor, StepHandler } from '../step-executor.js';

interface HttpRequestInput {
  url: string;
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  timeoutMs?: number;
  /** Default true: a 4xx or 5xx answer fails the step (and is retried when the step has retries). */
  failOnHttpError?: boolean;
}

interface HttpRequestOutput {
  status: number;
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The body parsed, when the response is JSON. */
  json?: unknown;
}

/** Refusals of the step itself: a host not on HTTP_STEP_ALLOWED_HOSTS. */
export class HostNotAllowedError extends Error {}

/** `HTTP_STEP_ALLOWED_HOSTS` as a predicate on a URL's host name (`*.example.com` matches its subdomains). */
export function allowedHosts(list: string): (hostname: string) => boolean {
  const entries = list
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean)
    .map((entry) => (entry.startsWith('[') ? entry : entry.includes(':') && !entry.includes(']') ? `[${entry}]` : entry));
  return (hostname) => {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    return entries.some((entry) => (entry.startsWith('*.') ? host.endsWith(entry.slice(1)) && host.length > entry.length - 1 : host === entry));
  };
}

/**
 * Outbound HTTP through the same filtering client as Git pushes (OutboundHttp): only hosts on
 * HTTP_STEP_ALLOWED_HOSTS, and loopback, private and link-local addresses refused after DNS
 * resolution, on the first request and on every redirect (unless OUTBOUND_ALLOW_PRIVATE).
 * The response is bounded in time (HTTP_STEP_TIMEOUT_MS) and size (HTTP_STEP_MAX_RESPONSE_BYTES).
 */
@StepExecutor({
  type: 'http_request',
  description: 'Call an HTTP API on an allowed host (HTTP_STEP_ALLOWED_HOSTS); private addresses are refused',
  secretFields: ['url', 'headers', 'body'],
  input: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', pattern: '^https?://', maxLength: 8192 },
      method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], default: 'GET' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: { description: 'A string is sent as is; any other value as JSON' },
      timeoutMs: { type: 'integer', minimum: 1, description: 'At most HTTP_STEP_TIMEOUT_MS' },
      failOnHttpError: { type: 'boolean', default: true },
    },
  },
  output: {
    type: 'object',
    required: ['status', 'url', 'headers', 'body'],
    properties: {
      status: { type: 'integer' },
      url: { type: 'string', description: 'The URL that answered (after redirects), without its user name and password' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: { type: 'string' },
      json: { description: 'The body parsed, when the response is JSON' },
    },
  },
})
export class HttpRequestStep implements StepHandler<HttpRequestInput, HttpRequestOutput> {
  private readonly isAllowed: (hostname: string) => boolean;

  constructor(
    private readonly http: OutboundHttp,
    private readonly config: AppConfig,
  ) {
    this.isAllowed = allowedHosts(config.HTTP_STEP_ALLOWED_HOSTS);
  }

  async run(input: HttpRequestInput, ctx: StepContext): Promise<HttpRequestOutput> {
    const method = input.method ?? 'GET';
    const timeoutMs = Math.min(input.timeoutMs ?? this.config.HTTP_STEP_TIMEOUT_MS, this.config.HTTP_STEP_TIMEOUT_MS);
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
    const headers: Record<string, string> = { ...(input.headers ?? {}) };
    let body: Buffer | undefined;
    if (input.body !== undefined && method !== 'GET' && method !== 'HEAD') {
      body = Buffer.from(typeof input.body === 'string' ? input.body : JSON.stringify(input.body));
      if (typeof input.body !== 'string' && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    ctx.logger.info(`${method} ${new URL(input.url).origin}`);
    const checkUrl = (url: URL) => {
      if (!this.isAllowed(url.hostname)) throw new HostNotAllowedError(`host "${url.hostname}" is not on HTTP_STEP_ALLOWED_HOSTS`);
    };
    let response;
    try {
      response = await this.http.request({ url: input.url, method, headers, body: body ? [body] : undefined }, signal, { maxRedirects: this.config.HTTP_STEP_MAX_REDIRECTS, checkUrl });
    } catch (error) {
      if (signal.aborted && !ctx.signal.aborted) throw new Error(`no response within ${timeoutMs} ms`);
      throw error;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += chunk.length;
        if (size > this.config.HTTP_STEP_MAX_RESPONSE_BYTES) throw new Error(`the response is larger than HTTP_STEP_MAX_RESPONSE_BYTES (${this.config.HTTP_STEP_MAX_RESPONSE_BYTES})`);
        chunks.push(Buffer.from(chunk));
      }
    } catch (error) {
      response.body.return?.();
      if (signal.aborted && !ctx.signal.aborted) throw new Error(`the response did not finish within ${timeoutMs} ms`);
      throw error;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    ctx.logger.info(`${response.statusCode} ${response.statusMessage} (${size} bytes)`);
    if ((input.failOnHttpError ?? true) && response.statusCode >= 400) {
      // Not cut here (HTTP_STEP_MAX_RESPONSE_BYTES bounds it): the runner masks the secrets in the whole
      // error, then cuts it to MAX_STEP_LOG_LINE_CHARS, so no secret is cut in two before it is masked.
      throw new Error(`${method} ${new URL(response.url).origin} answered ${response.statusCode} ${response.statusMessage}: ${text}`);
    }
    // The final URL without its user name and password (often a secret).
    const url = new URL(response.url);
    url.username = '';
    url.password = '';
    const output: HttpRequestOutput = { status: response.statusCode, url: url.href, headers: response.headers, body: text };
    if (/[/+]json\b/i.test(response.headers['content-type'] ?? '')) {
      try {
        output.json = JSON.parse(text);
      } catch {
        ctx.logger.warn('the response says JSON but does not parse');
      }
    }
    return output;
  }
}
