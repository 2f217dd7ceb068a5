/**
 * A scripted fake of the Anthropic Messages API (POST /v1/messages) on loopback, for the tests
 * and the bench: the real SDK is pointed at it with ANTHROPIC_BASE_URL. Each script is keyed by
 * a marker the run's input contains, so runs of different tests never take each other's turns.
 *
 * It also checks the shape of every request the SDK sends, by the rules of the real API at the
 * version the SDK speaks: the API key and `anthropic-version`, no top-level field the SDK's
 * MessageCreateParams does not have, roles, non-empty content, tools, their input_schema property
 * keys and cache_control (at most 4 breakpoints), every tool_use answered by a tool_result with its
 * id in the next user message, no lone surrogate in any string, no Forgeline key in the prompt. A
 * request that breaks a rule is answered 400 like the real API and listed in `violations`.
 */
import type { MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, any>;

export interface ContentBlock {
  type: 'text' | 'tool_use';
  [key: string]: unknown;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** A model turn. */
export interface TurnReply {
  content: ContentBlock[];
  stop_reason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'pause_turn' | 'refusal' | 'model_context_window_exceeded';
  usage?: Partial<Usage>;
}

/** An HTTP error answer, as the real API would send it. */
export interface ErrorReply {
  status: number;
  type?: string;
  message?: string;
  headers?: Record<string, string>;
}

export type Reply = TurnReply | ErrorReply;

/** What a step sees: the request body and helpers. */
export interface StepContext {
  request: Json;
  /** The tool_result blocks of the last user message. */
  toolResults: Array<{ tool_use_id: string; content: string; is_error?: boolean }>;
}

export type Step = Reply | ((ctx: StepContext) => Reply | Promise<Reply>);

export interface RecordedRequest {
  marker: string | null;
  headers: Record<string, string | string[] | undefined>;
  body: Json;
  receivedAt: number;
  /** When the answer to it was sent (performance.now()). */
  answeredAt: number;
}

interface Script {
  steps: Step[];
  /** Used when the steps run out (e.g. a re-asked model, a run looping until its limit). */
  fallback?: Step;
  cursor: number;
}

let ids = 0;
const nextId = (prefix: string) => `${prefix}_${(++ids).toString(36).padStart(8, '0')}${Math.random().toString(36).slice(2, 10)}`;

export const text = (value: string): ContentBlock => ({ type: 'text', text: value });
export const toolUse = (name: string, input: Json, id = nextId('toolu')): ContentBlock => ({ type: 'tool_use', id, name, input });
/** A turn that calls these tools (stop_reason tool_use). */
export const callTools = (...uses: ContentBlock[]): TurnReply => ({ content: uses, stop_reason: 'tool_use' });
/** A final turn. */
export const endTurn = (value = 'Done.'): TurnReply => ({ content: [text(value)], stop_reason: 'end_turn' });
export const httpError = (status: number, type: string, message: string, headers?: Record<string, string>): ErrorReply => ({ status, type, message, headers });

const DEFAULT_USAGE: Usage = { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** The API's rule for the property keys of a tool's input_schema. */
const PROPERTY_KEY = /^[a-zA-Z0-9_.-]{1,64}$/;
const FORGELINE_TOKEN = /fl_[A-Za-z0-9_-]{32,}/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_CACHE_BREAKPOINTS = 4;

/** The API version whose rules this fake checks: the one @anthropic-ai/sdk 1.13 sends. */
export const ANTHROPIC_VERSION = '2026-10-21';

/**
 * Where each key of the SDK's MessageCreateParams goes. `satisfies` makes tsc fail here when the
 * SDK adds or drops a key, so the set of allowed body fields is the SDK's, kept in step.
 */
const PARAM_PLACES = {
  max_tokens: 'body',
  messages: 'body',
  model: 'body',
  cache_control: 'body',
  container: 'body',
  diagnostics: 'body',
  inference_geo: 'body',
  metadata: 'body',
  output_config: 'body',
  service_tier: 'body',
  speed: 'body',
  stop_sequences: 'body',
  stream: 'body',
  system: 'body',
  thinking: 'body',
  tool_choice: 'body',
  tools: 'body',
  user_profile_id: 'header',
  workspace_id: 'header',
} as const satisfies Record<keyof MessageCreateParamsBase, 'body' | 'header'>;

/** The top-level fields a request body may have. */
export const BODY_FIELDS: ReadonlySet<string> = new Set(Object.entries(PARAM_PLACES).filter(([, place]) => place === 'body').map(([key]) => key));

export class FakeAnthropicServer {
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  private readonly scripts = new Map<string, Script>();
  private server: Server | null = null;
  url = '';

  /** @param apiKey the key every request must carry in x-api-key. */
  constructor(readonly apiKey = 'fake-llm-test-key-0123456789abcdef') {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The turns of the run whose input contains `marker`, in order; `fallback` once they run out. */
  script(marker: string, steps: Step[], fallback?: Step): void {
    this.scripts.set(marker, { steps, fallback, cursor: 0 });
  }

  /** The requests of one script, in order. */
  requestsOf(marker: string): RecordedRequest[] {
    return this.requests.filter((request) => request.marker === marker);
  }

  private markerOf(body: Json): string | null {
    const first = body.messages?.[0];
    const content = typeof first?.content === 'string' ? first.content : (first?.content ?? []).map((b: Json) => b.text ?? '').join('');
    for (const marker of this.scripts.keys()) if (content.includes(marker)) return marker;
    return null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Json;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return this.send(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'body is not JSON' } });
    }
    const marker = this.markerOf(body);
    const record: RecordedRequest = { marker, headers: req.headers, body, receivedAt, answeredAt: 0 };
    this.requests.push(record);
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
      return this.send(res, 404, { type: 'error', error: { type: 'not_found_error', message: `${req.method} ${req.url}` } }, record);
    }
    if (keyOf(req.headers) !== this.apiKey) {
      return this.send(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }, record);
    }
    const problems = checkRequest(body, req.headers);
    if (problems.length > 0) {
      this.violations.push(...problems.map((p) => `${marker ?? '?'}: ${p}`));
      return this.send(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: problems.join('; ') } }, record);
    }
    const script = marker ? this.scripts.get(marker) : undefined;
    if (!script) {
      this.violations.push(`no script for a request whose first message is ${JSON.stringify(body.messages?.[0]).slice(0, 200)}`);
      return this.send(res, 500, { type: 'error', error: { type: 'api_error', message: 'fake server: no script' } }, record);
    }
    const step = script.cursor < script.steps.length ? script.steps[script.cursor++] : script.fallback;
    if (!step) {
      this.violations.push(`${marker}: script exhausted after ${script.steps.length} steps`);
      return this.send(res, 500, { type: 'error', error: { type: 'api_error', message: 'fake server: script exhausted' } }, record);
    }
    const last = body.messages[body.messages.length - 1];
    const toolResults = Array.isArray(last?.content) ? last.content.filter((b: Json) => b.type === 'tool_result') : [];
    const reply = typeof step === 'function' ? await step({ request: body, toolResults }) : step;
    if ('status' in reply) {
      return this.send(res, reply.status, { type: 'error', error: { type: reply.type ?? 'api_error', message: reply.message ?? 'error' } }, record, reply.headers);
    }
    const stop = reply.stop_reason ?? (reply.content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
    this.send(res, 200, {
      id: nextId('msg'),
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: reply.content,
      stop_reason: stop,
      stop_sequence: null,
      usage: { ...DEFAULT_USAGE, ...reply.usage },
    }, record);
  }

  private send(res: ServerResponse, status: number, payload: Json, record?: RecordedRequest, headers: Record<string, string> = {}): void {
    const data = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'request-id': nextId('req'), ...headers });
    res.end(data);
    if (record) record.answeredAt = performance.now();
  }
}

