const OUTSIDE_ALPHABET = /[^A-Za-z0-9+/]/;

/**
 * Decodes standard padded base64 (RFC 4648 §4). Unlike Buffer.from, it refuses characters
 * outside the alphabet, whitespace, missing or misplaced padding and non-canonical final bits.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0) return null;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (OUTSIDE_ALPHABET.test(text.slice(0, text.length - padding))) return null;
  const bytes = Buffer.from(text, 'base64');
  // Bits after the last byte must be zero: "QR==" decodes like "QQ==" but is not canonical.
  if (padding > 0 && bytes.subarray(bytes.length - (3 - padding)).toString('base64') !== text.slice(-4)) return null;
  return bytes;
}
