import { DomainError } from './domain-error.js';
import { checkPath, MAX_PATH_BYTES, MAX_SEGMENT_BYTES, normaliseProjectPath, parentFolders } from './project-path.js';

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** A path of exactly `size` UTF-8 bytes, in segments of at most 200 bytes made of `unit`. */
function pathOfBytes(size: number, unit = 'a'): string {
  const unitBytes = bytes(unit);
  const segments: string[] = [];
  let remaining = size;
  while (remaining > 0) {
    if (segments.length > 0) remaining -= 1; // the "/" before this segment
    const segmentBytes = Math.min(200, remaining);
    const units = Math.floor(segmentBytes / unitBytes);
    const segment = unit.repeat(units) + 'x'.repeat(segmentBytes - units * unitBytes);
    segments.push(segment);
    remaining -= segmentBytes;
  }
  const path = segments.join('/');
  if (bytes(path) !== size) throw new Error(`pathOfBytes built ${bytes(path)} bytes, not ${size}`);
  return path;
}

/** What normaliseProjectPath threw for `path`, or fails the test when it did not throw. */
function rejectionOf(path: unknown, field?: string): DomainError {
  try {
    normaliseProjectPath(path, field);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(path)} to be rejected, but it was accepted`);
}

describe('normaliseProjectPath', () => {
  describe('rejects a path that breaks a rule, naming the rule and the field', () => {
    const cases: Array<[string, string, string]> = [
      ['an empty path', '', 'empty'],
      ['an absolute path', '/abs', 'absolute'],
      ['a path that is only ".."', '..', 'dot-dot-segment'],
      ['a path that climbs out of the root', 'a/../b', 'dot-dot-segment'],
      ['a path that ends by climbing out', 'a/..', 'dot-dot-segment'],
      ['a path that starts with a "." segment', './a', 'dot-segment'],
      ['a path with a "." segment in the middle', 'a/./b', 'dot-segment'],
      ['a path with an empty segment', 'a//b', 'empty-segment'],
      ['a path with a trailing slash', 'a/', 'empty-segment'],
      ['a path with a backslash separator', 'a\\b', 'backslash'],
      ['a path with a NUL character', 'a\u0000b', 'control-character'],
      ['a path with a control character', 'a\u0001b', 'control-character'],
      ['a path with a newline', 'a\nb', 'control-character'],
      ['a path with DEL', 'a\u007fb', 'control-character'],
      ['a path with a C1 control character', 'a\u0085b', 'control-character'],
      ['a path with a lone high surrogate', 'x\ud800', 'invalid-unicode'],
      ['a path with a lone low surrogate', 'dir/\udc00y', 'invalid-unicode'],
      ['a path with a surrogate pair in the wrong order', '\ude80\ud83d.txt', 'invalid-unicode'],
      ['a path inside .git', '.git/config', 'git-dir'],
      ['a nested .git folder in another letter case', 'src/.GIT/x', 'git-dir'],
      ['a ".git" segment in mixed case', '.Git', 'git-dir'],
      ['the NTFS 8.3 alias of .git', 'GIT~1', 'git-dir'],
      ['the NTFS 8.3 alias of .git in lower case', 'a/git~1/b', 'git-dir'],
      ['".git" with a trailing dot (NTFS drops it)', '.git.', 'git-dir'],
      ['".git" with trailing spaces (NTFS drops them)', '.git  ', 'git-dir'],
      ['".git" with a zero-width character (HFS+ ignores it)', '.g\u200cit/config', 'git-dir'],
      ['".git" with an NTFS stream name', '.git::$INDEX_ALLOCATION/hooks/post-checkout', 'git-dir'],
      ['the 8.3 alias with an NTFS stream name', 'GIT~1:stream/x', 'git-dir'],
    ];

    it.each(cases)('rejects %s', (_label, path, rule) => {
      const error = rejectionOf(path, 'files[3].path');
      expect(error.code).toBe('PATH_INVALID');
      expect(error.status).toBe(400);
      expect(error.details).toHaveLength(1);
      expect(error.details![0]).toMatchObject({ field: 'files[3].path', rule });
      expect(error.message).toContain('files[3].path');
      expect(error.details![0].message).toBe(error.message);
    });
  });

  it('names the field "path" when no field is given', () => {
    expect(rejectionOf('../x').details![0]).toMatchObject({ field: 'path', rule: 'dot-dot-segment' });
  });

  it('rejects a value that is not a string', () => {
    for (const value of [undefined, null, 42, ['a'], { path: 'a' }]) {
      expect(rejectionOf(value, 'to').details![0]).toMatchObject({ field: 'to', rule: 'not-a-string' });
    }
  });

  it('rejects a segment of 256 ASCII bytes', () => {
    const segment = 'a'.repeat(MAX_SEGMENT_BYTES + 1);
    expect(rejectionOf(`src/${segment}/x.txt`, 'files[0].path').details![0]).toMatchObject({ field: 'files[0].path', rule: 'segment-too-long' });
  });

  it('counts a segment in UTF-8 bytes, not characters', () => {
    const segment = 'é'.repeat(128); // 128 characters, 256 bytes
    expect(segment.length).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
    expect(bytes(segment)).toBe(256);
    expect(rejectionOf(segment, 'p').details![0]).toMatchObject({ field: 'p', rule: 'segment-too-long' });
    const threeByteSegment = '€'.repeat(86); // 258 bytes
    expect(rejectionOf(`a/${threeByteSegment}`, 'p').details![0]).toMatchObject({ rule: 'segment-too-long' });
  });

  it('rejects a path of 1,025 bytes', () => {
    const path = pathOfBytes(MAX_PATH_BYTES + 1);
    expect(rejectionOf(path, 'files[1].path').details![0]).toMatchObject({ field: 'files[1].path', rule: 'path-too-long' });
  });

  it('counts the whole path in UTF-8 bytes, not characters', () => {
    const path = pathOfBytes(MAX_PATH_BYTES + 1, 'ü');
    expect(path.length).toBeLessThan(MAX_PATH_BYTES);
    expect(rejectionOf(path).details![0]).toMatchObject({ rule: 'path-too-long' });
  });

  it('keeps the message short for a very long path', () => {
    const error = rejectionOf('a'.repeat(5000));
    expect(error.message.length).toBeLessThan(400);
  });

  describe('accepts a valid path unchanged', () => {
    it.each([
      'a.txt',
      '.gitignore',
      '.gitkeep',
      '.github/workflows/ci.yml',
      'a/b/c.txt',
      'git/x',
      'repo.git/HEAD',
      'notes:.git',
      '.gitattributes:x',
      '...',
      '..a/b..',
      'name with spaces.md',
      'ünïcödé/文件.txt',
      'docs/🚀 launch.md',
    ])('accepts %j', (path) => {
      expect(normaliseProjectPath(path)).toBe(path);
      expect(checkPath(path)).toBeNull();
    });
  });

  it('accepts a segment of exactly 255 bytes', () => {
    const ascii = 'a'.repeat(MAX_SEGMENT_BYTES);
    expect(normaliseProjectPath(`dir/${ascii}`)).toBe(`dir/${ascii}`);
    const multiByte = '€'.repeat(85); // 255 bytes
    expect(bytes(multiByte)).toBe(MAX_SEGMENT_BYTES);
    expect(normaliseProjectPath(multiByte)).toBe(multiByte);
  });

  it('accepts a path of exactly 1,024 bytes', () => {
    const path = pathOfBytes(MAX_PATH_BYTES);
    expect(normaliseProjectPath(path)).toBe(path);
    const multiByte = pathOfBytes(MAX_PATH_BYTES, 'ü');
    expect(normaliseProjectPath(multiByte)).toBe(multiByte);
  });

  it('returns the NFC form of an NFD path', () => {
    const nfd = 'cafe\u0301/re\u0301sume\u0301.txt';
    const result = normaliseProjectPath(nfd);
    expect(result).toBe('caf\u00e9/r\u00e9sum\u00e9.txt');
    expect(result).toBe(nfd.normalize('NFC'));
  });

  it('measures limits on the NFC form that is stored', () => {
    // 253 + "e" + combining accent = 256 bytes in NFD, 255 bytes once composed to "é".
    const nfd = `${'a'.repeat(253)}e\u0301`;
    expect(bytes(nfd)).toBe(256);
    expect(normaliseProjectPath(nfd)).toBe(`${'a'.repeat(253)}\u00e9`);
  });
});

describe('parentFolders', () => {
  it('lists every folder above a nested file, outermost first', () => {
    expect(parentFolders('a/b/c.txt')).toEqual(['a', 'a/b']);
  });

  it('lists nothing for a file at the root', () => {
    expect(parentFolders('a.txt')).toEqual([]);
  });

  it('lists one folder for a file one level down', () => {
    expect(parentFolders('.github/ci.yml')).toEqual(['.github']);
  });
});
