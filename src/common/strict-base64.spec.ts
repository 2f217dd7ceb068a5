import { randomBytes } from 'node:crypto';
import { decodeBase64Strict } from './strict-base64.js';

describe('decodeBase64Strict', () => {
  it('round-trips random bytes of every length from 0 to 70 and some large ones', () => {
    const lengths = [...Array.from({ length: 71 }, (_, n) => n), 255, 256, 257, 1023, 4096, 65_537];
    for (const length of lengths) {
      const original = randomBytes(length);
      const decoded = decodeBase64Strict(original.toString('base64'));
      expect(decoded).not.toBeNull();
      expect(Buffer.compare(decoded!, original)).toBe(0);
    }
  });

  it('decodes known vectors from RFC 4648', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['Zg==', 'f'],
      ['Zm8=', 'fo'],
      ['Zm9v', 'foo'],
      ['Zm9vYg==', 'foob'],
      ['Zm9vYmE=', 'fooba'],
      ['Zm9vYmFy', 'foobar'],
    ];
    for (const [encoded, text] of vectors) expect(decodeBase64Strict(encoded)?.toString('latin1')).toBe(text);
  });

  it('decodes the empty string to an empty buffer', () => {
    const decoded = decodeBase64Strict('');
    expect(Buffer.isBuffer(decoded)).toBe(true);
    expect(decoded).toHaveLength(0);
  });

  it('decodes every byte value, including "+" and "/" in the text', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, n) => n));
    const encoded = all.toString('base64');
    expect(encoded).toMatch(/\+/);
    expect(encoded).toMatch(/\//);
    expect(decodeBase64Strict(encoded)?.equals(all)).toBe(true);
  });

  it.each([
    ['a character outside the alphabet', 'QQ$='],
    ['a character outside the alphabet in a full group', 'QUJ$'],
    ['a non-ASCII letter', 'QUJé'],
    ['a space inside', 'QU I'],
    ['a newline between groups', 'QUJD\nQUJD'],
    ['a newline replacing a character', 'QUJ\nQUJD'],
    ['a trailing newline', 'QQ==\n'],
    ['a trailing CRLF', 'QUJD\r\n'],
    ['a leading space', ' QUJD'],
    ['a tab', 'QU\tJ'],
    ['missing padding', 'QQ'],
    ['missing one padding character', 'QUI'],
    ['one padding character where two are due', 'QQ='],
    ['extra padding', 'QQ==='],
    ['a whole group of padding', 'QUJD===='],
    ['three padding characters', 'Q==='],
    ['only padding', '===='],
    ['"=" in the middle', 'QQ==QUJD'],
    ['"=" inside a group', 'Q=Q='],
    ['non-canonical final bits after one byte', 'QR=='],
    ['non-canonical final bits after one byte (lowest bit set)', 'QB=='],
    ['non-canonical final bits after one byte (high unused bit set)', 'QY=='],
    ['non-canonical final bits after two bytes', 'QUJ='],
    ['URL-safe characters', '-_8='],
    ['the URL-safe alphabet', 'ab-_'],
    ['URL-safe base64 without padding', 'Pz8_'],
  ])('rejects %s (%j)', (_label, text) => {
    expect(decodeBase64Strict(text)).toBeNull();
  });

  it('accepts the canonical forms that the non-canonical ones imitate', () => {
    expect(decodeBase64Strict('QQ==')?.toString('latin1')).toBe('A');
    expect(decodeBase64Strict('QUI=')?.toString('latin1')).toBe('AB');
  });
});
