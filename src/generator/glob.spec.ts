import { globMatcher, globToMatcher } from './glob.js';

describe('glob patterns of .forgeline-raw', () => {
  const matches = (pattern: string, path: string) => globToMatcher(pattern)(path);

  it('matches a name without a slash at any depth', () => {
    expect(matches('*.png', 'logo.png')).toBe(true);
    expect(matches('*.png', 'assets/img/logo.png')).toBe(true);
    expect(matches('*.png', 'logo.png.txt')).toBe(false);
  });

  it('anchors a pattern with a slash at the project root', () => {
    expect(matches('docs/*.md', 'docs/a.md')).toBe(true);
    expect(matches('docs/*.md', 'src/docs/a.md')).toBe(false);
    expect(matches('docs/*.md', 'docs/deep/a.md')).toBe(false);
  });

  it('lets ** span folders, including none', () => {
    expect(matches('src/**/*.hbs', 'src/a.hbs')).toBe(true);
    expect(matches('src/**/*.hbs', 'src/x/y/a.hbs')).toBe(true);
    expect(matches('src/**', 'src/x/y/a.hbs')).toBe(true);
  });

  it('matches everything under a folder named by the pattern, and a trailing slash only folders', () => {
    expect(matches('.github', '.github/workflows/ci.yml')).toBe(true);
    expect(matches('vendor/', 'vendor/lib.js')).toBe(true);
    expect(matches('vendor/', 'vendor')).toBe(false);
  });

  it('treats regular-expression characters literally and ? as one character', () => {
    expect(matches('a+b(1).txt', 'a+b(1).txt')).toBe(true);
    expect(matches('a+b(1).txt', 'aab1.txt')).toBe(false);
    expect(matches('file?.txt', 'file1.txt')).toBe(true);
    expect(matches('file?.txt', 'file/.txt')).toBe(false);
  });

  it('lets **/ stand for no folder or for whole folders only', () => {
    expect(matches('**/b.txt', 'b.txt')).toBe(true);
    expect(matches('**/b.txt', 'a/x/b.txt')).toBe(true);
    expect(matches('a/**/b.txt', 'a/b.txt')).toBe(true);
    expect(matches('a/**/b.txt', 'ab.txt')).toBe(false);
    expect(matches('a/**/b.txt', 'a/xb.txt')).toBe(false);
    expect(matches('a**b', 'a/x/b')).toBe(true);
    expect(matches('a*b', 'a/b')).toBe(false);
  });

  it('matches in time linear in the path, whatever the wildcards (a backtracking RegExp took over 40 s here)', () => {
    const path = Array.from({ length: 4 }, () => 'a'.repeat(250)).join('/');
    expect(matches('**a**a**a**a**b', path)).toBe(false);
    expect(matches('*a*a*a*a*b', `${'a'.repeat(1_000)}`)).toBe(false);
    expect(matches('**a**a**a**a**a', path)).toBe(true);
  });

  it('ignores blank lines and comments in a list', () => {
    const raw = globMatcher(['# comment', '', '  *.hbs  ']);
    expect(raw('views/index.hbs')).toBe(true);
    expect(raw('# comment')).toBe(false);
    expect(globMatcher([])('anything')).toBe(false);
  });
});
