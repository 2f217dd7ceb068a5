import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorBody } from '../common/all-exceptions.filter.js';
import { DomainError } from '../common/domain-error.js';
import { ApiKeysService } from './api-keys.service.js';
import type { AuthContext } from './auth-context.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;
const API_ROUTE = /^\/api(\/|\?|$)/;

/** The caller of an `Authorization: Bearer fl_…` header, or UNAUTHENTICATED. */
export function authenticateHeader(apiKeys: ApiKeysService, header: string | undefined): Promise<AuthContext> {
  const match = BEARER.exec(header ?? '');
  if (!match) return Promise.reject(new DomainError('UNAUTHENTICATED', 'Send an API key as "Authorization: Bearer fl_…"'));
  return apiKeys.authenticate(match[1]);
}

/** RFC 6750: a 401 names the scheme, and `invalid_token` only when a token was sent. */
export function challenge(reply: FastifyReply, header: string | undefined): void {
  void reply.header('www-authenticate', BEARER.test(header ?? '') ? 'Bearer realm="forgeline", error="invalid_token"' : 'Bearer realm="forgeline"');
}

/**
 * Authenticates every /api request once its headers have arrived, after the rate limit and
 * before the body is read (Fastify's preParsing): a request without a valid key gets its 401
 * without its body being read or parsed. AuthGuard then checks the route's scope and operation.
 */
export function registerAuthentication(app: NestFastifyApplication): void {
  const apiKeys = app.get(ApiKeysService);
  const logger = new Logger('Auth');
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preParsing', async (request: FastifyRequest, reply: FastifyReply) => {
      // CORS preflights carry no credentials; the CORS plugin answers them.
      // The route matched, as well as the URL sent: "/%61pi/projects" is routed as "/api/projects".
      if (request.method === 'OPTIONS' || !(API_ROUTE.test(request.url) || API_ROUTE.test(request.routeOptions?.url ?? ''))) return;
      try {
        request.auth = await authenticateHeader(apiKeys, request.headers.authorization);
      } catch (error) {
        const body = toErrorBody(error, logger);
        if (body.statusCode === 401) challenge(reply, request.headers.authorization);
        void reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
      }
      return undefined;
    });
}
