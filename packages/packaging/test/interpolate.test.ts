import { describe, expect, it } from 'vitest';
import {
  EnvFileError,
  interpolateDeep,
  interpolateString,
  InterpolationError,
  isIgnored,
  parseDockerignore,
  parseEnvFile,
  referencedVariables,
} from '@dvt/packaging';

const vars: Record<string, string> = { SET: 'value', EMPTY: '', PORT: '8080' };
const lookup = (name: string) => vars[name];

describe('interpolateString (Compose rules)', () => {
  it.each([
    ['${SET}', 'value'],
    ['$SET/x', 'value/x'],
    ['${UNSET}', ''],
    ['${UNSET:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${EMPTY-fallback}', ''],
    ['${UNSET-fallback}', 'fallback'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET:-${PORT}}', '8080'],
    ['127.0.0.1:${PORT}:${PORT}', '127.0.0.1:8080:8080'],
    ['$$HOME and $${SET}', '$HOME and ${SET}'],
    ['cost: 5$', 'cost: 5$'],
  ])('%s -> %s', (input, expected) => {
    expect(interpolateString(input, lookup)).toBe(expected);
  });

  it('a required variable that is unset or empty stops with its message', () => {
    expect(() => interpolateString('${UNSET:?set UNSET in .env}', lookup, 'services.api')).toThrow(
      'services.api: required variable UNSET: set UNSET in .env',
    );
    expect(() => interpolateString('${EMPTY:?}', lookup)).toThrow(
      'value: required variable EMPTY: is required',
    );
    expect(interpolateString('${EMPTY?must exist}', lookup)).toBe('');
    try {
      interpolateString('${UNSET?x}', lookup);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InterpolationError);
      expect((error as InterpolationError).variable).toBe('UNSET');
    }
  });

  it('rejects malformed references with a message saying what is wrong', () => {
    expect(() => interpolateString('x ${SET', lookup, 'f')).toThrow(
      'f: "${" at offset 2 is never closed with "}"',
    );
    expect(() => interpolateString('${1abc}', lookup, 'f')).toThrow(
      'f: "${1abc}" does not start with a variable name',
    );
    expect(() => interpolateString('${SET/x/y}', lookup, 'f')).toThrow(
      'f: "${SET/x/y}" has an unknown modifier; use :-, -, :?, ?, :+ or +',
    );
  });

  it('interpolateDeep walks values but not keys, and names the path in errors', () => {
    expect(interpolateDeep({ '${SET}': ['${PORT}', 3, true, null] }, lookup)).toEqual({
      '${SET}': ['8080', 3, true, null],
    });
    expect(() => interpolateDeep({ a: { b: ['${X:?no}'] } }, lookup)).toThrow(
      'a.b[0]: required variable X: no',
    );
  });

  it('referencedVariables lists both syntaxes and skips $$', () => {
    expect([...referencedVariables('${A:-${B}} $C $$D ${E:?x}')].sort()).toEqual([
      'A',
      'B',
      'C',
      'E',
    ]);
  });
});

describe('parseEnvFile', () => {
  it('reads KEY=VALUE lines, comments, export, quotes and inline comments', () => {
    const env = parseEnvFile(
      '# comment\n\nA=1\nexport B=two words\nC="quoted # not a comment"\nD=\'single\'\nE=x # note\nF=\n',
    );
    expect(Object.fromEntries(env)).toEqual({
      A: '1',
      B: 'two words',
      C: 'quoted # not a comment',
      D: 'single',
      E: 'x',
      F: '',
    });
  });

  it.each([
    ['A=1\nnot a line\n', 'line 2: expected KEY=VALUE, found "not a line"'],
    ['1A=x\n', 'line 1: "1A" is not a valid variable name (letters, digits, _)'],
    ['A=1\nA=2\n', 'line 2: A is set twice; keep one line'],
    ['A="open\n', 'line 1: the value opens with " but does not close with it'],
  ])('rejects %j', (text, message) => {
    expect(() => parseEnvFile(text)).toThrow(EnvFileError);
    expect(() => parseEnvFile(text)).toThrow(message);
  });
});

describe('.dockerignore matching', () => {
  const rules = parseDockerignore(
    '# c\n**/node_modules\n.git\n**/dist\n*.log\ndocs/\n!docs/keep.md\n/tmp\n**/test\n',
  );

  it.each([
    ['node_modules/x/index.js', true],
    ['packages/api/node_modules/pg/index.js', true],
    ['.git/HEAD', true],
    ['packages/store/dist/index.js', true],
    ['debug.log', true],
    ['packages/api/debug.log', false],
    ['docs/ops/spec.md', true],
    ['docs/keep.md', false],
    ['tmp/file', true],
    ['packages/store/test/a.test.ts', true],
    ['packages/testkit/src/index.ts', false],
    ['packages/api/src/index.ts', false],
    ['pnpm-lock.yaml', false],
    ['.gitignore', false],
  ])('%s ignored: %s', (file, ignored) => {
    expect(isIgnored(file, rules)).toBe(ignored);
  });
});
