import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsObject, IsOptional } from 'class-validator';
import { SCOPES } from '../../access/api-key.entity.js';
import type { Scope } from '../../access/api-key.entity.js';
import { PageOf, PageQueryDto } from '../../common/pagination.js';
import { STEP_RUN_STATUSES, WORKFLOW_RUN_STATUSES } from '../workflow-definition.js';
import type { StepRunStatus, WorkflowRunStatus } from '../workflow-definition.js';
import { StepDefinitionDto } from './workflow.dto.js';

export class StartWorkflowRunDto {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { name: 'Billing service' },
    description: 'The run\'s input, read by ${{ input.<path> }} (a JSON object of at most MAX_WORKFLOW_INPUT_BYTES)',
  })
  @IsOptional() @IsObject()
  input?: Record<string, unknown>;
}

export class ListWorkflowRunsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: WORKFLOW_RUN_STATUSES })
  @IsOptional() @IsIn(WORKFLOW_RUN_STATUSES)
  status?: WorkflowRunStatus;
}

export class StepLogLineDto {
  @ApiProperty() at!: string;
  @ApiProperty({ enum: ['info', 'warn', 'error'] }) level!: string;
  @ApiProperty() message!: string;
}

export class StepRunDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'scaffold' }) stepId!: string;
  @ApiProperty({ example: 'create_project' }) type!: string;
  @ApiProperty({ enum: STEP_RUN_STATUSES }) status!: StepRunStatus;
  @ApiProperty({ description: '1 on the first attempt; each retry adds one' }) attempt!: number;
  @ApiPropertyOptional({ nullable: true, description: 'The config as resolved for the last attempt (secrets masked)' }) config!: unknown;
  @ApiPropertyOptional({ nullable: true, description: 'What the step returned' }) output!: unknown;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty({ type: [StepLogLineDto], description: 'Log lines of the last attempt (secrets masked)' }) logs!: StepLogLineDto[];
  @ApiProperty({ nullable: true, type: Date }) startedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) finishedAt!: Date | null;
}

export class WorkflowRunDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) workflowId!: string;
  @ApiProperty({ description: 'The workflow version this run executes' }) workflowVersion!: number;
  @ApiProperty({ enum: WORKFLOW_RUN_STATUSES }) status!: WorkflowRunStatus;
  @ApiProperty({ type: 'object', additionalProperties: true }) input!: unknown;
  @ApiProperty({ enum: SCOPES, description: 'The scope of the key that started the run, or last retried it: its agent steps act with no more' }) startedScope!: Scope;
  @ApiPropertyOptional({ nullable: true, description: 'Outputs of the steps nothing else needs, by step id' }) output!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) startedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) finishedAt!: Date | null;
}

export class WorkflowDefinitionSnapshotDto {
  @ApiProperty() name!: string;
  @ApiProperty() version!: number;
  @ApiProperty({ type: [StepDefinitionDto] }) steps!: StepDefinitionDto[];
}

export class WorkflowRunDetailDto extends WorkflowRunDto {
  @ApiProperty({ type: WorkflowDefinitionSnapshotDto, description: 'The definition as it was when the run started' }) definition!: WorkflowDefinitionSnapshotDto;
  @ApiProperty({ type: [StepRunDto], description: 'In definition order' }) steps!: StepRunDto[];
}

export class WorkflowRunPageDto extends PageOf(WorkflowRunDto) {}
