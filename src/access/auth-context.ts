import { createParamDecorator, ExecutionContext, SetMetadata, applyDecorators } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import type { Scope } from './api-key.entity.js';

/** Who is calling: set by AuthGuard on every /api request. */
export interface AuthContext {
  workspaceId: string;
  apiKeyId: string;
  scopes: Scope[];
  /** Set for keys restricted to named operations (agent runs); null or absent: no restriction. */
  allowedOperations?: string[] | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
}

export const PUBLIC_ROUTE = 'forgeline:public';
export const REQUIRED_SCOPE = 'forgeline:scope';

/** No API key needed (health probes). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/**
 * The scope an operation needs. Without it: `read` for GET and HEAD, `write` for the rest.
 * Also shown in the OpenAPI document as `x-required-scope`.
 */
export const RequiredScope = (scope: Scope) => applyDecorators(SetMetadata(REQUIRED_SCOPE, scope), ApiExtension('x-required-scope', scope));

export function defaultScope(method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

export const SCOPE_RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** admin includes write, and write includes read. */
export function grants(scopes: readonly Scope[], needed: Scope): boolean {
  return scopes.some((scope) => SCOPE_RANK[scope] >= SCOPE_RANK[needed]);
}

/** The most a key with these scopes may do: what work it sets going may do at most. */
export function highestScope(scopes: readonly Scope[]): Scope {
  return scopes.reduce<Scope>((max, scope) => (SCOPE_RANK[scope] > SCOPE_RANK[max] ? scope : max), 'read');
}

/** The caller's workspace id: the one value every owned query is scoped by. */
export const WorkspaceId = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  const auth = context.switchToHttp().getRequest<{ auth?: AuthContext }>().auth;
  if (!auth) throw new Error('WorkspaceId used on a route without authentication');
  return auth.workspaceId;
});

export const Auth = createParamDecorator((_data: unknown, context: ExecutionContext): AuthContext => {
  const auth = context.switchToHttp().getRequest<{ auth?: AuthContext }>().auth;
  if (!auth) throw new Error('Auth used on a route without authentication');
  return auth;
});
