import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Length, MaxLength, Min } from 'class-validator';
import { SCOPES } from '../../access/api-key.entity.js';
import type { Scope } from '../../access/api-key.entity.js';
import { PageOf, PageQueryDto } from '../../common/pagination.js';
import { HasNoNul, IsOptionalNotNull } from '../../common/validators.js';
import { RUN_STATUSES, STOP_REASONS } from '../agent-run.entity.js';
import type { ModelRequestUsage, RunStatus, StopReason } from '../agent-run.entity.js';

export class CreateAgentDto {
  @ApiProperty({ example: 'Project scaffolder', minLength: 1, maxLength: 200 })
  @IsString() @Length(1, 200) @HasNoNul()
  name!: string;

  @ApiPropertyOptional({ example: 'claude-sonnet-5-5', description: 'A Claude model id; ANTHROPIC_MODEL when omitted' })
  @IsOptionalNotNull() @IsString() @Length(1, 100) @HasNoNul()
  model?: string;

  @ApiPropertyOptional({ example: 'You set up small TypeScript projects in Forgeline.', maxLength: 100000 })
  @IsOptionalNotNull() @IsString() @MaxLength(100000) @HasNoNul()
  systemPrompt?: string;

  @ApiProperty({
    type: [String],
    example: ['createProject', 'upsertProjectFiles', 'get*', 'list*'],
    description:
      'operationIds (GET /api/agents/tools lists them) and patterns with "*". Explicit-only operations (deletes, access and credentials, agents and workflows) are reached only by their exact name, never by a pattern. None may need more than the caller\'s scope.',
  })
  @IsArray() @ArrayMaxSize(500) @IsString({ each: true })
  allowedOperations!: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    example: { type: 'object', properties: { projectId: { type: 'string' } }, required: ['projectId'] },
    description: 'A JSON Schema: the run must end by calling submit_result with an input valid against it, which becomes the run\'s result. null removes it.',
  })
  @IsOptional() @IsObject() @HasNoNul()
  outputSchema?: Record<string, unknown> | null;

  @ApiPropertyOptional({ minimum: 1, example: 25, description: 'Most model requests per run (AGENT_DEFAULT_MAX_ITERATIONS; at most AGENT_MAX_ITERATIONS_LIMIT)' })
  @IsOptionalNotNull() @IsInt() @Min(1)
  maxIterations?: number;

  @ApiPropertyOptional({ minimum: 1, example: 200000, description: 'Token budget per run, input, cache and output together (AGENT_DEFAULT_MAX_TOKENS_PER_RUN)' })
  @IsOptionalNotNull() @IsInt() @Min(1)
  maxTokensPerRun?: number;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    deprecated: true,
    example: null,
    description: 'Deprecated: only null (or leaving it out) is accepted. The Messages API version this service speaks (2026-10-21) has no sampling parameters and refuses a temperature. null clears a value an older agent kept; runs never send it.',
  })
  @IsOptional() @IsNumber()
  temperature?: number | null;

  @ApiPropertyOptional({ minimum: 1000, example: 600000, description: 'Run timeout in ms (AGENT_DEFAULT_RUN_TIMEOUT_MS; at most AGENT_MAX_RUN_TIMEOUT_MS)' })
  @IsOptionalNotNull() @IsInt() @Min(1000)
  runTimeoutMs?: number;

  @ApiPropertyOptional({ minimum: 100, example: 30000, description: 'Timeout of one API call in ms (AGENT_DEFAULT_TOOL_TIMEOUT_MS)' })
  @IsOptionalNotNull() @IsInt() @Min(100)
  toolTimeoutMs?: number;
}

/** Null clears outputSchema and temperature; any other field sent as null is refused, not ignored. */
export class UpdateAgentDto extends PartialType(CreateAgentDto, { skipNullProperties: false }) {}

export class AgentDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() model!: string;
  @ApiProperty() systemPrompt!: string;
  @ApiProperty({ type: [String] }) allowedOperations!: string[];
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true }) outputSchema!: Record<string, unknown> | null;
  @ApiProperty() maxIterations!: number;
  @ApiProperty() maxTokensPerRun!: number;
  @ApiProperty({ nullable: true, type: Number, deprecated: true, description: 'Deprecated and ignored by runs: a value kept from before it was refused; null otherwise' }) temperature!: number | null;
  @ApiProperty() runTimeoutMs!: number;
  @ApiProperty() toolTimeoutMs!: number;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class AgentPageDto extends PageOf(AgentDto) {}

