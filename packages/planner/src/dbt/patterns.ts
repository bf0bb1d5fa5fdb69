/**
 * Shell-style patterns as dbt's selector methods use them: Python's `fnmatch` (whole-string
 * match, `*` crosses every character including `.` and `/`, `?` one character, `[abc]` and
 * `[!abc]` classes, a `[` without its `]` is literal) and the relative-path globbing of
 * `pathlib.Path.glob` that `path:` relies on (segment by segment, `**` for any depth).
 */

const cache = new Map<string, RegExp>();

/** True when the pattern holds a wildcard that `fnmatch` interprets. */
export function hasWildcard(pattern: string): boolean {
  return /[*?[\]]/.test(pattern);
}

/** Compiles an fnmatch pattern into an anchored regular expression (cached). */
export function fnmatchRegExp(pattern: string): RegExp {
  const cached = cache.get(pattern);
  if (cached) return cached;
  let source = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    i++;
    if (ch === '*') {
      source += '[\\s\\S]*';
    } else if (ch === '?') {
      source += '[\\s\\S]';
    } else if (ch === '[') {
      const end = classEnd(pattern, i);
      if (end === -1) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(i, end);
      i = end + 1;
      let negate = false;
      if (body.startsWith('!')) {
        negate = true;
        body = body.slice(1);
      }
      const escaped = body.replace(/[\\^\]]/g, (c) => `\\${c}`);
      source += negate ? `[^${escaped}]` : `[${escaped}]`;
    } else {
      source += ch.replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`);
    }
  }
  const compiled = new RegExp(`^${source}$`, 'u');
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

/** Index of the `]` closing a class opened just before `start`, or -1 (then `[` is literal). */
function classEnd(pattern: string, start: number): number {
  let j = start;
  if (pattern[j] === '!') j++;
  if (pattern[j] === ']') j++;
  while (j < pattern.length && pattern[j] !== ']') j++;
  return j < pattern.length ? j : -1;
}

export function fnmatch(value: string, pattern: string): boolean {
  return fnmatchRegExp(pattern).test(value);
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
    part === '**' ? ('**' as const) : hasWildcard(part) ? fnmatchRegExp(part) : part,
  );
  const matchFrom = (segments: readonly string[], si: number, pi: number): boolean => {
    if (pi === parts.length) return si === segments.length;
    const part = parts[pi]!;
    if (part === '**') {
      for (let k = si; k <= segments.length; k++) {
        if (matchFrom(segments, k, pi + 1)) return true;
      }
      return false;
    }
    if (si === segments.length) return false;
    const segment = segments[si]!;
    const ok = typeof part === 'string' ? part === segment : part.test(segment);
    return ok && matchFrom(segments, si + 1, pi + 1);
  };
  return { matches: (segments) => matchFrom(segments, 0, 0) };
}
