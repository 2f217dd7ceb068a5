import { Inject, Injectable } from '@nestjs/common';
import type { ErrorDetail } from '../common/domain-error.js';
import { ALLOW_ENTRY, allowedTools } from './allow-list.js';
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
