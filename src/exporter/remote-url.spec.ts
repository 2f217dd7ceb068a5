import { checkRemoteUrl, redact } from './remote-url.js';

const ruleOf = (url: string, allowHttp = false) => {
  const result = checkRemoteUrl(url, allowHttp);
  return 'rule' in result ? result.rule : null;
};

describe('push remote URLs', () => {
  it('accepts https remotes and drops a trailing slash', () => {
    expect(checkRemoteUrl('https://github.com/acme/repo.git/', false)).toEqual({ url: 'https://github.com/acme/repo.git' });
    expect(checkRemoteUrl('https://git.example.com:8443/r', false)).toEqual({ url: 'https://git.example.com:8443/r' });
  });

  it('accepts http only when GIT_ALLOW_HTTP allows it', () => {
    expect(ruleOf('http://127.0.0.1:9/repo.git')).toBe('http-not-allowed');
    expect(ruleOf('http://127.0.0.1:9/repo.git', true)).toBeNull();
  });

  it.each([
    ['file:///etc/passwd', 'scheme-not-allowed'],
    ['ssh://git@github.com/acme/repo.git', 'scheme-not-allowed'],
    ['git@github.com:acme/repo.git', 'scheme-not-allowed'],
    ['ext::sh -c "touch /tmp/x"', 'scheme-not-allowed'],
    ['fd::3', 'scheme-not-allowed'],
    ['git://github.com/acme/repo.git', 'scheme-not-allowed'],
    ['ftp://example.com/r', 'scheme-not-allowed'],
    ['https://token@github.com/acme/repo.git', 'credentials-in-url'],
    ['https://user:pass@github.com/acme/repo.git', 'credentials-in-url'],
    ['https://github.com/acme/repo.git?private_token=x', 'query-or-fragment'],
    ['https://github.com/acme/repo.git#x', 'query-or-fragment'],
    ['/local/path', 'not-a-url'],
    [`https://example.com/${'x'.repeat(3000)}`, 'too-long'],
  ])('refuses %j (%s)', (url, rule) => {
    expect(ruleOf(url, true)).toBe(rule);
  });

  it('redacts secrets in any of their encodings', () => {
    const token = 'ghp_s3cret/value+x';
    const text = `failed with ${token}, ${encodeURIComponent(token)} and ${Buffer.from(token).toString('base64')}`;
    expect(redact(text, [token])).toBe('failed with ***, *** and ***');
  });
});
