import { DomainError } from '../common/domain-error.js';
import { DefinitionLimits, validateDefinition } from './definition-validator.js';
import { StepExecutorRegistry } from './step-executor.registry.js';

const limits: DefinitionLimits = { maxSteps: 5, maxDefinitionBytes: 100_000, maxAttempts: 4, maxBackoffMs: 10_000, maxTimeoutMs: 60_000 };

function registry(): StepExecutorRegistry {
  const types = new StepExecutorRegistry({ getProviders: () => [] } as never);
  const run = async () => ({});
  types.add(
    {
      type: 'echo',
      description: 'test',
      input: {
        type: 'object',
        required: ['text'],
        additionalProperties: false,
        properties: { text: { type: 'string', minLength: 1 }, count: { type: 'integer' }, items: { type: 'array', items: { type: 'string' } }, auth: { type: 'object' } },
      },
      output: { type: 'object' },
      secretFields: ['auth.token'],
    },
    { run },
  );
  return types;
}

function refusal(steps: unknown): Array<Record<string, unknown>> {
  try {
    validateDefinition(steps, registry(), limits);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    expect(error.code).toBe('WORKFLOW_INVALID');
    return error.details as Array<Record<string, unknown>>;
  }
  throw new Error('expected the definition to be refused');
}

const echo = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'echo', config: { text: 'hi' }, ...extra });

