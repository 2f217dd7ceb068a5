import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentsModule } from '../agents/agents.module.js';
import { ExporterModule } from '../exporter/exporter.module.js';
import { GeneratorModule } from '../generator/generator.module.js';
import { ProjectsModule } from '../projects/projects.module.js';
import { RunCache } from './run-cache.js';
import { RunEventStream } from './run-event-stream.js';
import { RunEvents } from './run-events.js';
import { StepExecutorRegistry } from './step-executor.registry.js';
import { StepRun } from './step-run.entity.js';
import { StepRunStore } from './step-run.store.js';
import { StepRunner } from './step-runner.js';
import { AgentStep } from './steps/agent.step.js';
import { CreateProjectStep } from './steps/create-project.step.js';
import { ExportRepositoryStep } from './steps/export-repository.step.js';
import { GenerateProjectStep } from './steps/generate-project.step.js';
import { HttpRequestStep } from './steps/http-request.step.js';
import { WriteFilesStep } from './steps/write-files.step.js';
import { WorkflowEngine } from './workflow-engine.js';
import { WorkflowRun } from './workflow-run.entity.js';
import { WorkflowRunsController } from './workflow-runs.controller.js';
import { WorkflowRunsService } from './workflow-runs.service.js';
import { Workflow } from './workflow.entity.js';
import { WorkflowsController } from './workflows.controller.js';
import { WorkflowsService } from './workflows.service.js';

/**
 * Workflows: definitions, runs and the engine that executes their steps as jobs on the queue
 * seam. Step types are providers marked @StepExecutor, discovered at boot in any module: the
 * built-in ones are listed here; another module adds a type by providing one more.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Workflow, WorkflowRun, StepRun]), DiscoveryModule, ProjectsModule, GeneratorModule, ExporterModule, AgentsModule],
  controllers: [WorkflowsController, WorkflowRunsController],
  providers: [
    StepExecutorRegistry,
    StepRunStore,
    RunCache,
    RunEvents,
    StepRunner,
    WorkflowEngine,
    WorkflowsService,
    WorkflowRunsService,
    RunEventStream,
    CreateProjectStep,
    WriteFilesStep,
    GenerateProjectStep,
    ExportRepositoryStep,
    AgentStep,
    HttpRequestStep,
  ],
  exports: [WorkflowsService, WorkflowRunsService],
})
export class WorkflowsModule {}
