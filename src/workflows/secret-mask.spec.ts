import { SecretMask } from './secret-mask.js';

describe('SecretMask', () => {
  const secret = 'p@ss=w"rd/1';
  const mask = new SecretMask([secret]);

  it('masks the value and its percent-encoded and JSON-escaped forms', () => {
    expect(mask.text(`raw ${secret}`)).toBe('raw ***');
    expect(mask.text(`query ?t=${encodeURIComponent(secret)}`)).toBe('query ?t=***');
    const url = new URL('http://host/');
    url.password = secret;
    expect(mask.text(url.href)).toBe('http://:***@host/');
    expect(mask.text(JSON.stringify({ token: secret }))).toBe('{"token":"***"}');
  });

  it('masks the forms a URL gives a secret in its path and its query', () => {
    const spaced = new SecretMask(['a@b c']);
    expect(spaced.text(new URL('http://host/?token=a@b c').href)).toBe('http://host/?token=***');
    expect(spaced.text(new URL('http://host/keys/a@b c').href)).toBe('http://host/keys/***');
  });

  it('masks a longer secret before one it contains', () => {
    expect(new SecretMask(['abc', 'abcdef']).text('abcdef abc')).toBe('*** ***');
  });

  it('masks keys and values of nested objects and leaves other values alone', () => {
    expect(mask.value({ [secret]: [secret, 1, null], n: 2 })).toEqual({ '***': ['***', 1, null], n: 2 });
  });

  it('changes nothing without secrets', () => {
    const none = new SecretMask(['']);
    expect(none.empty).toBe(true);
    expect(none.text('***x')).toBe('***x');
  });
});