/** The API key a request carries: `x-api-key`, or `Authorization: Bearer` (what SDK 1.13 sends). */
export function keyOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(String(headers.authorization ?? ''))?.[1];
  return (headers['x-api-key'] as string | undefined) ?? bearer;
}

/** The rules of the real API that the agent loop depends on. */
export function checkRequest(body: Json, headers: Record<string, string | string[] | undefined>): string[] {
  const problems: string[] = [];
  const version = headers['anthropic-version'];
  if (!version) problems.push('anthropic-version: header is required');
  else if (version !== ANTHROPIC_VERSION) problems.push(`anthropic-version: "${version}" is not the version this API speaks (${ANTHROPIC_VERSION})`);
  for (const key of Object.keys(body)) if (!BODY_FIELDS.has(key)) problems.push(`${key}: Extra inputs are not permitted`);
  const lone = loneSurrogatePath(body, '');
  if (lone !== null) problems.push(`The request body is not valid JSON: no low surrogate in string (at ${lone || 'the top level'})`);
  const breakpoints = cacheBreakpoints(body);
  if (breakpoints > MAX_CACHE_BREAKPOINTS) problems.push(`A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`);
  if (typeof body.model !== 'string' || !body.model) problems.push('model: required');
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) problems.push('max_tokens: a positive integer is required');
  if (!Array.isArray(body.messages) || body.messages.length === 0) return [...problems, 'messages: at least one is required'];
  if (FORGELINE_TOKEN.test(JSON.stringify(body))) problems.push('a Forgeline API key appears in the request');
  if (body.system !== undefined) {
    const blocks = Array.isArray(body.system) ? body.system : null;
    if (!blocks?.at(-1)?.cache_control) problems.push('system: expected text blocks with cache_control on the last one');
  }
  const toolNames = new Set<string>();
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools) || body.tools.length === 0) problems.push('tools: must be a non-empty array when present');
    for (const [index, tool] of (body.tools ?? []).entries()) {
      if (!TOOL_NAME.test(tool.name ?? '')) problems.push(`tools.${index}.name: "${tool.name}" does not match ${TOOL_NAME}`);
      if (toolNames.has(tool.name)) problems.push(`tools: duplicate name ${tool.name}`);
      toolNames.add(tool.name);
      if (tool.input_schema?.type !== 'object') problems.push(`tools.${index}.input_schema.type: must be "object"`);
      for (const key of Object.keys(tool.input_schema?.properties ?? {})) {
        if (!PROPERTY_KEY.test(key)) problems.push(`tools.${index}.custom.input_schema.properties: Property keys should match pattern '${PROPERTY_KEY.source}' (got ${JSON.stringify(key)})`);
      }
      if (typeof tool.description !== 'string') problems.push(`tools.${index}.description: required`);
      if (JSON.stringify(tool.input_schema ?? {}).includes('"$ref"')) problems.push(`tools.${index}.input_schema: unresolved $ref`);
    }
    if (Array.isArray(body.tools) && body.tools.length > 0 && !body.tools.at(-1).cache_control) problems.push('tools: expected cache_control on the last tool');
  }
  const messages: Json[] = body.messages;
  messages.forEach((message, index) => {
    const expected = index % 2 === 0 ? 'user' : 'assistant';
    if (message.role !== expected) problems.push(`messages.${index}.role: expected ${expected} (roles must alternate, starting with user)`);
    const empty = typeof message.content === 'string' ? message.content.length === 0 : !Array.isArray(message.content) || message.content.length === 0;
    const finalAssistant = index === messages.length - 1 && message.role === 'assistant';
    if (empty && !finalAssistant) problems.push(`messages.${index}: all messages must have non-empty content except for the optional final assistant message`);
    const blocks: Json[] = Array.isArray(message.content) ? message.content : [];
    const uses = message.role === 'assistant' ? blocks.filter((b) => b.type === 'tool_use') : [];
    if (uses.length > 0) {
      const next = messages[index + 1];
      if (!next) {
        problems.push(`messages.${index}: tool_use blocks without a following user message`);
        return;
      }
      const results: Json[] = Array.isArray(next.content) ? next.content.filter((b: Json) => b.type === 'tool_result') : [];
      const resultIds = results.map((r) => r.tool_use_id);
      const useIds = uses.map((u) => u.id);
      if (JSON.stringify(resultIds) !== JSON.stringify(useIds)) {
        problems.push(`messages.${index + 1}: tool_result ids ${JSON.stringify(resultIds)} must answer tool_use ids ${JSON.stringify(useIds)} in order`);
      }
      const leading: Json[] = Array.isArray(next.content) ? next.content.slice(0, results.length) : [];
      if (leading.some((b) => b.type !== 'tool_result')) problems.push(`messages.${index + 1}: tool_result blocks must come first`);
    }
    if (message.role === 'user') {
      const previous = messages[index - 1];
      const previousIds = new Set(
        (Array.isArray(previous?.content) ? previous.content : []).filter((b: Json) => b.type === 'tool_use').map((b: Json) => b.id),
      );
      for (const result of blocks.filter((b) => b.type === 'tool_result')) {
        if (!previousIds.has(result.tool_use_id)) problems.push(`messages.${index}: tool_result ${result.tool_use_id} answers no tool_use of the previous message`);
      }
    }
  });
  // A final assistant message is a turn given back to be continued (after pause_turn): it must have content.
  if (messages.at(-1)?.role !== 'user' && messages.at(-1)?.role !== 'assistant') problems.push('the last message must be a user or an assistant message');
  return problems;
}

/** Where a string (a key or a value) holds a lone surrogate, as a dotted path; null when none does. */
function loneSurrogatePath(value: unknown, path: string): string | null {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? path : null;
  if (!value || typeof value !== 'object') return null;
  for (const [key, sub] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (LONE_SURROGATE.test(key)) return at;
    const found = loneSurrogatePath(sub, at);
    if (found !== null) return found;
  }
  return null;
}

/** Blocks (and the request itself) that carry cache_control; schemas are data, not blocks. */
function cacheBreakpoints(value: unknown): number {
  if (!value || typeof value !== 'object') return 0;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + cacheBreakpoints(item), 0);
  let count = (value as Json).cache_control ? 1 : 0;
  for (const [key, sub] of Object.entries(value)) if (key !== 'input_schema' && key !== 'input' && key !== 'cache_control') count += cacheBreakpoints(sub);
  return count;
}

/** Starts a fake server; close it in afterAll. */
export async function startFakeAnthropic(apiKey?: string): Promise<FakeAnthropicServer> {
  return new FakeAnthropicServer(apiKey).start();
}
