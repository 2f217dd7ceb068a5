import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { QueryFailedError } from 'typeorm';
import { DomainError, ErrorCode, ErrorDetail } from './domain-error.js';

interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  details?: ErrorDetail[];
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Errors Nest raises for the framework (unknown route, body limits) keep stable codes too. */
const HTTP_CODES: Record<number, ErrorCode> = { 404: 'ROUTE_NOT_FOUND', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08006', '08001', '08003']);

/** "Bad Request" → BAD_REQUEST, for errors that carry no code of their own. */
const codeOfStatus = (status: number) => (STATUS_CODES[status] ?? 'ERROR').toUpperCase().replace(/[^A-Z]+/g, '_');

function body(statusCode: number, code: string, message: string, details?: ErrorDetail[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message, ...(details ? { details } : {}) };
}

/** Maps any thrown value to the one error shape. Unexpected errors are logged, never echoed. */
export function toErrorBody(exception: unknown, logger: Logger): ErrorBody {
  if (exception instanceof DomainError) return body(exception.status, exception.code, exception.message, exception.details);
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const message = typeof response === 'string' ? response : ([] as string[]).concat((response as { message?: string | string[] }).message ?? exception.message).join('; ');
    const code = HTTP_CODES[status] ?? codeOfStatus(status);
    return body(status, code, message);
  }
  const error = exception as { code?: string; statusCode?: number; message?: string; driverError?: { code?: string } };
  const pgCode = exception instanceof QueryFailedError ? error.driverError?.code : error.code;
  if (pgCode && CONNECTION_ERRORS.has(pgCode)) {
    logger.warn(`database unavailable: ${error.message}`);
    return body(503, 'DATABASE_UNAVAILABLE', 'The database is unavailable; retry shortly');
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    const own = error.code && /^[A-Z][A-Z_]+$/.test(error.code) && !error.code.startsWith('FST_') ? error.code : undefined;
    const code = FASTIFY_CODES[error.code ?? ''] ?? own ?? codeOfStatus(error.statusCode);
    return body(error.statusCode, code, error.message ?? 'Bad request');
  }
  logger.error(exception instanceof Error ? exception.stack : String(exception));
  return body(500, 'INTERNAL', 'Internal server error');
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const payload = toErrorBody(exception, this.logger);
    void reply.status(payload.statusCode).header('content-type', 'application/json; charset=utf-8').send(payload);
  }
}
