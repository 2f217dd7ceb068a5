import { Injectable } from '@nestjs/common';
import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { Middleware } from '@anthropic-ai/sdk';
import type { Message, MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { redact } from './text.js';

/** Statuses the SDK retries (with its own backoff, honouring Retry-After). */
const RETRIED = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500;

/** A model request that failed for good (after the SDK's retries, or not retryable). */
export class LlmError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}

/**
 * The SDK waits what Retry-After says; without it, its own backoff starts at 0.5 s. This
 * middleware supplies `retry-after-ms` from AGENT_LLM_RETRY_BASE_DELAY_MS (doubling, capped at
 * AGENT_LLM_RETRY_MAX_DELAY_MS) on retryable answers that carry no Retry-After.
 */
export function retryPacing(baseMs: number, maxMs: number): Middleware {
  return async (request, next) => {
    const response = await next(request);
    if (!RETRIED(response.status) || response.headers.has('retry-after') || response.headers.has('retry-after-ms')) return response;
    const attempt = Number(new Headers(request.headers as ConstructorParameters<typeof Headers>[0]).get('x-stainless-retry-count') ?? 0) || 0;
    const delay = Math.min(baseMs * 2 ** attempt, maxMs);
    const headers = new Headers(response.headers);
    // 0 would make the SDK fall back to its own default; 1 ms is as good as none.
    headers.set('retry-after-ms', String(Math.max(1, delay)));
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}

/**
 * The one place that talks to the Anthropic Messages API (through @anthropic-ai/sdk). The key
 * comes from ANTHROPIC_API_KEY and goes nowhere else: errors are redacted before they leave.
 */
@Injectable()
export class AnthropicClient {
  private readonly client: Anthropic | null;

  constructor(private readonly config: AppConfig) {
    this.client = config.ANTHROPIC_API_KEY
      ? new Anthropic({
          apiKey: config.ANTHROPIC_API_KEY,
          // Explicit, so that no stray ANTHROPIC_BASE_URL in the environment can redirect requests.
          baseURL: config.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com',
          maxRetries: config.AGENT_LLM_MAX_RETRIES,
          timeout: config.AGENT_LLM_REQUEST_TIMEOUT_MS,
          middleware: [retryPacing(config.AGENT_LLM_RETRY_BASE_DELAY_MS, config.AGENT_LLM_RETRY_MAX_DELAY_MS)],
          logLevel: 'off',
        })
      : null;
  }

  get configured(): boolean {
    return this.client !== null;
  }

  /** Throws LLM_NOT_CONFIGURED (503) naming the variable to set. */
  assertConfigured(): void {
    if (!this.client) throw new DomainError('LLM_NOT_CONFIGURED', 'Agent runs need an Anthropic API key: set ANTHROPIC_API_KEY (and restart the service)');
  }

  async createMessage(params: MessageCreateParamsNonStreaming, signal: AbortSignal): Promise<Message> {
    this.assertConfigured();
    try {
      return await this.client!.messages.create(params, { signal });
    } catch (error) {
      if (signal.aborted || error instanceof APIUserAbortError) throw error;
      throw this.describe(error);
    }
  }

  private describe(error: unknown): LlmError {
    const secret = [this.config.ANTHROPIC_API_KEY];
    if (error instanceof APIConnectionTimeoutError) {
      return new LlmError(`The Anthropic API did not answer within ${this.config.AGENT_LLM_REQUEST_TIMEOUT_MS} ms (AGENT_LLM_REQUEST_TIMEOUT_MS), ${this.config.AGENT_LLM_MAX_RETRIES} retries included`, null);
    }
    if (error instanceof APIConnectionError) {
      return new LlmError(redact(`The Anthropic API could not be reached after ${this.config.AGENT_LLM_MAX_RETRIES} retries: ${error.message}`, secret), null);
    }
    if (error instanceof APIError && typeof error.status === 'number') {
      const body = error.error as { error?: { type?: string; message?: string } } | undefined;
      const type = body?.error?.type ?? 'error';
      const detail = body?.error?.message ?? error.message;
      const retried = RETRIED(error.status) ? ` after ${this.config.AGENT_LLM_MAX_RETRIES} retries` : ' (not retried)';
      return new LlmError(redact(`The Anthropic API answered ${error.status} ${type}${retried}: ${detail}`, secret), error.status);
    }
    return new LlmError(redact(`The model request failed: ${(error as Error)?.message ?? String(error)}`, secret), null);
  }
}
