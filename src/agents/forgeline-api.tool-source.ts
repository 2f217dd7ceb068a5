import { Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import type { Scope } from '../access/api-key.entity.js';
import { ApiKeysService } from '../access/api-keys.service.js';
import { highestScope } from '../access/auth-context.js';
import { AppConfig } from '../config/app-config.js';
import { OpenApiDocumentHolder } from './openapi-document.holder.js';
import { HttpBinding, pathParamProblem, PROPERTY_KEY, toolsFromOpenApi, toRequest } from './openapi-tools.js';
import { bodyText, redact } from './text.js';
import { beyondScope, requiredScopeOf } from './tool-catalog.js';
import { ToolSourceUnavailable } from './tool-source.js';
import type { ToolDefinition, ToolOutcome, ToolSession, ToolSessionScope, ToolSource } from './tool-source.js';

export const RUN_KEY_PREFIX = 'agent-run:';

/**
 * Forgeline's own API as tools, from its OpenAPI document. A call is a real HTTP request to the
 * service (API_BASE_URL, else this process's own address) with the run's short-lived key, which
 * holds only the scope and the operations the agent is allowed: guards, validation and workspace
 * scoping apply exactly as for any client.
 */
@Injectable()
export class ForgelineApiToolSource implements ToolSource {
  readonly name = 'forgeline';
  private readonly logger = new Logger('AgentTools');
  private cache: { revision: number; tools: ToolDefinition[]; bindings: Map<string, HttpBinding> } | null = null;

  constructor(
    private readonly document: OpenApiDocumentHolder,
    private readonly apiKeys: ApiKeysService,
    private readonly config: AppConfig,
    private readonly http: HttpAdapterHost,
  ) {}

  tools(): ToolDefinition[] {
    return this.load().tools;
  }

  async open(tools: ToolDefinition[], scope: ToolSessionScope): Promise<ToolSession> {
    const { bindings } = this.load();
    const own = tools.filter((tool) => tool.source === this.name && bindings.has(tool.name));
    if (own.length === 0) return { apiKeyId: null, execute: () => Promise.reject(new Error('no Forgeline tools in this session')), close: async () => undefined };
    // The run was checked against its starter's scope before; this is the last line of defence.
    const beyond = beyondScope(own, scope.maxScope);
    if (beyond.length > 0) throw new Error(`${beyond.map((tool) => tool.name).join(', ')} need more than the "${scope.maxScope}" scope the run was started with`);
    const needed: Scope = highestScope(own.map(requiredScopeOf));
    // Before the key exists: a key made for a run that cannot call anything would outlive it.
    const baseUrl = this.baseUrl();
    const { key, token } = await this.apiKeys.create(scope.workspaceId, {
      name: `${RUN_KEY_PREFIX}${scope.runId}`,
      scopes: [needed],
      expiresAt: scope.expiresAt,
      allowedOperations: own.map((tool) => tool.name),
    });
    let closed = false;
    return {
      apiKeyId: key.id,
      execute: (tool, input, options) => this.call(baseUrl, token, bindings.get(tool.name), input, options),
      close: async () => {
        if (closed) return;
        closed = true;
        await this.apiKeys.revoke(scope.workspaceId, key.id).catch((error: Error) => this.logger.warn(`could not revoke run key ${key.id}: ${error.message}`));
      },
    };
  }

  private async call(
    baseUrl: string,
    token: string,
    binding: HttpBinding | undefined,
    input: Record<string, unknown>,
    options: { signal: AbortSignal; timeoutMs: number },
  ): Promise<ToolOutcome> {
    if (!binding) throw new Error('unknown Forgeline operation');
    const problem = pathParamProblem(binding, input);
    if (problem) {
      const message = `${problem}, so the call was not made`;
      return { status: null, body: JSON.stringify({ error: 'TOOL_INPUT_INVALID', message }), isError: true, method: binding.method, path: null, error: message };
    }
    const { path, query, body } = toRequest(binding, input);
    const target = query.size > 0 ? `${path}?${query.toString()}` : path;
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any([options.signal, timeout]);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json, text/plain, */*' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const response = await fetch(baseUrl + target, { method: binding.method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
      const bytes = new Uint8Array(await response.arrayBuffer());
      const text = redact(bodyText(bytes, response.headers.get('content-type')), [token]);
      return { status: response.status, body: text, isError: response.status >= 400, method: binding.method, path: target, error: null };
    } catch (error) {
      if (options.signal.aborted) {
        // The run was stopped (cancel, run timeout, shutdown) after the request may have reached the service.
        return { status: null, body: '', isError: true, method: binding.method, path: target, error: null, aborted: true };
      }
      const message = timeout.aborted
        ? `The API did not answer within ${options.timeoutMs} ms (the agent's toolTimeoutMs)`
        : `The API could not be reached: ${redact((error as Error).message, [token])}`;
      return { status: null, body: JSON.stringify({ error: 'TOOL_CALL_FAILED', message }), isError: true, method: binding.method, path: target, error: message };
    }
  }

  private baseUrl(): string {
    if (this.config.API_BASE_URL) return this.config.API_BASE_URL.replace(/\/+$/, '');
    const address = this.http.httpAdapter?.getHttpServer()?.address() as AddressInfo | string | null | undefined;
    if (!address || typeof address === 'string') {
      throw new ToolSourceUnavailable(
        'API_BASE_URL is not set and this process serves no HTTP (a worker, or the app before it listens): set API_BASE_URL to the address of the Forgeline API, e.g. http://127.0.0.1:3000',
      );
    }
    const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  private load(): { tools: ToolDefinition[]; bindings: Map<string, HttpBinding> } {
    if (this.cache && this.cache.revision === this.document.revision) return this.cache;
    const all = toolsFromOpenApi(this.document.get(), { pathPrefix: '/api/' });
    // The API refuses a whole request for one tool whose input has a key it does not accept.
    const tools = all.filter((tool) => {
      const bad = Object.keys(tool.inputSchema.properties ?? {}).filter((key) => !PROPERTY_KEY.test(key));
      if (bad.length > 0) this.logger.warn(`operation ${tool.name} is left out of the agents' tools: its input keys ${bad.join(', ')} do not match ${PROPERTY_KEY.source}`);
      return bad.length === 0;
    });
    this.cache = {
      revision: this.document.revision,
      tools: tools.map((tool) => ({
        name: tool.name,
        description: tool.description,
        inputSchema: tool.inputSchema,
        source: this.name,
        explicitOnly: tool.explicitOnlyReason !== null,
        explicitOnlyReason: tool.explicitOnlyReason,
        method: tool.binding.method,
        path: tool.binding.path,
        requiredScope: tool.requiredScope,
        writeOnlyPaths: tool.writeOnlyPaths,
      })),
      bindings: new Map(tools.map((tool) => [tool.name, tool.binding])),
    };
    return this.cache;
  }
}
