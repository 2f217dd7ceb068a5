import { isPlainObject } from './expression.js';

export const MASK = '***';

/**
 * The forms a secret takes in text besides its own: percent-encoded (encodeURIComponent, and the
 * password, path and query of a URL, which `new URL()` each encode with a set of their own) and
 * escaped inside a JSON string.
 */
function encodings(value: string): string[] {
  const url = new URL('http://host');
  url.password = value;
  const inPath = new URL(`http://host/${value.replace(/[/?#]/g, encodeURIComponent)}`).pathname.slice(1);
  const inQuery = new URL(`http://host/?${value.replace(/#/g, '%23')}`).search.slice(1);
  return [value, encodeURIComponent(value), url.password, inPath, inQuery, JSON.stringify(value).slice(1, -1)];
}

/**
 * Hides the values of the secrets a step used wherever they could show: its logs, its output,
 * its error and its resolved config, in their encoded forms too. Longer values are replaced
 * first, so a secret that contains another is not half-masked. Text is masked before it is cut
 * (a secret cut in two matches nothing).
 */
export class SecretMask {
  private readonly values: string[];

  constructor(values: Iterable<string>) {
    const forms = [...values].filter((value) => value.length > 0).flatMap(encodings);
    this.values = [...new Set(forms)].sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.values.length === 0;
  }

  text(text: string): string {
    let out = text;
    for (const value of this.values) if (out.includes(value)) out = out.split(value).join(MASK);
    return out;
  }

  /** A copy of `value` with every string (keys too) masked. */
  value<T>(value: T): T {
    if (this.empty) return value;
    const visit = (node: unknown): unknown => {
      if (typeof node === 'string') return this.text(node);
      if (Array.isArray(node)) return node.map(visit);
      if (isPlainObject(node)) {
        const out: Record<string, unknown> = {};
        for (const [key, item] of Object.entries(node)) {
          Object.defineProperty(out, this.text(key), { value: visit(item), enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      return node;
    };
    return visit(value) as T;
  }
}