describe('workflow definition validation', () => {
  it('accepts a valid definition and normalises it', () => {
    const steps = validateDefinition(
      [echo('a'), echo('b', { needs: ['a'], config: { text: '${{ steps.a.output.x }}', count: '${{ input.n }}' }, retry: { attempts: 2 } })],
      registry(),
      limits,
    );
    expect(steps[1]).toEqual({ id: 'b', type: 'echo', needs: ['a'], config: { text: '${{ steps.a.output.x }}', count: '${{ input.n }}' }, retry: { attempts: 2, backoffMs: 0 } });
  });

  it.each([
    ['duplicate ids', [echo('a'), echo('a')], { field: 'steps[1].id', rule: 'duplicate-id', stepId: 'a' }],
    ['an unknown type', [{ id: 'a', type: 'nope', config: {} }], { field: 'steps[0].type', rule: 'unknown-type', stepId: 'a' }],
    ['a config against the schema', [{ id: 'a', type: 'echo', config: { text: '' } }], { field: 'steps[0].config.text', rule: 'config-schema', stepId: 'a' }],
    ['a config with an unknown key', [{ id: 'a', type: 'echo', config: { text: 'x', extra: 1 } }], { field: 'steps[0].config', rule: 'config-schema', stepId: 'a' }],
    ['a missing required config key', [{ id: 'a', type: 'echo', config: {} }], { rule: 'config-schema', stepId: 'a' }],
    ['needs naming a missing step', [echo('a', { needs: ['ghost'] })], { field: 'steps[0].needs[0]', rule: 'unknown-need', stepId: 'a' }],
    ['a step needing itself', [echo('a', { needs: ['a'] })], { field: 'steps[0].needs[0]', rule: 'self-need', stepId: 'a' }],
    ['a cycle', [echo('a', { needs: ['c'] }), echo('b', { needs: ['a'] }), echo('c', { needs: ['b'] })], { rule: 'cycle' }],
    ['an expression naming a later step', [echo('a', { config: { text: '${{ steps.b.output.x }}' } }), echo('b', { needs: ['a'] })], { field: 'steps[0].config.text', rule: 'expression-not-upstream', stepId: 'a' }],
    ['an expression naming a parallel step', [echo('a'), echo('b'), echo('c', { needs: ['a'], config: { text: '${{ steps.b.output.x }}' } })], { rule: 'expression-not-upstream', stepId: 'c' }],
    ['an expression naming no step', [echo('a', { config: { text: '${{ steps.zz.output }}' } })], { rule: 'expression-unknown-step', stepId: 'a' }],
    ['an expression reaching a prototype', [echo('a', { config: { text: '${{ input.__proto__.x }}' } })], { field: 'steps[0].config.text', rule: 'forbidden-segment', stepId: 'a' }],
    ['an expression that is code', [echo('a', { config: { text: '${{ input.x.constructor("return 1")() }}' } })], { rule: 'expression-syntax', stepId: 'a' }],
    ['an expression with an unknown root', [echo('a', { config: { text: '${{ env.HOME }}' } })], { rule: 'expression-root', stepId: 'a' }],
    ['a bad condition', [echo('a', { if: '${{ steps.x.output }}' })], { field: 'steps[0].if', rule: 'expression-unknown-step', stepId: 'a' }],
    ['too many steps', ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => echo(id)), { field: 'steps', rule: 'max-steps' }],
    ['too many attempts', [echo('a', { retry: { attempts: 5 } })], { field: 'steps[0].retry.attempts', rule: 'max-attempts', stepId: 'a' }],
    ['too long a timeout', [echo('a', { timeoutMs: 60_001 })], { field: 'steps[0].timeoutMs', rule: 'max-timeout', stepId: 'a' }],
    ['a bad step id', [echo('has space')], { field: 'steps[0].id', rule: 'pattern' }],
    ['an unknown step field', [echo('a', { command: 'rm -rf /' })], { field: 'steps[0]', rule: 'additionalProperties', stepId: 'a' }],
    ['no steps', [], { field: 'steps', rule: 'min-steps' }],
    ['a secret outside the fields that take one', [echo('a', { config: { text: 'key=${{ secrets.KEY }}' } })], { field: 'steps[0].config.text', rule: 'secret-not-allowed', stepId: 'a' }],
    ['a secret beside a field that takes one', [echo('a', { config: { text: 'x', auth: { tokenish: '${{ secrets.KEY }}' } } })], { field: 'steps[0].config.auth.tokenish', rule: 'secret-not-allowed' }],
    ['a secret in a condition', [echo('a', { if: '${{ secrets.KEY }}' })], { field: 'steps[0].if', rule: 'secret-not-allowed', stepId: 'a' }],
    ['steps that are not an array', { a: 1 }, { field: 'steps', rule: 'type' }],
  ])('refuses %s, naming the step and the rule', (_label, steps, detail) => {
    expect(refusal(steps)).toEqual(expect.arrayContaining([expect.objectContaining(detail)]));
  });

  it('accepts an expression where the schema wants a number or an array', () => {
    expect(() => validateDefinition([echo('a', { config: { text: 'x', count: '${{ input.n }}', items: '${{ input.list }}' } })], registry(), limits)).not.toThrow();
  });

  it('still checks the literal parts of a config that holds expressions', () => {
    expect(refusal([echo('a', { config: { text: '${{ input.t }}', count: 'three' } })])).toEqual([expect.objectContaining({ field: 'steps[0].config.count', rule: 'config-schema' })]);
  });

  it('takes a secret in a field its type declares, and below it', () => {
    expect(() => validateDefinition([echo('a', { config: { text: 'x', auth: { token: 'Bearer ${{ secrets.KEY }}' } } })], registry(), limits)).not.toThrow();
  });

  it('lets a step read an indirect ancestor', () => {
    expect(() => validateDefinition([echo('a'), echo('b', { needs: ['a'] }), echo('c', { needs: ['b'], config: { text: '${{ steps.a.output.x }}' } })], registry(), limits)).not.toThrow();
  });
});

describe('step executor registry', () => {
  it('refuses a duplicate type, a missing schema and a bad type name', () => {
    const types = registry();
    const run = async () => ({});
    expect(() => types.add({ type: 'echo', description: 'again', input: { type: 'object' }, output: {} }, { run })).toThrow(/already provided/);
    expect(() => types.add({ type: 'no_output', description: 'x', input: { type: 'object' }, output: undefined as never }, { run })).toThrow(/no output JSON Schema/);
    expect(() => types.add({ type: 'Bad-Type', description: 'x', input: { type: 'object' }, output: {} }, { run })).toThrow(/lowercase/);
    expect(() => types.add({ type: 'bad_schema', description: 'x', input: { type: 'object', properties: { a: { type: 'nope' } } }, output: {} }, { run })).toThrow(/does not compile/);
  });
});
