import type { AgentRunsService } from '../../agents/agent-runs.service.js';
import type { StepContext } from '../step-executor.js';
import { StepAbort } from '../step-runner.js';
import type { AbortReason } from '../step-runner.js';
import { AgentStep } from './agent.step.js';

/** An agent step waiting on a run that never ends, aborted for `reason`: was the agent run cancelled? */
async function cancelledWhenAborted(reason: AbortReason): Promise<boolean> {
  const run = { id: 'run-1', status: 'running', iterations: 0 };
  let cancelled = false;
  const runs = {
    get: async () => ({ run }),
    start: async () => ({ run }),
    cancel: async () => {
      cancelled = true;
    },
  } as unknown as AgentRunsService;
  const controller = new AbortController();
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const ctx = {
    workspaceId: 'w',
    checkpoint: { agentRunId: run.id },
    signal: controller.signal,
    logger,
    progress: () => undefined,
    saveCheckpoint: async () => undefined,
  } as unknown as StepContext;
  const running = new AgentStep(runs).run({ agentId: 'a', input: 'x' }, ctx);
  setTimeout(() => controller.abort(new StepAbort(reason)), 20);
  await expect(running).rejects.toBeInstanceOf(StepAbort);
  return cancelled;
}

describe('the agent step, aborted', () => {
  it.each([
    ['timeout', true],
    ['cancelled', true],
    ['shutdown', false],
    ['lost', false],
  ] as const)('on %s, cancels its agent run: %s', async (reason, expected) => {
    expect(await cancelledWhenAborted(reason)).toBe(expected);
  });
});
