import { AgentRunsService } from '../../agents/agent-runs.service.js';
import type { AgentRun } from '../../agents/agent-run.entity.js';
import { sleep } from '../../queue/job-queue.js';
import { finalIfRefused, StepContext, StepExecutor, StepHandler } from '../step-executor.js';

/** How often the step looks at its agent run while it waits. */
const POLL_MS = 100;
const FINISHED = ['succeeded', 'failed', 'cancelled'];

interface AgentInput {
  agentId: string;
  input: string;
}

interface AgentOutput {
  /** The run's structured result (the agent's submit_result, for agents with an output schema), else null. */
  result: unknown;
  /** The agent run: GET /api/agent-runs/{id} lists every API call it made. */
  agentRunId: string;
  finalText: string | null;
  stopReason: string | null;
}


/**
 * Runs an agent on an input and waits: its output is the run's structured result (and the run's
 * id, which leads to every tool call it made). Run again after a crash, it waits for the agent
 * run it started (the step's checkpoint) rather than paying for another.
 */
@StepExecutor({
  type: 'agent',
  description: 'Run an agent (POST /api/agents/{id}/runs) on an input and wait, with no more than the scope of the key that started the workflow run; the output\'s `result` is its structured result',
  input: {
    type: 'object',
    required: ['agentId', 'input'],
    additionalProperties: false,
    properties: {
      agentId: { type: 'string', format: 'uuid' },
      input: { type: 'string', minLength: 1, description: 'The task (at most AGENT_MAX_INPUT_CHARS characters)' },
    },
  },
  output: {
    type: 'object',
    required: ['result', 'agentRunId', 'finalText', 'stopReason'],
    properties: {
      result: { description: 'The structured result, valid against the agent\'s output schema; null for agents without one' },
      agentRunId: { type: 'string', format: 'uuid' },
      finalText: { type: ['string', 'null'] },
      stopReason: { type: ['string', 'null'] },
    },
  },
})
export class AgentStep implements StepHandler<AgentInput, AgentOutput> {
  constructor(private readonly runs: AgentRunsService) {}

  async run(input: AgentInput, ctx: StepContext): Promise<AgentOutput> {
    const saved = ctx.checkpoint as { agentRunId?: string } | null;
    let run: AgentRun | null = saved?.agentRunId ? (await this.runs.get(ctx.workspaceId, saved.agentRunId).catch(() => null))?.run ?? null : null;
    if (run && (run.status === 'queued' || run.status === 'running' || run.status === 'succeeded')) {
      ctx.logger.info(`waiting for agent run ${run.id}, started by an earlier execution`);
    } else {
      run = (await this.runs.start(ctx.workspaceId, input.agentId, { input: input.input, wait: false }, await ctx.actingScope()).catch(finalIfRefused)).run;
      await ctx.saveCheckpoint({ agentRunId: run.id });
      ctx.logger.info(`agent run ${run.id} started`);
    }
    try {
      let iterations = run.iterations;
      while (!FINISHED.includes(run.status)) {
        await sleep(POLL_MS, ctx.signal);
        ctx.signal.throwIfAborted();
        run = (await this.runs.get(ctx.workspaceId, run.id)).run;
        if (run.iterations !== iterations) {
          iterations = run.iterations;
          ctx.progress({ message: `agent run ${run.id}: ${iterations} model request(s)` });
        }
      }
    } catch (error) {
      // A timeout or a cancel ends the agent run too. A shutdown (the step is handed back) or a
      // takeover by another worker does not: the next execution waits for the same run (checkpoint).
      const reason = (ctx.signal.reason as { reason?: string } | undefined)?.reason;
      if (ctx.signal.aborted && run && (reason === 'timeout' || reason === 'cancelled')) {
        ctx.logger.warn(`cancelling agent run ${run.id}`);
        await this.runs.cancel(ctx.workspaceId, run.id).catch(() => undefined);
      }
      throw error;
    }
    if (run.status !== 'succeeded') throw new Error(`agent run ${run.id} ${run.status}: ${run.error ?? run.stopReason ?? 'no reason given'}`);
    ctx.logger.info(`agent run ${run.id} succeeded after ${run.iterations} model request(s) (${run.stopReason})`);
    return { result: run.result ?? null, agentRunId: run.id, finalText: run.finalText, stopReason: run.stopReason };
  }
}
