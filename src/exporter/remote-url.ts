import { DomainError } from '../common/domain-error.js';

export type RemoteUrlRule =
  | 'not-a-url'
  | 'scheme-not-allowed'
  | 'http-not-allowed'
  | 'credentials-in-url'
  | 'query-or-fragment'
  | 'too-long';

export const MAX_REMOTE_URL_LENGTH = 2048;

const SCP_LIKE = /^[^/:\s]+@[^/:\s]+:/; // git@host:owner/repo.git

/**
 * Checks a push remote: https:// only (http:// too when `allowHttp`), no credentials in the URL
 * (they belong in a stored credential or the request's username/token), no query or fragment.
 * Transports like `file://`, `ssh://`, `git://` and `ext::` (which runs commands) are refused.
 * Returns the URL without a trailing slash.
 */
export function checkRemoteUrl(raw: string, allowHttp: boolean): { url: string } | { rule: RemoteUrlRule; message: string } {
  if (raw.length > MAX_REMOTE_URL_LENGTH) return { rule: 'too-long', message: `must not be over ${MAX_REMOTE_URL_LENGTH} characters` };
  const allowed = allowHttp ? 'https:// (or http://, allowed by GIT_ALLOW_HTTP)' : 'https://';
  if (/^[a-z][a-z0-9+.-]*::/i.test(raw) || SCP_LIKE.test(raw)) {
    return { rule: 'scheme-not-allowed', message: `must be an ${allowed} URL; remote helpers ("ext::") and SSH addresses are not allowed` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { rule: 'not-a-url', message: 'is not a valid URL' };
  }
  if (url.protocol === 'http:' && !allowHttp) {
    return { rule: 'http-not-allowed', message: 'must use https:// (plain http:// is refused unless GIT_ALLOW_HTTP=true)' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { rule: 'scheme-not-allowed', message: `must be an ${allowed} URL, not ${url.protocol}//` };
  }
  if (!url.hostname) return { rule: 'not-a-url', message: 'has no host' };
  if (url.username || url.password) {
    return { rule: 'credentials-in-url', message: 'must not carry credentials; use credentialId, or username and token' };
  }
  if (url.search || url.hash || raw.includes('#') || raw.includes('?')) {
    return { rule: 'query-or-fragment', message: 'must not have a query string or a fragment' };
  }
  return { url: url.toString().replace(/\/+$/, '') };
}

/** Like checkRemoteUrl, throwing VALIDATION_FAILED naming `field` and the rule. */
export function assertRemoteUrl(raw: string, allowHttp: boolean, field = 'remote.url'): string {
  const result = checkRemoteUrl(raw, allowHttp);
  if ('url' in result) return result.url;
  // The URL is not echoed: a refused one may well carry a token.
  const message = `${field} ${result.message}`;
  throw new DomainError('VALIDATION_FAILED', message, [{ field, rule: result.rule, message }]);
}

/**
 * Replaces every occurrence of each secret (as is, URL-encoded, in Basic auth's base64) with
 * "***", so that error messages from HTTP clients and servers never carry one.
 */
export function redact(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]);
    for (const form of forms) out = out.split(form).join('***');
  }
  return out;
}
