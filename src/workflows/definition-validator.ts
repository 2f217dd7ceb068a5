import { DomainError, ErrorDetail } from '../common/domain-error.js';
import { ExpressionError, findExpressions, hasExpression, parseString, PathExpression } from './expression.js';
import { StepSchemaCompiler } from './json-schema.js';
import { StepDefinition, STEP_ID_PATTERN } from './workflow-definition.js';
import { ancestorsOf, findCycle } from './workflow-graph.js';

/** The limits a definition is checked against (all AppConfig variables). */
export interface DefinitionLimits {
  /** MAX_WORKFLOW_STEPS */
  maxSteps: number;
  /** MAX_WORKFLOW_DEFINITION_BYTES */
  maxDefinitionBytes: number;
  /** MAX_STEP_ATTEMPTS */
  maxAttempts: number;
  /** MAX_STEP_BACKOFF_MS */
  maxBackoffMs: number;
  /** MAX_STEP_TIMEOUT_MS */
  maxTimeoutMs: number;
}

/** What the validator needs to know of a step type. */
export interface StepTypeLookup {
  get(type: string):
    | { secretFields: string[]; checkDefinitionConfig(config: unknown): { valid: boolean; errors: Array<{ path: string; keyword: string; message: string }> } }
    | undefined;
  list(): Array<{ type: string }>;
}

const STEP_SHAPE = {
  type: 'object',
  required: ['id', 'type', 'config'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: STEP_ID_PATTERN.source },
    type: { type: 'string', minLength: 1, maxLength: 64 },
    name: { type: 'string', maxLength: 200 },
    config: { type: 'object' },
    needs: { type: 'array', items: { type: 'string' } },
    if: { type: ['string', 'boolean'] },
    retry: {
      type: 'object',
      required: ['attempts'],
      additionalProperties: false,
      properties: { attempts: { type: 'integer', minimum: 1 }, backoffMs: { type: 'integer', minimum: 0 } },
    },
    timeoutMs: { type: 'integer', minimum: 1 },
    continueOnError: { type: 'boolean' },
  },
};

const shapeCompiler = new StepSchemaCompiler();
const checkShape = shapeCompiler.compile(STEP_SHAPE);
const MAX_DETAILS = 50;

/**
 * Checks a whole definition and returns its steps, normalised (defaults filled in), or throws
 * WORKFLOW_INVALID whose details name each step (`stepId`, `field`) and the rule broken.
 */
