/**
 * Selector patterns against the reference: dbt matches names, tags and files with Python's
 * fnmatch, so the same patterns and values go through the Python that dbt runs on and
 * through ours. Patterns that used to crash (a reversed range) or take exponential time
 * (many stars, many `**`) are in the list; they must answer, and answer like Python.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compilePathGlob, fnmatch, pathSegments } from '../src/dbt/patterns.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const python = path.join(repoRoot, '.tools/dbt/bin/python');

const patterns = [
  '[z-a]',
  '[!z-a]',
  '[b-az]',
  'a-b-c',
  '[a-b-c]',
  '[a-c-e]',
  '[a-]',
  '[-a]',
  '[!a-c]x',
  '[]]',
  '[!]]',
  '[--/]',
  '[%--]',
  'x[',
  '[abc',
  '[!]',
  '[^a]',
  '[\\]',
  '?*?',
  'stg_*',
  '*_v[0-9]',
  '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b',
  '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a',
  'é*[à-ü]',
];
const values = [
  ...['a', 'b', 'c', 'd', 'e', 'z', '-', ']', '!', '^', '\\', '/', '.', '%', '[', 'x', 'x['],
  ...['ax', 'bx', 'dx', 'ab', 'stg_orders', 'stg_', 'orders_v2', 'orders_v', 'éclair', 'ét'],
  'a'.repeat(60),
];

describe('fnmatch', () => {
  it.skipIf(!existsSync(python))('matches what Python’s fnmatch.fnmatchcase says', () => {
    const script = `
import fnmatch, json, sys
data = json.load(sys.stdin)
print(json.dumps({p: [v for v in data["values"] if fnmatch.fnmatchcase(v, p)] for p in data["patterns"]}))`;
    const reference = JSON.parse(
      execFileSync(python, ['-c', script], {
        input: JSON.stringify({ patterns, values }),
      }).toString(),
    ) as Record<string, string[]>;
    const ours = Object.fromEntries(patterns.map((p) => [p, values.filter((v) => fnmatch(v, p))]));
    expect(ours).toEqual(reference);
    // the reversed range matches nothing, and the star-heavy pattern gives its answer
    expect(reference['[z-a]']).toEqual([]);
    expect(reference['*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a']).toEqual(['a'.repeat(60)]);
  });
});

describe('path globs', () => {
  it('answers for many ** against a deep path, and matches as pathlib would', () => {
    const deep = pathSegments(
      `models/${Array.from({ length: 40 }, (_, i) => `d${i}`).join('/')}/x.sql`,
    );
    const many = compilePathGlob(`models/${'**/'.repeat(20)}y.sql`);
    expect(many.matches(deep)).toBe(false);
    expect(compilePathGlob(`models/${'**/'.repeat(20)}x.sql`).matches(deep)).toBe(true);
    expect(compilePathGlob('models/**').matches(pathSegments('models/a/b.sql'))).toBe(true);
    expect(compilePathGlob('models/**/b.sql').matches(pathSegments('models/b.sql'))).toBe(true);
    expect(compilePathGlob('models/*/b.sql').matches(pathSegments('models/b.sql'))).toBe(false);
    expect(compilePathGlob('models/*/b.sql').matches(pathSegments('models/a/b.sql'))).toBe(true);
    expect(compilePathGlob('models/a').matches(pathSegments('models/a/b.sql'))).toBe(false);
  });
});
