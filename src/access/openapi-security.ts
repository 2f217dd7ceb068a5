import type { OpenAPIObject } from '@nestjs/swagger';
import { defaultScope } from './auth-context.js';

export const BEARER_SCHEME = 'bearer';
const PUBLIC_PATHS = /^\/health(\/|$)/;
const ERROR_SCHEMA = { $ref: '#/components/schemas/ErrorResponseDto' };
const AUTH_ERRORS: Record<string, string> = {
  '401': 'Missing, unknown, expired or revoked API key',
  '403': 'The API key lacks the required scope',
  '429': 'Rate limit reached; see Retry-After',
};

/**
 * Marks every /api operation as needing the bearer scheme, records its required scope as
 * `x-required-scope` (the same rule AuthGuard applies) and documents 401/403/429.
 */
export function documentSecurity(document: OpenAPIObject): OpenAPIObject {
  for (const [path, item] of Object.entries(document.paths)) {
    if (PUBLIC_PATHS.test(path)) continue;
    for (const [method, operation] of Object.entries(item) as Array<[string, Record<string, any>]>) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue;
      const scope = operation['x-required-scope'] ?? defaultScope(method.toUpperCase());
      operation['x-required-scope'] = scope;
      operation.security = [{ [BEARER_SCHEME]: [] }];
      operation.description = [operation.description, `Requires an API key with the \`${scope}\` scope.`].filter(Boolean).join('\n\n');
      for (const [status, description] of Object.entries(AUTH_ERRORS)) {
        operation.responses[status] ??= { description, content: { 'application/json': { schema: ERROR_SCHEMA } } };
      }
      // Errors are JSON on every route, also where @ApiProduces names what a success sends (a file, an archive, a stream).
      for (const [status, response] of Object.entries(operation.responses as Record<string, { content?: unknown }>)) {
        if (Number(status) >= 400) response.content = { 'application/json': { schema: ERROR_SCHEMA } };
      }
    }
  }
  return document;
}
