import { REDACTED, redactWriteOnly, writeOnlyPaths } from './write-only.js';

describe('write-only input fields', () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      value: { type: 'string', writeOnly: true },
      remote: { type: 'object', properties: { url: { type: 'string' }, token: { type: 'string', writeOnly: true } } },
      headers: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, secret: { writeOnly: true } } } },
      body: { anyOf: [{ type: 'object', properties: { password: { type: 'string', writeOnly: true } } }, { type: 'null' }] },
    },
  };

  it('finds every writeOnly field of a schema, however nested', () => {
    expect(writeOnlyPaths(schema)).toEqual([['value'], ['remote', 'token'], ['headers', '*', 'secret'], ['body', 'password']]);
    expect(writeOnlyPaths({ type: 'object', properties: { a: { type: 'string' } } })).toEqual([]);
  });

  it('replaces them in a copy and returns the values it took out', () => {
    const input = {
      name: 'DEPLOY',
      value: 'v-secret-1',
      remote: { url: 'https://example.com/r.git', token: 't-secret-2' },
      headers: [{ key: 'a', secret: 's-3' }, { key: 'b' }],
      body: null,
    };
    const { value, secrets } = redactWriteOnly(input, writeOnlyPaths(schema));
    expect(value).toEqual({
      name: 'DEPLOY',
      value: REDACTED,
      remote: { url: 'https://example.com/r.git', token: REDACTED },
      headers: [{ key: 'a', secret: REDACTED }, { key: 'b' }],
      body: null,
    });
    expect(secrets).toEqual(['v-secret-1', 't-secret-2', 's-3']);
    expect(input.value).toBe('v-secret-1');
  });

  it('redacts a write-only value whatever its type, and leaves inputs of the wrong shape alone', () => {
    expect(redactWriteOnly({ value: { nested: 'x-secret' } }, [['value']])).toEqual({ value: { value: REDACTED }, secrets: ['x-secret'] });
    expect(redactWriteOnly({ remote: 'not an object' }, [['remote', 'token']]).value).toEqual({ remote: 'not an object' });
    expect(redactWriteOnly('text', [['value']]).value).toBe('text');
  });
});
