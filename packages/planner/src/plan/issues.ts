/**
 * Turning zod issues into plan issues: a JSON path (`$.steps[3].with.url`) and a message that
 * says what was found and what was expected.
 */
import type { ErrorCode, PlanIssue } from '@dvt/contracts';
import { z } from 'zod';

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['steps', 3, 'needs', 0]` → `$.steps[3].needs[0]`; odd keys as `["content-type"]`. */
export function jsonPath(segments: readonly PathSegment[]): string {
  let path = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) path += `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path;
}

export function planIssue(code: ErrorCode, segments: readonly PathSegment[], message: string) {
  return { code, path: jsonPath(segments), message } satisfies PlanIssue;
}

/** A short, readable rendering of a value found in the input. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const text = value.length > 60 ? `${value.slice(0, 57)}…` : value;
    return `the string ${JSON.stringify(text)}`;
  }
  return `${typeof value} ${String(value)}`;
}

/**
 * Maps the issues of one `safeParse` (run with `reportInput: true`) to plan issues under
 * `base`. `schema` is the schema that was parsed; it names the allowed fields when the input
 * has an unknown one.
 */
export function mapZodIssues(
  code: ErrorCode,
  base: readonly PathSegment[],
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
): PlanIssue[] {
  const out: PlanIssue[] = [];
  for (const issue of issues) {
    const segments = [...base, ...(issue.path as PathSegment[])];
    if (issue.code === 'unrecognized_keys') {
      const allowed = fieldsAt(schema, issue.path as PathSegment[]);
      for (const key of issue.keys) {
        const hint = allowed ? `; allowed fields here: ${allowed.join(', ')}` : '';
        out.push(
          planIssue(code, [...segments, key], `unknown field ${JSON.stringify(key)}${hint}`),
        );
      }
      continue;
    }
    out.push(planIssue(code, segments, describeIssue(issue)));
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      return input === undefined
        ? `missing required field: expected ${issue.expected}`
        : `expected ${issue.expected}, got ${describeValue(input)}`;
    case 'invalid_value': {
      const options = issue.values.map((v) => JSON.stringify(v));
      const expected = options.length === 1 ? options[0] : `one of ${options.join(', ')}`;
      return `expected ${expected}, got ${describeValue(input)}`;
    }
    case 'too_small':
    case 'too_big':
      return `${boundText(issue)}, got ${sizeOf(issue.origin, input)}`;
    case 'invalid_format':
      return issue.message.startsWith('Invalid')
        ? `expected a ${issue.format} string, got ${describeValue(input)}`
        : `${issue.message}, got ${describeValue(input)}`;
    case 'invalid_union': {
      if (issue.message !== 'Invalid input') return `${issue.message}, got ${describeValue(input)}`;
      const alternatives = issue.errors
        .map((branch) => branch[0])
        .filter((first): first is z.core.$ZodIssue => first !== undefined)
        .map((first) =>
          describeIssue({ ...first, input } as z.core.$ZodIssue).replace(/, got .*$/, ''),
        );
      return alternatives.length > 0
        ? `${[...new Set(alternatives)].join('; or ')}; got ${describeValue(input)}`
        : issue.message;
    }
    default:
      return issue.message;
  }
}

function boundText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === 'too_small';
  const bound = small
    ? (issue as z.core.$ZodIssueTooSmall).minimum
    : (issue as z.core.$ZodIssueTooBig).maximum;
  const inclusive = issue.inclusive !== false;
  const op = small ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
  switch (issue.origin) {
    case 'string':
      return small && bound === 1
        ? 'expected a non-empty string'
        : `expected a string of ${small ? 'at least' : 'at most'} ${String(bound)} characters`;
    case 'array':
      return `expected ${small ? 'at least' : 'at most'} ${String(bound)} items`;
    default:
      return `expected a number ${op} ${String(bound)}`;
  }
}

function sizeOf(origin: string, input: unknown): string {
  if (origin === 'string' && typeof input === 'string') return `${input.length} characters`;
  if (origin === 'array' && Array.isArray(input)) return `${input.length} items`;
  return describeValue(input);
}

/** The field names of the object schema at `path` inside `schema`, or undefined. */
export function fieldsAt(schema: z.ZodType, path: readonly PathSegment[]): string[] | undefined {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (!current) return undefined;
    if (current instanceof z.ZodObject && typeof segment === 'string') {
      current = unwrap(current.shape[segment] as z.ZodType | undefined);
    } else if (current instanceof z.ZodArray && typeof segment === 'number') {
      current = unwrap(current.element as z.ZodType);
    } else if (current instanceof z.ZodRecord) {
      current = unwrap(current.valueType as z.ZodType);
    } else {
      return undefined;
    }
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  while (
    current instanceof z.ZodOptional ||
    current instanceof z.ZodDefault ||
    current instanceof z.ZodNullable
  ) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}
