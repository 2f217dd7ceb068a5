/**
 * Glob patterns for template opt-outs (`.forgeline-raw`, `metadata.template.raw`), gitignore-like:
 * `*` and `?` stay within one path segment, `**` spans segments, a trailing `/` matches a folder
 * and everything under it, and a pattern without `/` matches a file or folder name at any depth.
 *
 * The patterns are the user's, so they are not turned into regular expressions: `*a*a*b` as a
 * backtracking RegExp takes time exponential in its wildcards on a long path (measured: over 40 s
 * for one 1,000-character path), on the event loop. A pattern is matched instead by a small
 * automaton that follows all of its possible positions at once: time proportional to the
 * pattern's length times the path's, whatever the pattern.
 */
export type PathMatcher = (path: string) => boolean;

/** What a pattern position matches: a literal character, or one of the wildcards. */
const enum Kind {
  Char,
  /** `?`: one character, not `/`. */
  One,
  /** `*`: any run of characters without `/`. */
  Star,
  /** `**`: any run of characters. */
  Any,
  /** `**` followed by `/`: nothing, or any run of characters that ends with `/`. */
  Folders,
}

interface Token {
  kind: Kind;
  char?: string;
}

interface Glob {
  tokens: Token[];
  /** Matches from the root only (the pattern holds a `/`); otherwise after any `/` too. */
  anchored: boolean;
  /** A trailing `/`: only a folder matches (so only a path that goes on below it). */
  folder: boolean;
}

function parse(pattern: string): Glob {
  let body = pattern.trim();
  const folder = body.endsWith('/');
  if (folder) body = body.replace(/\/+$/, '');
  const anchored = body.includes('/');
  body = body.replace(/^\/+/, '');
  const tokens: Token[] = [];
  for (let i = 0; i < body.length; i++) {
    const char = body[i];
    if (char === '*' && body[i + 1] === '*') {
      if (body[i + 2] === '/') {
        tokens.push({ kind: Kind.Folders });
        i += 2;
      } else {
        tokens.push({ kind: Kind.Any });
        i += 1;
      }
    } else if (char === '*') tokens.push({ kind: Kind.Star });
    else if (char === '?') tokens.push({ kind: Kind.One });
    else tokens.push({ kind: Kind.Char, char });
  }
  return { tokens, anchored, folder };
}

/**
 * The automaton: state `i` (0..n) means "the first i tokens are matched"; state n + 1 + i means
 * "inside the run of a Folders token i, which must still end with a `/`".
 */
function matcherOf(glob: Glob): PathMatcher {
  const { tokens, anchored, folder } = glob;
  const n = tokens.length;
  const size = 2 * n + 2;
  return (path) => {
    let current = new Uint8Array(size);
    let next = new Uint8Array(size);
    /** Adds a state and those reached from it without a character (a wildcard matching nothing). */
    const add = (set: Uint8Array, state: number) => {
      while (!set[state]) {
        set[state] = 1;
        if (state >= n) return;
        const kind = tokens[state].kind;
        if (kind === Kind.Char || kind === Kind.One) return;
        state++;
      }
    };
    add(current, 0);
    // A pattern naming a folder covers everything below it ("(?:/.*)?"); "name/" only a folder ("/.*").
    const matchedHere = () => current[n] === 1;
    for (let at = 0; at < path.length; at++) {
      const char = path[at];
      if (char === '/' && matchedHere()) return true;
      next.fill(0);
      for (let state = 0; state < size; state++) {
        if (!current[state]) continue;
        if (state > n) {
          // Inside a Folders run: it goes on, and a `/` may end it.
          next[state] = 1;
          if (char === '/') add(next, state - n);
          continue;
        }
        if (state === n) continue;
        const token = tokens[state];
        switch (token.kind) {
          case Kind.Char:
            if (char === token.char) add(next, state + 1);
            break;
          case Kind.One:
            if (char !== '/') add(next, state + 1);
            break;
          case Kind.Star:
            if (char !== '/') add(next, state);
            break;
          case Kind.Any:
            add(next, state);
            break;
          case Kind.Folders:
            next[n + 1 + state] = 1;
            if (char === '/') add(next, state + 1);
            break;
        }
      }
      // A pattern without `/` may start after any `/` ("^(?:.*/)?").
      if (!anchored && char === '/') add(next, 0);
      [current, next] = [next, current];
    }
    return !folder && matchedHere();
  };
}

/** One pattern as a matcher. */
export function globToMatcher(pattern: string): PathMatcher {
  return matcherOf(parse(pattern));
}

/** The patterns of a list: blank lines and `#` comments left out. */
export function globPatterns(lines: Iterable<string>): string[] {
  return [...lines].map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

/** One matcher for a list of patterns (see globPatterns). */
export function globMatcher(lines: Iterable<string>): PathMatcher {
  const matchers = globPatterns(lines).map(globToMatcher);
  if (matchers.length === 0) return () => false;
  return (path) => matchers.some((matches) => matches(path));
}
