import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentAPICaller } from './agent-api-caller.js';
import { AgentApiCall } from './agent-api-call.entity.js';
import { AgentRun } from './agent-run.entity.js';
import { AgentRunDispatcher } from './agent-run.dispatcher.js';
import { AgentRunRecorder } from './agent-run.recorder.js';
import { AgentRunsController } from './agent-runs.controller.js';
import { AgentRunsService } from './agent-runs.service.js';
import { Agent } from './agent.entity.js';
import { AgentsController } from './agents.controller.js';
import { AgentsService } from './agents.service.js';
import { AnthropicClient } from './anthropic.client.js';
import { ForgelineApiToolSource } from './forgeline-api.tool-source.js';
import { OpenApiDocumentHolder } from './openapi-document.holder.js';
import { ToolCatalog } from './tool-catalog.js';
import { TOOL_SOURCES, ToolSource } from './tool-source.js';

/**
 * Agents that call the API through tool use (AgentAPICaller), every call recorded. Tool sources
 * are providers under TOOL_SOURCES: another OpenAPI document or an MCP server is one more there.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Agent, AgentRun, AgentApiCall])],
  controllers: [AgentsController, AgentRunsController],
  providers: [
    OpenApiDocumentHolder,
    ForgelineApiToolSource,
    { provide: TOOL_SOURCES, useFactory: (forgeline: ForgelineApiToolSource): ToolSource[] => [forgeline], inject: [ForgelineApiToolSource] },
    ToolCatalog,
    AnthropicClient,
    AgentRunRecorder,
    AgentAPICaller,
    AgentRunDispatcher,
    AgentsService,
    AgentRunsService,
  ],
  exports: [OpenApiDocumentHolder, AgentsService, AgentRunsService],
})
export class AgentsModule {}
