/** The bench-only step type: does nothing, and says when (wall clock, microsecond resolution across processes). */
import { Module } from '@nestjs/common';
import { StepExecutor, StepHandler } from '../../src/workflows/step-executor.js';

export const wallClockMs = (): number => performance.timeOrigin + performance.now();

@StepExecutor({
  type: 'bench_noop',
  description: 'Bench only: returns at once, with the time it ran',
  input: { type: 'object', properties: { n: { type: 'integer' } } },
  output: { type: 'object', required: ['at'], properties: { at: { type: 'number' } } },
})
export class BenchNoopStep implements StepHandler<{ n?: number }, { at: number }> {
  async run(): Promise<{ at: number }> {
    return { at: wallClockMs() };
  }
}

@Module({ providers: [BenchNoopStep] })
export class BenchStepsModule {}
