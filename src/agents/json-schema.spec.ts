import { schemaProblem, validateAgainst } from './json-schema.js';

describe('agents JSON Schema validation', () => {
  const withId = () => ({ $id: 'https://example.com/result.json', type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });

  it('compiles a schema with an $id again and again (each run reads its agent afresh)', () => {
    for (let i = 0; i < 3; i++) {
      expect(schemaProblem(withId())).toBeNull();
      expect(validateAgainst(withId(), { a: 'x' })).toEqual({ valid: true });
      expect(validateAgainst(withId(), {})).toEqual({ valid: false, errors: ["(input) must have required property 'a'"] });
    }
  });

  it('keeps a schema whose $ref points into itself working after it is compiled', () => {
    const tree = { $id: 'https://example.com/tree.json', type: 'object', properties: { kids: { type: 'array', items: { $ref: '#' } } } };
    expect(validateAgainst(tree, { kids: [{ kids: [] }] })).toEqual({ valid: true });
    expect(validateAgainst(structuredClone(tree), { kids: [1] })).toMatchObject({ valid: false });
  });

  it('says why a schema does not compile', () => {
    expect(schemaProblem({ type: 'no-such-type' })).toMatch(/schema is invalid/);
    expect(schemaProblem([])).toBe('must be a JSON Schema object');
  });
});
