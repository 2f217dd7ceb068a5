import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { DynamicModule, Module, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's x-request-id when it is sane, else a fresh UUID (Fastify's genReqId). */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Structured JSON logs with a request id (echoed as x-request-id); bodies are never logged. */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          // Every route once. (nestjs-pino's default routes add those outside the global prefix, such
          // as /git/, a second time: each of their requests was logged twice.)
          forRoutes: [{ path: '{/*splat}', method: RequestMethod.ALL }],
          // Probes are called every few seconds by orchestrators: no access log, no request context.
          exclude: [{ method: RequestMethod.GET, path: 'health' }, { method: RequestMethod.GET, path: 'health/live' }],
          pinoHttp: {
            level: config.LOG_LEVEL,
            // Fastify has already assigned req.id (see requestId); pino-http reuses it.
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' },
            serializers: {
              req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
          },
        }),
      ],
    };
  }
}
