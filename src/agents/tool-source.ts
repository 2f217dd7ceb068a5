import type { Scope } from '../access/api-key.entity.js';
import type { JsonSchema } from './json-schema.js';

/**
 * The seam between the agent loop and whatever its tools call. Today one source turns
 * Forgeline's own OpenAPI document into tools; another OpenAPI document or an MCP server is one
 * more ToolSource provider under TOOL_SOURCES, and the loop does not change.
 */
export interface ToolDefinition {
  /** Unique across all sources: the name the model calls. */
  name: string;
  description: string;
  /** A JSON Schema of type object, $refs resolved. */
  inputSchema: JsonSchema;
  /** The source's name ("forgeline"). */
  source: string;
  /** Only an exact allow-list entry reaches it (no `*` pattern): deletes, access and credentials, other automation. */
  explicitOnly: boolean;
  /** Why it is explicit-only, as its source declared it. */
  explicitOnlyReason?: string | null;
  /** HTTP operations: what the call will be. */
  method?: string;
  path?: string;
  requiredScope?: Scope;
  /**
   * Input fields that are write-only (secret values, tokens): paths of property names, `*` for
   * every item. A run records and shows them as [redacted], and takes their values out of any text.
   */
  writeOnlyPaths?: string[][];
}

export interface ToolSessionScope {
  workspaceId: string;
  runId: string;
  /** When the session's credentials must stop working at the latest. */
  expiresAt: Date;
  /** The most its credentials may hold: the scope of the key that started the run. */
  maxScope: Scope;
}

/** What a tool call did: the loop turns it into a tool_result and a recorded call. */
export interface ToolOutcome {
  /** The API's answer, when the call reached it. */
  status: number | null;
  /** The whole answer as text (JSON, text, or base64 for binary). */
  body: string;
  isError: boolean;
  method: string | null;
  /** The concrete path called (parameters filled in). */
  path: string | null;
  /** Why it failed before an answer (timeout, connection), if so. */
  error: string | null;
  /**
   * The run was stopped (cancel, run timeout, shutdown) while the call was in flight: it may
   * have been executed all the same. The loop records it so, then ends the run.
   */
  aborted?: boolean;
}

/** Credentials and state for one run; closed (keys revoked) when the run ends. */
export interface ToolSession {
  /** Set when the session holds a Forgeline API key (its id, never the token). */
  readonly apiKeyId: string | null;
  execute(tool: ToolDefinition, input: Record<string, unknown>, options: { signal: AbortSignal; timeoutMs: number }): Promise<ToolOutcome>;
  close(): Promise<void>;
}

/** A source cannot serve runs as configured; its message says what to set. Fails the run with it. */
export class ToolSourceUnavailable extends Error {
  override name = 'ToolSourceUnavailable';
}

export interface ToolSource {
  readonly name: string;
  /** The tools it offers now. */
  tools(): ToolDefinition[];
  /** Opens a session able to call `tools` (a subset of its own) for one run. */
  open(tools: ToolDefinition[], scope: ToolSessionScope): Promise<ToolSession>;
}

/** Injection token: every ToolSource provider, in priority order. */
export const TOOL_SOURCES = Symbol('TOOL_SOURCES');
