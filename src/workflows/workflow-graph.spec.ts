import { StepDefinition, StepRunStatus } from './workflow-definition.js';
import { findCycle, topologicalOrder, WorkflowGraph } from './workflow-graph.js';

const step = (id: string, needs: string[] = [], extra: Partial<StepDefinition> = {}): StepDefinition => ({ id, type: 'noop', config: {}, needs, ...extra });
const statuses = (entries: Record<string, StepRunStatus>) => new Map(Object.entries(entries));

describe('workflow graph', () => {
  const diamond = [step('a'), step('b', ['a']), step('c', ['a']), step('d', ['b', 'c'])];

  it('orders steps after their needs and finds roots and leaves', () => {
    const graph = new WorkflowGraph(diamond);
    expect(graph.roots).toEqual(['a']);
    expect(graph.leaves).toEqual(['d']);
    expect(graph.order.indexOf('a')).toBeLessThan(graph.order.indexOf('b'));
    expect(graph.order.indexOf('c')).toBeLessThan(graph.order.indexOf('d'));
  });

  it('makes both branches ready when their need succeeds', () => {
    expect(new WorkflowGraph(diamond).decide(statuses({ a: 'succeeded', b: 'pending', c: 'pending', d: 'pending' }))).toEqual({ ready: ['b', 'c'], skip: [] });
  });

  it('waits for every need of a join', () => {
    expect(new WorkflowGraph(diamond).decide(statuses({ a: 'succeeded', b: 'succeeded', c: 'running', d: 'pending' }))).toEqual({ ready: [], skip: [] });
    expect(new WorkflowGraph(diamond).decide(statuses({ a: 'succeeded', b: 'succeeded', c: 'succeeded', d: 'pending' })).ready).toEqual(['d']);
  });

  it('skips the dependents of a failed step, and fails the run once everything has finished', () => {
    const graph = new WorkflowGraph([...diamond, step('e')]);
    const decision = graph.decide(statuses({ a: 'succeeded', b: 'failed', c: 'succeeded', d: 'pending', e: 'running' }));
    expect(decision).toEqual({ ready: [], skip: ['d'] });
    const end = graph.decide(statuses({ a: 'succeeded', b: 'failed', c: 'succeeded', d: 'skipped', e: 'succeeded' }));
    expect(end).toMatchObject({ outcome: 'failed', failedSteps: ['b'] });
  });

  it('runs the dependents of a step that failed with continueOnError, and succeeds', () => {
    const graph = new WorkflowGraph([step('a', [], { continueOnError: true }), step('b', ['a'])]);
    expect(graph.decide(statuses({ a: 'failed', b: 'pending' })).ready).toEqual(['b']);
    expect(graph.decide(statuses({ a: 'failed', b: 'succeeded' })).outcome).toBe('succeeded');
  });

  it('treats a step skipped by its condition as met, but cascades a skip caused by a failure', () => {
    const graph = new WorkflowGraph([step('a'), step('b', ['a'], { if: false }), step('c', ['b'])]);
    expect(graph.decide(statuses({ a: 'succeeded', b: 'skipped', c: 'pending' })).ready).toEqual(['c']);
    const chain = new WorkflowGraph([step('a'), step('b', ['a']), step('c', ['b'])]);
    expect(chain.decide(statuses({ a: 'failed', b: 'pending', c: 'pending' }))).toMatchObject({ skip: ['b', 'c'], outcome: 'failed' });
  });

  it('finds a cycle and names it', () => {
    expect(findCycle([step('a', ['c']), step('b', ['a']), step('c', ['b'])])).toEqual(expect.arrayContaining(['a', 'b', 'c']));
    expect(topologicalOrder([step('a', ['b']), step('b', ['a'])])).toBeNull();
    expect(findCycle(diamond)).toBeNull();
  });

  it('records what each step reads and the secrets it uses', () => {
    const graph = new WorkflowGraph([
      step('a'),
      step('b', ['a'], { config: { x: '${{ steps.a.output.v }}', t: '${{ secrets.TOKEN }}' } }),
      step('c', ['b'], { config: { y: '${{ steps.a.output.w }}' } }),
    ]);
    expect(graph.reads.get('b')).toEqual(['a']);
    expect(graph.reads.get('c')!.sort()).toEqual(['a', 'b']);
    expect(graph.secrets.get('b')).toEqual(['TOKEN']);
  });
});
