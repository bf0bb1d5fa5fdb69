/**
 * Shell-style patterns as dbt's selector methods use them: Python's `fnmatch` (whole-string
 * match, `*` crosses every character including `.` and `/`, `?` one character, `[abc]` and
 * `[!abc]` classes, a `[` without its `]` is literal) and the relative-path globbing of
 * `pathlib.Path.glob` that `path:` relies on (segment by segment, `**` for any depth).
 */

/**
 * A compiled pattern is a list of tokens matched without regular expressions: selectors come
 * from API callers, and a regex built from `*a*a*a…b` backtracks exponentially. The matcher
 * below is the classic wildcard walk (remember the last `*`, retry one character further),
 * which takes at most length(pattern) × length(value) steps.
 */
type Token =
  | { kind: 'char'; char: string }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'class'; negate: boolean; chars: Set<string>; ranges: [string, string][] };

const cache = new Map<string, Token[]>();

/** True when the pattern holds a wildcard that `fnmatch` interprets. */
export function hasWildcard(pattern: string): boolean {
  return /[*?[\]]/.test(pattern);
}

/** Compiles an fnmatch pattern into tokens (cached). */
function compile(pattern: string): Token[] {
  const cached = cache.get(pattern);
  if (cached) return cached;
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i]!;
    i++;
    if (ch === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (ch === '?') {
      tokens.push({ kind: 'any' });
    } else if (ch === '[') {
      const end = classEnd(chars, i);
      if (end === -1) {
        tokens.push({ kind: 'char', char: '[' });
        continue;
      }
      tokens.push(parseClass(chars.slice(i, end)));
      i = end + 1;
    } else {
      tokens.push({ kind: 'char', char: ch });
    }
  }
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, tokens);
  return tokens;
}

/** Index of the `]` closing a class opened just before `start`, or -1 (then `[` is literal). */
function classEnd(chars: readonly string[], start: number): number {
  let j = start;
  if (chars[j] === '!') j++;
  if (chars[j] === ']') j++;
  while (j < chars.length && chars[j] !== ']') j++;
  return j < chars.length ? j : -1;
}

/**
 * A class body the way Python's fnmatch.translate reads it: a leading `!` negates, `a-z` is a
 * range unless the `-` comes first or last, and a reversed range (`z-a`) is dropped rather
 * than an error, so `[z-a]` matches nothing and `[!z-a]` any one character.
 */
function parseClass(body: string[]): Token {
  const negate = body[0] === '!';
  const rest = negate ? body.slice(1) : body;
  // Python splits at each '-' that can start a range, searching from the second character,
  // and looks for the next one two characters after a split (so `a-b-c` is a-b, '-', 'c').
  const chunks: string[][] = [];
  let from = 0;
  let k = 1;
  for (;;) {
    let dash = -1;
    for (let j = k; j < rest.length; j++) {
      if (rest[j] === '-') {
        dash = j;
        break;
      }
    }
    if (dash < 0) break;
    chunks.push(rest.slice(from, dash));
    from = dash + 1;
    k = dash + 3;
  }
  const last = rest.slice(from);
  if (last.length > 0 || chunks.length === 0) chunks.push(last);
  else chunks[chunks.length - 1]!.push('-');
  for (let c = chunks.length - 1; c > 0; c--) {
    const before = chunks[c - 1]!;
    const after = chunks[c]!;
    if (before.length > 0 && after.length > 0 && before.at(-1)! > after[0]!) {
      chunks[c - 1] = [...before.slice(0, -1), ...after.slice(1)];
      chunks.splice(c, 1);
    }
  }
  const chars = new Set<string>();
  const ranges: [string, string][] = [];
  chunks.forEach((chunk, c) => {
    chunk.forEach((char, j) => {
      const startsRange = c < chunks.length - 1 && j === chunk.length - 1;
      const endsRange = c > 0 && j === 0;
      if (startsRange) ranges.push([char, chunks[c + 1]![0]!]);
      else if (!endsRange) chars.add(char);
    });
  });
  return { kind: 'class', negate, chars, ranges };
}

function tokenMatches(token: Token, char: string): boolean {
  switch (token.kind) {
    case 'char':
      return token.char === char;
    case 'any':
      return true;
    case 'class': {
      const inside =
        token.chars.has(char) || token.ranges.some(([lo, hi]) => lo <= char && char <= hi);
      return inside !== token.negate;
    }
    case 'star':
      return false;
  }
}

export function fnmatch(value: string, pattern: string): boolean {
  const tokens = compile(pattern);
  const chars = Array.from(value);
  let t = 0;
  let v = 0;
  let starAt = -1;
  let starValue = 0;
  while (v < chars.length) {
    const token = tokens[t];
    if (token?.kind === 'star') {
      starAt = t++;
      starValue = v;
    } else if (token && tokenMatches(token, chars[v]!)) {
      t++;
      v++;
    } else if (starAt >= 0) {
      t = starAt + 1;
      v = ++starValue;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}

/** Splits a relative path into segments, accepting `/` and `\`, dropping `.` and empty parts. */
export function pathSegments(path: string): string[] {
  return path.split(/[\\/]+/).filter((part) => part !== '' && part !== '.');
}

/**
 * A compiled `path:` selector: `matches(segments)` is true when the glob selects that path
 * exactly (a file, or a folder when the segments are a folder's).
 */
export interface PathGlob {
  matches(segments: readonly string[]): boolean;
}

export function compilePathGlob(pattern: string): PathGlob {
  const parts = pathSegments(pattern).map((part) =>
    part === '**'
      ? { glob: true as const }
      : { glob: false as const, part, wild: hasWildcard(part) },
  );
  return {
    matches(segments) {
      // matches[si][pi]: segments from si on match parts from pi on. Filled from the end, so
      // each `**` looks its answers up instead of recursing (n segments × m parts steps).
      const n = segments.length;
      const m = parts.length;
      let next = new Array<boolean>(m + 1).fill(false);
      next[m] = true; // si = n: only the empty rest of the pattern (or all `**`) matches
      for (let pi = m - 1; pi >= 0; pi--) next[pi] = parts[pi]!.glob && next[pi + 1]!;
      for (let si = n - 1; si >= 0; si--) {
        const row = new Array<boolean>(m + 1).fill(false);
        row[m] = false;
        for (let pi = m - 1; pi >= 0; pi--) {
          const p = parts[pi]!;
          if (p.glob) {
            // `**` takes no segment (row[pi + 1]) or this one and maybe more (next[pi]).
            row[pi] = row[pi + 1]! || next[pi]!;
          } else {
            const segment = segments[si]!;
            const ok = p.wild ? fnmatch(segment, p.part) : p.part === segment;
            row[pi] = ok && next[pi + 1]!;
          }
        }
        next = row;
      }
      return next[0]!;
    },
  };
}
