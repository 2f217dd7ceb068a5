import rateLimit from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { ApiKeysService } from './api-keys.service.js';

const UNLIMITED = /^\/(health|docs)(\/|-json|$)/;

/**
 * One budget per API key across all routes, and one per address for everything else: requests
 * without a key, and with a token not verified yet (so a stream of made-up tokens shares its
 * address's budget instead of getting a fresh one each). 429 with Retry-After. Runs before
 * authentication, without I/O.
 */
export async function registerRateLimit(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const apiKeys = app.get(ApiKeysService);
  await app.register(rateLimit, {
    global: true,
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    allowList: (request: FastifyRequest) => UNLIMITED.test(request.url),
    keyGenerator: (request: FastifyRequest) => {
      const token = /^Bearer\s+(\S+)/i.exec(request.headers.authorization ?? '')?.[1];
      const keyId = token ? apiKeys.verifiedKeyId(token) : undefined;
      return keyId ? `key:${keyId}` : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'RATE_LIMITED',
      message: `Rate limit of ${context.max} requests per ${Math.round(config.RATE_LIMIT_WINDOW_MS / 1000)} s reached; retry in ${context.after}`,
    }),
  });
}
