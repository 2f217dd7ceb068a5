import { RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule, AppOptions } from './app.module.js';
import { BEARER_SCHEME, documentSecurity } from './access/openapi-security.js';
import { OpenApiDocumentHolder } from './agents/openapi-document.holder.js';
import { registerAuthentication } from './access/authentication.js';
import { registerRateLimit } from './access/rate-limit.js';
import { ErrorResponseDto } from './common/error-response.js';
import { registerSecurityHeaders } from './common/security-headers.js';
import { registerJsonBodyParser } from './common/json-body.js';
import { createValidationPipe } from './common/validation.js';
import { requestId } from './logging/logging.module.js';

export const API_PREFIX = 'api';

/** Builds the HTTP application exactly as `npm start` runs it (tests use it too). */
export async function createApp(options: AppOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  const adapter = new FastifyAdapter({
    bodyLimit: config.MAX_REQUEST_BYTES,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    requestIdHeader: false,
    genReqId: requestId,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(options), adapter, { bufferLogs: true, abortOnError: false });
  app.useLogger(app.get(Logger));
  app.setGlobalPrefix(API_PREFIX, {
    exclude: [
      { path: 'health', method: RequestMethod.GET },
      { path: 'health/live', method: RequestMethod.GET },
      // `git clone http://HOST/git/{slug}.git` (the exporter's read-only Git endpoint).
      { path: 'git/*path', method: RequestMethod.ALL },
    ],
  });
  app.useGlobalPipes(createValidationPipe());
  registerJsonBodyParser(app, config.MAX_REQUEST_BYTES);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
  const origins = config.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean);
  if (origins.length > 0) {
    app.enableCors({ origin: origins, exposedHeaders: ['x-request-id', 'etag', 'retry-after', 'content-disposition', 'www-authenticate'], maxAge: 600 });
  }
  await registerRateLimit(app, config);
  registerAuthentication(app);
  await registerSecurityHeaders(app);
  // Built even with Swagger UI off: agents turn its operations into tools.
  const document = documentSecurity(SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Forgeline')
      .setDescription('AI agents build software projects: projects and files, generation, Git export, agents and workflows.')
      .setVersion('0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A Forgeline API key: "fl_…"' }, BEARER_SCHEME)
      .build(),
    { extraModels: [ErrorResponseDto] },
  ));
  app.get(OpenApiDocumentHolder, { strict: false }).set(document);
  if (config.SWAGGER_ENABLED) {
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', swaggerOptions: { persistAuthorization: true } });
  }
  return app;
}
