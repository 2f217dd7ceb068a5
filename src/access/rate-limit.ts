import rateLimit from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';

const UNLIMITED = /^\/(health|docs)(\/|-json|$)/;

/**
 * One budget per API key across all routes (keyed by the token's hash, so it holds before
 * the key is even looked up), per address for requests without one. 429 with Retry-After.
 */
export async function registerRateLimit(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    allowList: (request: FastifyRequest) => UNLIMITED.test(request.url),
    keyGenerator: (request: FastifyRequest) => {
      const token = /^Bearer\s+(\S+)/i.exec(request.headers.authorization ?? '')?.[1];
      return token ? `key:${createHash('sha256').update(token).digest('hex')}` : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'RATE_LIMITED',
      message: `Rate limit of ${context.max} requests per ${Math.round(config.RATE_LIMIT_WINDOW_MS / 1000)} s reached; retry in ${context.after}`,
    }),
  });
}
