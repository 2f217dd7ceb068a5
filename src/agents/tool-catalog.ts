import { Inject, Injectable } from '@nestjs/common';
import type { Scope } from '../access/api-key.entity.js';
import { SCOPE_RANK } from '../access/auth-context.js';
import { DomainError, ErrorDetail } from '../common/domain-error.js';
import { ALLOW_ENTRY, allowedTools, isAllowed } from './allow-list.js';
import type { ToolDefinition, ToolSession, ToolSessionScope, ToolSource } from './tool-source.js';
import { TOOL_SOURCES } from './tool-source.js';

/** The name of the tool that ends a run with a structured result; no source may use it. */
export const SUBMIT_RESULT = 'submit_result';

/** Every tool of every source; the allow-list applied; sessions opened per source. */
@Injectable()
export class ToolCatalog {
  constructor(@Inject(TOOL_SOURCES) private readonly sources: ToolSource[]) {}

  list(): ToolDefinition[] {
    const seen = new Map<string, string>();
    const tools: ToolDefinition[] = [];
    for (const source of this.sources) {
      for (const tool of source.tools()) {
        const other = seen.get(tool.name);
        if (other) throw new Error(`Tool "${tool.name}" is offered by both "${other}" and "${source.name}": tool names must be unique`);
        if (tool.name === SUBMIT_RESULT) throw new Error(`Tool source "${source.name}" offers "${SUBMIT_RESULT}", a reserved name`);
        seen.set(tool.name, source.name);
        tools.push(tool);
      }
    }
    return tools;
  }

  allowed(entries: readonly string[]): ToolDefinition[] {
    return allowedTools(this.list(), entries);
  }

  /** Problems of an allow-list: malformed entries, and exact names that no tool has. */
  check(entries: readonly string[], field = 'allowedOperations'): ErrorDetail[] {
    const names = new Set(this.list().map((tool) => tool.name));
    const problems: ErrorDetail[] = [];
    entries.forEach((entry, index) => {
      if (!ALLOW_ENTRY.test(entry)) {
        problems.push({ field: `${field}[${index}]`, rule: 'allow-entry', message: `${field}[${index}] "${entry}" must be an operationId or a pattern of letters, digits, "_", "-" and "*"` });
      } else if (!entry.includes('*') && !names.has(entry)) {
        problems.push({ field: `${field}[${index}]`, rule: 'unknown-operation', message: `${field}[${index}] "${entry}" is not an operation of the tool catalog (GET /api/agents/tools lists them)` });
      }
    });
    return problems;
  }

  /**
   * FORBIDDEN when the allow-list grants an operation that needs more than `scope`: an agent never
   * acts with more than the key that creates, changes or starts it. `operation` names what was asked.
   */
  assertWithin(entries: readonly string[], scope: Scope, operation: string): void {
    const beyond = beyondScope(this.allowed(entries), scope);
    if (beyond.length === 0) return;
    const details: ErrorDetail[] = beyond.map((tool) => {
      const index = entries.findIndex((entry) => isAllowed(tool, [entry]));
      return {
        field: `allowedOperations[${index}]`,
        rule: 'scope',
        operationId: tool.name,
        required: requiredScopeOf(tool),
        message: `${tool.name} needs the "${requiredScopeOf(tool)}" scope`,
      };
    });
    const names = beyond.map((tool) => `${tool.name} (needs "${requiredScopeOf(tool)}")`).join(', ');
    throw new DomainError(
      'FORBIDDEN',
      `${operation}: this key has the "${scope}" scope, and the agent's allow-list grants ${names}. An agent never acts with more than the key that creates, changes or starts it.`,
      details,
    );
  }

  /** One session per source that has tools here; closing it closes them all. */
  async open(tools: ToolDefinition[], scope: ToolSessionScope): Promise<CatalogSession> {
    const sessions = new Map<string, ToolSession>();
    try {
      for (const source of this.sources) {
        const own = tools.filter((tool) => tool.source === source.name);
        if (own.length > 0) sessions.set(source.name, await source.open(own, scope));
      }
    } catch (error) {
      await Promise.allSettled([...sessions.values()].map((session) => session.close()));
      throw error;
    }
    return new CatalogSession(sessions);
  }
}

/** What a tool needs of the key that calls it; `write` when its source does not say. */
export const requiredScopeOf = (tool: ToolDefinition): Scope => tool.requiredScope ?? 'write';

/** The tools that need more than `scope`. */
export function beyondScope(tools: readonly ToolDefinition[], scope: Scope): ToolDefinition[] {
  return tools.filter((tool) => SCOPE_RANK[requiredScopeOf(tool)] > SCOPE_RANK[scope]);
}

export class CatalogSession {
  constructor(private readonly sessions: Map<string, ToolSession>) {}

  get apiKeyIds(): string[] {
    return [...this.sessions.values()].map((session) => session.apiKeyId).filter((id): id is string => id !== null);
  }

  execute(tool: ToolDefinition, input: Record<string, unknown>, options: { signal: AbortSignal; timeoutMs: number }) {
    const session = this.sessions.get(tool.source);
    if (!session) throw new Error(`no session for tool source "${tool.source}"`);
    return session.execute(tool, input, options);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.sessions.values()].map((session) => session.close()));
  }
}
