import { evaluate, ExpressionError, findExpressions, parsePath, parseString, resolve, Scope, truthy } from './expression.js';

const scope = (overrides: Partial<Scope> = {}): Scope => ({
  input: { name: 'billing', count: 3, tags: ['a', 'b'], nested: { deep: { value: 42 } }, 'with-dash': 'dash' },
  steps: { build: { status: 'succeeded', output: { sha: 'abc123', files: [{ path: 'README.md' }] } } },
  secrets: { TOKEN: 's3cr3t' },
  ...overrides,
});
const limits = { maxChars: 1_000_000 };

function ruleOf(text: string): string {
  try {
    parsePath(text);
  } catch (error) {
    if (error instanceof ExpressionError) return error.rule;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('expression parser', () => {
  it.each([
    ['input.name', 'input', ['name']],
    ['  input.nested.deep.value  ', 'input', ['nested', 'deep', 'value']],
    ['input.tags[1]', 'input', ['tags', 1]],
    ['input["with-dash"]', 'input', ['with-dash']],
    ["input['a b']", 'input', ['a b']],
    ['steps.build.output.files[0].path', 'steps', ['build', 'output', 'files', 0, 'path']],
    ['steps.build.status', 'steps', ['build', 'status']],
    ['secrets.GITHUB_TOKEN', 'secrets', ['GITHUB_TOKEN']],
  ])('parses %j', (text, root, segments) => {
    expect(parsePath(text)).toMatchObject({ root, segments });
  });

  it.each([
    ['input.__proto__', 'forbidden-segment'],
    ['input.constructor', 'forbidden-segment'],
    ['input.a.prototype', 'forbidden-segment'],
    ['input["__proto__"]', 'forbidden-segment'],
    ["input['constructor']", 'forbidden-segment'],
    ['steps.build.output.constructor.prototype', 'forbidden-segment'],
    ['process.env.HOME', 'expression-root'],
    ['this', 'expression-root'],
    ['globalThis.x', 'expression-root'],
    ['input.name.toString()', 'expression-syntax'],
    ['input.a + 1', 'expression-syntax'],
    ['input[a]', 'expression-syntax'],
    ['input.a || input.b', 'expression-syntax'],
    ['(() => 1)()', 'expression-syntax'],
    ['input.`x`', 'expression-syntax'],
    ['', 'expression-syntax'],
    ['secrets', 'expression-secret'],
    ['secrets.A.B', 'expression-secret'],
    ['secrets["x-y"]', 'expression-secret'],
    ['steps.build', 'expression-step'],
    ['steps.build.config', 'expression-step'],
    ['steps.build.status.x', 'expression-step'],
  ])('refuses %j (%s)', (text, rule) => {
    expect(ruleOf(text)).toBe(rule);
  });

  it('finds every expression of a config with where it is', () => {
    const found = findExpressions({ a: '${{ input.x }}', b: ['plain', 'x ${{ steps.s.output.y }} ${{ secrets.T }}'], c: { d: 1 } }, 'config');
    expect(found.map((f) => [f.pointer, f.expression.root])).toEqual([
      ['config.a', 'input'],
      ['config.b[1]', 'steps'],
      ['config.b[1]', 'secrets'],
    ]);
  });

  it('names where a bad expression sits', () => {
    expect(() => findExpressions({ files: [{ path: '${{ input.__proto__ }}' }] }, 'config')).toThrow(/config\.files\[0\]\.path/);
  });

  it('refuses an expression without its closing braces', () => {
    expect(() => parseString('${{ input.x ')).toThrow(ExpressionError);
  });
});

describe('expression evaluator', () => {
  it('keeps the type of a value that is one whole expression', () => {
    expect(resolve({ n: '${{ input.count }}', o: '${{ input.nested }}', l: '${{ input.tags }}' }, scope(), limits)).toEqual({ n: 3, o: { deep: { value: 42 } }, l: ['a', 'b'] });
  });

  it('interpolates inside text: objects as JSON, missing as empty', () => {
    expect(resolve('repo ${{ input.name }} @ ${{ steps.build.output.sha }} ${{ input.nested.deep }} [${{ input.missing }}]', scope(), limits)).toBe('repo billing @ abc123 {"value":42} []');
  });

  it('reads array items and upstream outputs', () => {
    expect(resolve('${{ steps.build.output.files[0].path }}', scope(), limits)).toBe('README.md');
    expect(resolve('${{ input.tags[5] }}', scope(), limits)).toBeUndefined();
  });

  it('drops an object key whose whole expression names nothing, and keeps null in arrays', () => {
    expect(resolve({ a: '${{ input.nope }}', b: ['${{ input.nope }}'] }, scope(), limits)).toEqual({ b: [null] });
  });

  it('never walks into a prototype, even with data that has __proto__ as an own key', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "safe": 1}');
    const result = resolve({ all: '${{ input }}' }, scope({ input }), limits) as { all: Record<string, unknown> };
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(result.all)).toBe(Object.prototype);
    expect(evaluate({ root: 'input', segments: ['toString'], text: 'input.toString' }, scope())).toBeUndefined();
    expect(evaluate({ root: 'input', segments: ['name', 'length'], text: 'input.name.length' }, scope())).toBeUndefined();
    expect(evaluate({ root: 'input', segments: ['__proto__'], text: '' }, scope())).toBeUndefined();
  });

  it('does not run getters or return functions', () => {
    let called = false;
    const input = Object.defineProperty({}, 'x', { get: () => ((called = true), 1), enumerable: true });
    expect(evaluate({ root: 'input', segments: ['x'], text: 'input.x' }, scope({ input }))).toBeUndefined();
    expect(called).toBe(false);
    expect(evaluate({ root: 'input', segments: ['f'], text: 'input.f' }, scope({ input: { f: () => 1 } }))).toBeUndefined();
  });

  it('reads secrets', () => {
    expect(resolve('Bearer ${{ secrets.TOKEN }}', scope(), limits)).toBe('Bearer s3cr3t');
  });

  it('stops a resolution that grows past the limit', () => {
    const big = { input: { blob: 'x'.repeat(1000) }, steps: {}, secrets: {} };
    expect(() => resolve(Array.from({ length: 20 }, () => '${{ input.blob }}'), big, { maxChars: 5000 })).toThrow(/MAX_STEP_CONFIG_BYTES/);
  });

  it('leaves the config it resolves unchanged', () => {
    const config = { a: '${{ input.name }}' };
    resolve(config, scope(), limits);
    expect(config).toEqual({ a: '${{ input.name }}' });
  });

  it.each([
    [true, true],
    [false, false],
    ['true', true],
    ['false', false],
    ['0', false],
    ['', false],
    ['yes', true],
    [0, false],
    [1, true],
    [null, false],
    [undefined, false],
    [[], false],
    [{}, true],
  ])('treats %j as %j in a condition', (value, expected) => {
    expect(truthy(value)).toBe(expected);
  });
});