export function validateDefinition(rawSteps: unknown, types: StepTypeLookup, limits: DefinitionLimits): StepDefinition[] {
  const details: ErrorDetail[] = [];
  const fail = (): never => {
    const shown = details.slice(0, 3).map((d) => d.message).join('; ');
    const more = details.length > 3 ? ` (and ${details.length - 3} more)` : '';
    throw new DomainError('WORKFLOW_INVALID', `The workflow is invalid: ${shown}${more}`, details.slice(0, MAX_DETAILS));
  };
  const add = (detail: ErrorDetail) => details.push(detail);

  if (!Array.isArray(rawSteps)) {
    add({ field: 'steps', rule: 'type', message: 'steps must be an array of steps' });
    return fail();
  }
  if (rawSteps.length === 0) add({ field: 'steps', rule: 'min-steps', message: 'a workflow needs at least one step' });
  if (rawSteps.length > limits.maxSteps) {
    add({ field: 'steps', rule: 'max-steps', message: `steps has ${rawSteps.length} steps; MAX_WORKFLOW_STEPS is ${limits.maxSteps}` });
  }
  const bytes = Buffer.byteLength(JSON.stringify(rawSteps));
  if (bytes > limits.maxDefinitionBytes) {
    add({ field: 'steps', rule: 'max-definition-bytes', message: `the steps are ${bytes} bytes of JSON; MAX_WORKFLOW_DEFINITION_BYTES is ${limits.maxDefinitionBytes}` });
  }
  if (details.length > 0) return fail();

  // 1. Each step's own shape and limits.
  const steps = rawSteps as StepDefinition[];
  steps.forEach((step, index) => {
    const field = `steps[${index}]`;
    const stepId = typeof (step as { id?: unknown })?.id === 'string' ? step.id : undefined;
    const shape = checkShape(step);
    for (const error of shape.errors) {
      const at = error.path ? `${field}.${error.path}` : field;
      add({ field: at, rule: error.keyword, stepId, message: `${at} ${error.message}` });
    }
    if (!shape.valid) return;
    if (step.retry && step.retry.attempts > limits.maxAttempts) {
      add({ field: `${field}.retry.attempts`, rule: 'max-attempts', stepId, message: `${field}.retry.attempts is ${step.retry.attempts}; MAX_STEP_ATTEMPTS is ${limits.maxAttempts}` });
    }
    if (step.retry?.backoffMs !== undefined && step.retry.backoffMs > limits.maxBackoffMs) {
      add({ field: `${field}.retry.backoffMs`, rule: 'max-backoff', stepId, message: `${field}.retry.backoffMs is ${step.retry.backoffMs}; MAX_STEP_BACKOFF_MS is ${limits.maxBackoffMs}` });
    }
    if (step.timeoutMs !== undefined && step.timeoutMs > limits.maxTimeoutMs) {
      add({ field: `${field}.timeoutMs`, rule: 'max-timeout', stepId, message: `${field}.timeoutMs is ${step.timeoutMs}; MAX_STEP_TIMEOUT_MS is ${limits.maxTimeoutMs}` });
    }
  });
  if (details.length > 0) return fail();

  // 2. Ids, types and needs.
  const indexOf = new Map<string, number>();
  steps.forEach((step, index) => {
    const earlier = indexOf.get(step.id);
    if (earlier !== undefined) {
      add({ field: `steps[${index}].id`, rule: 'duplicate-id', stepId: step.id, message: `steps[${index}].id "${step.id}" is already the id of steps[${earlier}]` });
    } else indexOf.set(step.id, index);
  });
  const known = types.list().map((t) => t.type);
  steps.forEach((step, index) => {
    const field = `steps[${index}]`;
    if (!types.get(step.type)) {
      add({ field: `${field}.type`, rule: 'unknown-type', stepId: step.id, message: `step "${step.id}": type "${step.type}" is not a step type (known: ${known.join(', ')})` });
    }
    const seen = new Set<string>();
    (step.needs ?? []).forEach((need, n) => {
      const at = `${field}.needs[${n}]`;
      if (need === step.id) add({ field: at, rule: 'self-need', stepId: step.id, message: `step "${step.id}" needs itself` });
      else if (!indexOf.has(need)) add({ field: at, rule: 'unknown-need', stepId: step.id, message: `step "${step.id}" needs "${need}", which is not a step of this workflow` });
      else if (seen.has(need)) add({ field: at, rule: 'duplicate-need', stepId: step.id, message: `step "${step.id}" lists "${need}" twice in needs` });
      seen.add(need);
    });
  });
  if (details.length > 0) return fail();

  const cycle = findCycle(steps);
  if (cycle) {
    const index = indexOf.get(cycle[0])!;
    add({ field: `steps[${index}].needs`, rule: 'cycle', stepId: cycle[0], message: `the needs form a cycle: ${cycle.join(' → ')}` });
    return fail();
  }

  // 3. Configs against their type's schema, and expressions.
  const byId = new Map(steps.map((step) => [step.id, step]));
  steps.forEach((step, index) => {
    const field = `steps[${index}]`;
    const check = types.get(step.type)!.checkDefinitionConfig(step.config);
    for (const error of check.errors) {
      const at = error.path ? `${field}.config.${error.path}` : `${field}.config`;
      add({ field: at, rule: 'config-schema', stepId: step.id, schemaKeyword: error.keyword, message: `step "${step.id}": ${at} ${error.message}` });
    }
    const ancestors = ancestorsOf(step.id, byId);
    const secretFields = types.get(step.type)!.secretFields;
    const checkExpressions = (found: Array<{ pointer: string; expression: PathExpression }>) => {
      for (const { pointer, expression } of found) {
        if (expression.root === 'secrets' && !secretFields.some((path) => isWithin(pointer, `config.${path}`))) {
          const allowed = secretFields.length > 0 ? `only in ${secretFields.map((path) => `config.${path}`).join(', ')}` : 'in no field';
          add({
            field: `${field}.${pointer}`,
            rule: 'secret-not-allowed',
            stepId: step.id,
            message: `step "${step.id}": \${{ ${expression.text} }} at ${pointer}: a "${step.type}" step takes secrets ${allowed} (anywhere else the value could end up stored and readable)`,
          });
          continue;
        }
        if (expression.root !== 'steps') continue;
        const target = String(expression.segments[0]);
        const at = `${field}.${pointer}`;
        if (!byId.has(target)) {
          add({ field: at, rule: 'expression-unknown-step', stepId: step.id, message: `step "${step.id}": \${{ ${expression.text} }} names "${target}", which is not a step of this workflow` });
        } else if (!ancestors.has(target)) {
          add({
            field: at,
            rule: 'expression-not-upstream',
            stepId: step.id,
            message: `step "${step.id}": \${{ ${expression.text} }} reads "${target}", which is not an earlier step of "${step.id}": add it to needs (directly or through a step it needs)`,
          });
        }
      }
    };
    try {
      checkExpressions(findExpressions(step.config, 'config'));
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      add({ field: `${field}.${error.pointer ?? 'config'}`, rule: error.rule, stepId: step.id, message: `step "${step.id}": ${error.message}` });
    }
    if (hasExpression(step.if)) {
      try {
        const parts = parseString(step.if).parts.filter((part): part is PathExpression => typeof part !== 'string');
        checkExpressions(parts.map((expression) => ({ pointer: 'if', expression })));
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        add({ field: `${field}.if`, rule: error.rule, stepId: step.id, message: `step "${step.id}": if: ${error.message}` });
      }
    }
  });
  if (details.length > 0) return fail();

  return steps.map((step) => normalise(step));
}

/** Whether `pointer` is `path` or below it (`path.key…`, `path[0]…`). */
function isWithin(pointer: string, path: string): boolean {
  return pointer === path || (pointer.startsWith(path) && (pointer[path.length] === '.' || pointer[path.length] === '['));
}

function normalise(step: StepDefinition): StepDefinition {
  const out: StepDefinition = { id: step.id, type: step.type, config: step.config };
  if (step.name !== undefined) out.name = step.name;
  if (step.needs && step.needs.length > 0) out.needs = [...step.needs];
  if (step.if !== undefined) out.if = step.if;
  if (step.retry) out.retry = { attempts: step.retry.attempts, backoffMs: step.retry.backoffMs ?? 0 };
  if (step.timeoutMs !== undefined) out.timeoutMs = step.timeoutMs;
  if (step.continueOnError !== undefined) out.continueOnError = step.continueOnError;
  return out;
}
