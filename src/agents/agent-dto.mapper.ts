import { AgentApiCall } from './agent-api-call.entity.js';
import { AgentRun } from './agent-run.entity.js';
import { Agent } from './agent.entity.js';
import type { RunWithCalls } from './agent-runs.service.js';
import { AgentApiCallDto, AgentDto, AgentRunDetailDto, AgentRunDto } from './dto/agent.dto.js';

export function toAgentDto(a: Agent): AgentDto {
  return {
    id: a.id,
    name: a.name,
    model: a.model,
    systemPrompt: a.systemPrompt,
    allowedOperations: a.allowedOperations,
    outputSchema: a.outputSchema,
    maxIterations: a.maxIterations,
    maxTokensPerRun: a.maxTokensPerRun,
    temperature: a.temperature,
    runTimeoutMs: a.runTimeoutMs,
    toolTimeoutMs: a.toolTimeoutMs,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}

export function toRunDto(r: AgentRun): AgentRunDto {
  return {
    id: r.id,
    agentId: r.agentId,
    input: r.input,
    startedScope: r.startedScope,
    status: r.status,
    result: r.result ?? null,
    finalText: r.finalText ?? null,
    stopReason: r.stopReason ?? null,
    iterations: r.iterations ?? 0,
    inputTokens: r.inputTokens ?? 0,
    outputTokens: r.outputTokens ?? 0,
    cacheReadTokens: r.cacheReadTokens ?? 0,
    cacheWriteTokens: r.cacheWriteTokens ?? 0,
    modelRequests: r.modelRequests ?? [],
    error: r.error ?? null,
    apiKeyId: r.apiKeyId ?? null,
    cancelRequestedAt: r.cancelRequestedAt ?? null,
    createdAt: r.createdAt,
    startedAt: r.startedAt ?? null,
    finishedAt: r.finishedAt ?? null,
  };
}

export function toCallDto(c: AgentApiCall): AgentApiCallDto {
  return {
    sequence: c.sequence,
    toolUseId: c.toolUseId,
    operationId: c.operationId,
    method: c.method,
    path: c.path,
    request: c.request,
    responseStatus: c.responseStatus,
    responseBody: c.responseBody,
    responseTruncated: c.responseTruncated,
    durationMs: c.durationMs,
    error: c.error,
    createdAt: c.createdAt,
  };
}

export function toRunDetailDto({ run, calls }: RunWithCalls): AgentRunDetailDto {
  return { ...toRunDto(run), calls: calls.map(toCallDto) };
}