export class AgentToolDto {
  @ApiProperty({ example: 'createProject', description: 'The tool name: the operationId' }) name!: string;
  @ApiProperty({ example: 'Create a project (POST /api/projects)' }) description!: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'JSON Schema of the input: path and query parameters and the JSON body' }) inputSchema!: Record<string, unknown>;
  @ApiProperty({ example: 'forgeline', description: 'The tool source' }) source!: string;
  @ApiProperty({ description: 'Only an exact allow-list entry reaches it, never a "*" pattern' }) explicitOnly!: boolean;
  @ApiProperty({ nullable: true, type: String, example: 'starts automation', description: 'Why it is explicit-only: what its module declared (deletes, credentials, access management, other automation)' }) explicitOnlyReason!: string | null;
  @ApiPropertyOptional({ example: 'POST' }) method?: string;
  @ApiPropertyOptional({ example: '/api/projects' }) path?: string;
  @ApiPropertyOptional({ example: 'write' }) requiredScope?: string;
}

export class StartAgentRunDto {
  @ApiProperty({ example: 'Create a project named "demo" with a README.md', description: 'The task: the first user message (at most AGENT_MAX_INPUT_CHARS characters)' })
  @IsString() @Length(1, 10_000_000) @HasNoNul()
  input!: string;

  @ApiPropertyOptional({ default: false, description: 'true: run now and answer with the finished run (200); false: 202 with the queued run' })
  @IsOptionalNotNull() @IsBoolean()
  wait?: boolean;
}

export class ListAgentRunsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: RUN_STATUSES })
  @IsOptional() @IsIn(RUN_STATUSES)
  status?: RunStatus;
}

export class ModelRequestUsageDto implements ModelRequestUsage {
  @ApiProperty() iteration!: number;
  @ApiProperty() inputTokens!: number;
  @ApiProperty() outputTokens!: number;
  @ApiProperty() cacheReadTokens!: number;
  @ApiProperty() cacheWriteTokens!: number;
  @ApiProperty({ nullable: true, type: String }) stopReason!: string | null;
  @ApiProperty() durationMs!: number;
}

export class AgentRunDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) agentId!: string;
  @ApiProperty() input!: string;
  @ApiProperty({ enum: SCOPES, description: 'The scope of the key that started the run (in a workflow: of the key that started the workflow run); the run\'s key never holds more' }) startedScope!: Scope;
  @ApiProperty({ enum: RUN_STATUSES }) status!: RunStatus;
  @ApiPropertyOptional({ nullable: true, description: 'The validated submit_result input (agents with an output schema)' }) result!: unknown;
  @ApiProperty({ nullable: true, type: String, description: 'The model\'s last text' }) finalText!: string | null;
  @ApiProperty({ nullable: true, enum: STOP_REASONS }) stopReason!: StopReason | null;
  @ApiProperty({ description: 'Model requests made' }) iterations!: number;
  @ApiProperty() inputTokens!: number;
  @ApiProperty() outputTokens!: number;
  @ApiProperty() cacheReadTokens!: number;
  @ApiProperty() cacheWriteTokens!: number;
  @ApiProperty({ type: [ModelRequestUsageDto] }) modelRequests!: ModelRequestUsageDto[];
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'The run\'s short-lived API key (revoked when the run ends)' }) apiKeyId!: string | null;
  @ApiProperty({ nullable: true, type: Date }) cancelRequestedAt!: Date | null;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) startedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) finishedAt!: Date | null;
}

export class AgentApiCallDto {
  @ApiProperty({ description: '1, 2, 3… in call order' }) sequence!: number;
  @ApiProperty() toolUseId!: string;
  @ApiProperty({ description: 'The tool the model called' }) operationId!: string;
  @ApiProperty({ nullable: true, type: String }) method!: string | null;
  @ApiProperty({ nullable: true, type: String }) path!: string | null;
  @ApiProperty({ nullable: true, description: 'The tool input; write-only fields (secret values, tokens) show as "[redacted]"' }) request!: unknown;
  @ApiProperty({ nullable: true, type: Number, description: 'null: not executed (refused) or no answer' }) responseStatus!: number | null;
  @ApiProperty({ nullable: true, type: String, description: 'At most AGENT_RECORDED_RESPONSE_MAX_BYTES' }) responseBody!: string | null;
  @ApiProperty() responseTruncated!: boolean;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty() createdAt!: Date;
}

export class AgentRunDetailDto extends AgentRunDto {
  @ApiProperty({ type: [AgentApiCallDto], description: 'Every tool call, in order' }) calls!: AgentApiCallDto[];
}

export class AgentRunPageDto extends PageOf(AgentRunDto) {}
