import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error.js';
import type { Scope } from './api-key.entity.js';
import { ApiKeysService } from './api-keys.service.js';
import { defaultScope, grants, PUBLIC_ROUTE, REQUIRED_SCOPE } from './auth-context.js';
import { authenticateHeader, challenge } from './authentication.js';

/** Where @ApiOperation keeps its options (DECORATORS.API_OPERATION in @nestjs/swagger). */
const API_OPERATION = 'swagger/apiOperation';

/**
 * Runs before every route that is not @Public(): a valid `Authorization: Bearer fl_…` key is
 * required (401 with `WWW-Authenticate: Bearer` otherwise), and the key must hold the
 * operation's scope (403) and, for keys limited to named operations, be allowed this one.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    // /api requests were authenticated before their body was read (registerAuthentication).
    try {
      request.auth ??= await authenticateHeader(this.apiKeys, request.headers.authorization);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'UNAUTHENTICATED') challenge(reply, request.headers.authorization);
      throw error;
    }
    const needed = this.reflector.getAllAndOverride<Scope>(REQUIRED_SCOPE, targets) ?? defaultScope(request.method);
    if (!grants(request.auth.scopes, needed)) {
      const message = `This operation needs the "${needed}" scope; this key has: ${request.auth.scopes.join(', ')}`;
      throw new DomainError('FORBIDDEN', message, [{ rule: 'scope', message, required: needed }]);
    }
    const allowed = request.auth.allowedOperations;
    if (allowed) {
      const operationId = this.reflector.get<{ operationId?: string } | undefined>(API_OPERATION, context.getHandler())?.operationId;
      if (!operationId || !allowed.includes(operationId)) {
        const message = `This key may call only these operations: ${allowed.join(', ')}; not ${operationId ?? 'this route'}`;
        throw new DomainError('FORBIDDEN', message, [{ rule: 'operation', message, operationId: operationId ?? null }]);
      }
    }
    return true;
  }
}
