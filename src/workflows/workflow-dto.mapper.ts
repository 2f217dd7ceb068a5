import type { StepDefinitionDto, StepTypeDto, WorkflowDto } from './dto/workflow.dto.js';
import type { StepRunDto, WorkflowRunDetailDto, WorkflowRunDto } from './dto/workflow-run.dto.js';
import type { StepRun } from './step-run.entity.js';
import type { RegisteredStepType } from './step-executor.registry.js';
import type { RunDetail } from './workflow-runs.service.js';
import type { WorkflowRun } from './workflow-run.entity.js';
import type { Workflow } from './workflow.entity.js';

export function toWorkflowDto(w: Workflow): WorkflowDto {
  return {
    id: w.id,
    name: w.name,
    description: w.description,
    version: w.version,
    steps: w.steps as StepDefinitionDto[],
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
  };
}

export function toStepTypeDto(t: RegisteredStepType): StepTypeDto {
  return { type: t.type, description: t.description, input: t.input, output: t.output, secretFields: t.secretFields };
}

export function toRunDto(r: WorkflowRun): WorkflowRunDto {
  return {
    id: r.id,
    workflowId: r.workflowId,
    workflowVersion: r.workflowVersion,
    status: r.status,
    input: r.input,
    startedScope: r.startedScope,
    output: r.output,
    error: r.error,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

export function toStepRunDto(s: StepRun): StepRunDto {
  return {
    id: s.id,
    stepId: s.stepId,
    type: s.type,
    status: s.status,
    attempt: s.attempt,
    config: s.config ?? null,
    output: s.output ?? null,
    error: s.error,
    logs: s.logs,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
  };
}

export function toRunDetailDto({ run, steps }: RunDetail): WorkflowRunDetailDto {
  return { ...toRunDto(run), definition: run.definition as WorkflowRunDetailDto['definition'], steps: steps.map(toStepRunDto) };
}
