import { execFileSync } from 'node:child_process';
import { checkRefName } from './ref-name.js';

/** What git itself says: `git check-ref-format --branch` exits 0 for a valid branch name. */
function gitAccepts(name: string): boolean {
  try {
    execFileSync('git', ['check-ref-format', '--branch', name], { stdio: 'ignore', env: { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } });
    return true;
  } catch {
    return false;
  }
}

describe('branch and tag names (git check-ref-format)', () => {
  it.each([
    ['HEAD', 'head'],
    ['-leading', 'leading-dash'],
    ['a..b', 'double-dot'],
    ['a@{1}', 'at-brace'],
    ['@', 'lone-at'],
    ['topic.lock', 'component-lock-suffix'],
    ['x.lock/y', 'component-lock-suffix'],
    ['.hidden', 'component-leading-dot'],
    ['a/.b', 'component-leading-dot'],
    ['ends.', 'trailing-dot'],
    ['/lead', 'slash-position'],
    ['trail/', 'slash-position'],
    ['a//b', 'slash-position'],
    ['has space', 'forbidden-character'],
    ['tilde~1', 'forbidden-character'],
    ['caret^', 'forbidden-character'],
    ['co:lon', 'forbidden-character'],
    ['what?', 'forbidden-character'],
    ['star*', 'forbidden-character'],
    ['open[', 'forbidden-character'],
    ['back\\slash', 'forbidden-character'],
    ['tab\there', 'control-character'],
    ['del\u007f', 'control-character'],
    ['', 'empty'],
    ['x'.repeat(256), 'too-long'],
  ])('rejects %j (%s)', (name, rule) => {
    expect(checkRefName(name)).toBe(rule);
  });

  it.each(['main', 'feature/one', 'release-1.2.3', 'v1.0.0', 'user@host', 'ünïcode', 'a.b/c-d_e', 'HEADS', 'x@y'])('accepts %j', (name) => {
    expect(checkRefName(name)).toBeNull();
  });

  it('agrees with git check-ref-format --branch on every case above', () => {
    // ("@" is left out: in --branch mode git reads it as "the current branch".)
    const names = ['HEAD', '-x', 'a..b', 'a@{1}', 'x.lock', '.h', 'a/.b', 'e.', '/l', 't/', 'a//b', 'a b', 'a~', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', 'main', 'feature/one', 'v1.0.0', 'user@host', 'ünïcode', 'a.b/c-d_e'];
    for (const name of names) expect([name, checkRefName(name) === null]).toEqual([name, gitAccepts(name)]);
  });
});
