import { OutboundRefusedError } from './outbound-http.js';
import { redact } from './remote-url.js';

export interface PushCredentials {
  username: string;
  token: string;
}

/** A failed push, said plainly and without any secret; `permanent` failures are not retried. */
export class PushFailure extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'PushFailure';
  }
}

interface PushErrorContext {
  url: string;
  remoteRef: string;
  credentials?: PushCredentials;
  offeredCredentials: boolean;
  timedOut: boolean;
  timeoutMs: number;
}

type ErrorLike = Error & { code?: string; data?: { reason?: string; statusCode?: number }; cause?: unknown };

/** Maps whatever isomorphic-git, Node or the filtering agent threw to one clear PushFailure. */
export function describePushError(error: unknown, context: PushErrorContext): PushFailure {
  if (error instanceof PushFailure) return scrub(error.message, error.permanent, context);
  const e = (error ?? {}) as ErrorLike;
  const host = hostOf(context.url);
  const text = `${e.message ?? ''} ${e.cause instanceof Error ? e.cause.message : ''}`;
  if (context.timedOut || e.name === 'TimeoutError' || e.name === 'AbortError') {
    return scrub(`push to ${host} timed out after ${context.timeoutMs} ms (GIT_PUSH_TIMEOUT_MS)`, false, context);
  }
  if (e.code === 'PushRejectedError' && e.data?.reason === 'not-fast-forward') {
    return scrub(`push rejected: ${context.remoteRef} on ${host} has commits this export does not contain (not a fast-forward); set remote.force to overwrite it`, true, context);
  }
  if (e.code === 'PushRejectedError' && e.data?.reason === 'tag-exists') {
    return scrub(`push rejected: ${context.remoteRef} already exists on ${host}`, true, context);
  }
  if (e.code === 'UserCanceledError' || (e.code === 'HttpError' && e.data?.statusCode === 401)) {
    return scrub(
      context.offeredCredentials
        ? `authentication failed: ${host} refused the credentials`
        : `authentication required: ${host} asks for credentials; give remote.credentialId, or remote.username and remote.token`,
      true,
      context,
    );
  }
  if (e.code === 'HttpError') {
    const status = e.data?.statusCode ?? 0;
    if (status === 403) return scrub(`access denied: ${host} answered 403 (the credentials may lack push rights)`, true, context);
    if (status === 404) return scrub(`repository not found: ${host} answered 404 for ${pathOf(context.url)}`, true, context);
    return scrub(`${host} answered HTTP ${status}`, status < 500, context);
  }
  if (e.code === 'SmartHttpError') return scrub(`${host} is not a Git smart HTTP server (check the remote URL)`, true, context);
  if (error instanceof OutboundRefusedError) return scrub(`push refused: ${error.message}`, true, context);
  if (/is not allowed\. Because/.test(text)) {
    return scrub(`push refused: ${host} resolves to a loopback, private or link-local address (set OUTBOUND_ALLOW_PRIVATE=true only for test servers)`, true, context);
  }
  if (e.code === 'ENOTFOUND') return scrub(`could not resolve host ${host} (DNS)`, true, context);
  if (e.code === 'EAI_AGAIN') return scrub(`could not resolve host ${host} right now (DNS temporary failure)`, false, context);
  if (e.code === 'ECONNREFUSED') return scrub(`connection refused by ${host}`, false, context);
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'ETIMEDOUT') return scrub(`connection to ${host} failed (${e.code})`, false, context);
  if (e.code && /^(CERT_|ERR_TLS|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO)/.test(e.code)) return scrub(`TLS error with ${host}: ${e.code}`, true, context);
  return scrub(`push to ${host} failed: ${e.message ?? String(error)}`, false, context);
}

function scrub(message: string, permanent: boolean, context: PushErrorContext): PushFailure {
  const { credentials } = context;
  const secrets = credentials ? [credentials.token, `${credentials.username}:${credentials.token}`, Buffer.from(`${credentials.username}:${credentials.token}`).toString('base64')] : [];
  return new PushFailure(redact(message, secrets), permanent);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the remote';
  }
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
