import { findExpressions, hasExpression, parseString, PathExpression } from './expression.js';
import { FINISHED_STEP_STATUSES, StepDefinition, StepRunStatus } from './workflow-definition.js';

/**
 * A validated definition, prepared for scheduling: steps by id, dependents, and what each
 * step's expressions read. Built once per run snapshot (runs cache it) and never changed.
 */
export class WorkflowGraph {
  readonly steps: ReadonlyMap<string, StepDefinition>;
  /** Steps that need each step. */
  readonly dependents: ReadonlyMap<string, string[]>;
  /** Upstream steps whose output or status a step reads: its needs and its expressions' steps. */
  readonly reads: ReadonlyMap<string, string[]>;
  /** Secret names a step's config and `if` use. */
  readonly secrets: ReadonlyMap<string, string[]>;
  /** Every step downstream of each step (skipped when it fails). */
  readonly descendants: ReadonlyMap<string, string[]>;
  /** Steps whose failure does not fail the run (continueOnError). */
  readonly tolerated: string[];
  /** Steps no other step needs: their outputs make the run's output. */
  readonly leaves: string[];
  /** Steps in an order where every step comes after its needs. */
  readonly order: string[];

  constructor(definitionSteps: StepDefinition[]) {
    const steps = new Map(definitionSteps.map((step) => [step.id, step]));
    const dependents = new Map<string, string[]>(definitionSteps.map((step) => [step.id, []]));
    for (const step of definitionSteps) for (const need of step.needs ?? []) dependents.get(need)?.push(step.id);
    const reads = new Map<string, string[]>();
    const secrets = new Map<string, string[]>();
    for (const step of definitionSteps) {
      const expressions = expressionsOf(step);
      const upstream = new Set(step.needs ?? []);
      const names = new Set<string>();
      for (const expression of expressions) {
        if (expression.root === 'steps') upstream.add(String(expression.segments[0]));
        if (expression.root === 'secrets') names.add(String(expression.segments[0]));
      }
      reads.set(step.id, [...upstream]);
      secrets.set(step.id, [...names]);
    }
    this.steps = steps;
    this.dependents = dependents;
    this.reads = reads;
    this.secrets = secrets;
    const descendants = new Map<string, string[]>();
    for (const step of definitionSteps) {
      const seen = new Set<string>();
      const stack = [...dependents.get(step.id)!];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (seen.has(next)) continue;
        seen.add(next);
        stack.push(...(dependents.get(next) ?? []));
      }
      descendants.set(step.id, [...seen]);
    }
    this.descendants = descendants;
    this.tolerated = definitionSteps.filter((step) => step.continueOnError).map((step) => step.id);
    this.leaves = definitionSteps.filter((step) => dependents.get(step.id)!.length === 0).map((step) => step.id);
    this.order = topologicalOrder(definitionSteps) ?? definitionSteps.map((step) => step.id);
  }

  get roots(): string[] {
    return [...this.steps.values()].filter((step) => (step.needs ?? []).length === 0).map((step) => step.id);
  }

  /**
   * What to do next, given every step's status: the pending steps whose needs are all met
   * (to queue), the pending steps that can never run (to skip), and, once every step has
   * finished, the run's outcome.
   *
   * A need is met when it succeeded, failed with `continueOnError`, or was skipped by its own
   * condition (all its needs met). A need that failed, was cancelled or was skipped because of
   * an upstream failure skips its dependents.
   */
  decide(statuses: ReadonlyMap<string, StepRunStatus>): Decision {
    const met = new Map<string, boolean>();
    const isMet = (id: string): boolean => met.get(id) ?? false;
    const ready: string[] = [];
    const skip: string[] = [];
    const effective = new Map(statuses);
    for (const id of this.order) {
      const step = this.steps.get(id)!;
      const needs = step.needs ?? [];
      let status = effective.get(id) ?? 'pending';
      if (status === 'pending') {
        const needStatuses = needs.map((need) => effective.get(need) ?? 'pending');
        if (needStatuses.every((s) => FINISHED_STEP_STATUSES.has(s))) {
          if (needs.every(isMet)) ready.push(id);
          else {
            skip.push(id);
            status = 'skipped';
            effective.set(id, status);
          }
        }
      }
      met.set(
        id,
        status === 'succeeded' || (status === 'failed' && step.continueOnError === true) || (status === 'skipped' && needs.every(isMet)),
      );
    }
    const finished = [...this.steps.keys()].every((id) => FINISHED_STEP_STATUSES.has(effective.get(id) ?? 'pending')) && ready.length === 0;
    if (!finished) return { ready, skip };
    const failed = [...this.steps.values()].filter((step) => {
      const status = effective.get(step.id);
      return (status === 'failed' && !step.continueOnError) || status === 'cancelled';
    });
    return { ready, skip, outcome: failed.length > 0 ? 'failed' : 'succeeded', failedSteps: failed.map((step) => step.id) };
  }
}

export interface Decision {
  ready: string[];
  skip: string[];
  /** Set once every step has finished. */
  outcome?: 'succeeded' | 'failed';
  failedSteps?: string[];
}

/** Every expression a step holds: in its config and its `if`. Throws ExpressionError. */
export function expressionsOf(step: Pick<StepDefinition, 'config' | 'if'>): PathExpression[] {
  const found = findExpressions(step.config, 'config').map((f) => f.expression);
  if (hasExpression(step.if)) for (const part of parseString(step.if).parts) if (typeof part !== 'string') found.push(part);
  return found;
}

/** Kahn's algorithm; null when the steps hold a cycle. */
export function topologicalOrder(steps: Array<Pick<StepDefinition, 'id' | 'needs'>>): string[] | null {
  const indegree = new Map(steps.map((step) => [step.id, 0]));
  const dependents = new Map<string, string[]>(steps.map((step) => [step.id, []]));
  for (const step of steps) {
    for (const need of new Set(step.needs ?? [])) {
      if (!indegree.has(need)) continue;
      indegree.set(step.id, indegree.get(step.id)! + 1);
      dependents.get(need)!.push(step.id);
    }
  }
  const queue = steps.filter((step) => indegree.get(step.id) === 0).map((step) => step.id);
  const order: string[] = [];
  while (queue.length > 0) {
    const id = queue.shift()!;
    order.push(id);
    for (const next of dependents.get(id)!) {
      indegree.set(next, indegree.get(next)! - 1);
      if (indegree.get(next) === 0) queue.push(next);
    }
  }
  return order.length === steps.length ? order : null;
}

/** One cycle among the steps, as ids (first repeated at the end), or null. */
export function findCycle(steps: Array<Pick<StepDefinition, 'id' | 'needs'>>): string[] | null {
  const needs = new Map(steps.map((step) => [step.id, step.needs ?? []]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 'done' || !needs.has(id)) return null;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const need of needs.get(id)!) {
      const cycle = visit(need);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return null;
  };
  for (const step of steps) {
    const cycle = visit(step.id);
    if (cycle) return cycle.reverse();
  }
  return null;
}

/** Every step `id` depends on, directly or not. */
export function ancestorsOf(id: string, steps: ReadonlyMap<string, Pick<StepDefinition, 'needs'>>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(steps.get(id)?.needs ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(steps.get(next)?.needs ?? []));
  }
  return seen;
}
