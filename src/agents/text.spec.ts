import { bodyText, redact, sliceChars, truncateBytes, truncateForModel } from './text.js';

describe('agent text helpers', () => {
  it('cuts a long tool result with a note and leaves a short one alone', () => {
    expect(truncateForModel('short', 10)).toBe('short');
    const cut = truncateForModel('a'.repeat(30), 10);
    expect(cut.startsWith('a'.repeat(10) + '\n')).toBe(true);
    expect(cut).toContain('this result is 30 characters; only the first 10 are shown');
  });

  it('never cuts between the two halves of a surrogate pair', () => {
    const text = 'ab😀cd'; // the emoji is units 2 and 3
    expect(sliceChars(text, 3)).toBe('ab');
    expect(sliceChars(text, 4)).toBe('ab😀');
    expect(sliceChars(text, 2)).toBe('ab');
    expect(sliceChars(text, 99)).toBe(text);
    const cut = truncateForModel('x'.repeat(9) + '😀' + 'y'.repeat(20), 10);
    expect(cut.startsWith('x'.repeat(9) + '\n')).toBe(true);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('truncates by bytes without splitting a UTF-8 character', () => {
    expect(truncateBytes('héllo', 2)).toEqual({ text: 'h', truncated: true });
    expect(truncateBytes('héllo', 3)).toEqual({ text: 'hé', truncated: true });
    expect(truncateBytes('héllo', 100)).toEqual({ text: 'héllo', truncated: false });
  });

  it('redacts secrets and any Forgeline token', () => {
    const token = `fl_${'A'.repeat(43)}`;
    expect(redact(`key fake-llm-secret-123 and ${token}`, ['fake-llm-secret-123'])).toBe('key [redacted] and fl_[redacted]');
  });

  it('returns UTF-8 as text and anything else as base64', () => {
    expect(bodyText(Buffer.from('{"a":1}'), 'application/json')).toBe('{"a":1}');
    expect(bodyText(new Uint8Array([0xff, 0xfe]), 'application/octet-stream')).toBe('[binary application/octet-stream, 2 bytes, base64] //4=');
  });
});
