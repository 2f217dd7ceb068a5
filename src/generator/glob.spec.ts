import { globMatcher, globToRegExp } from './glob.js';

describe('glob patterns of .forgeline-raw', () => {
  const matches = (pattern: string, path: string) => globToRegExp(pattern).test(path);

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

  it('ignores blank lines and comments in a list', () => {
    const raw = globMatcher(['# comment', '', '  *.hbs  ']);
    expect(raw('views/index.hbs')).toBe(true);
    expect(raw('# comment')).toBe(false);
    expect(globMatcher([])('anything')).toBe(false);
  });
});
