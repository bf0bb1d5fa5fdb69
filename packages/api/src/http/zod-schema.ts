/**
 * Route schemas are zod schemas. Fastify validates with them through this validator compiler
 * (so refinements and coercions behave exactly as written), and @fastify/swagger documents
 * them through `toOpenApiSchema`, which converts each one with zod's own JSON Schema output
 * (draft 2020-12, the dialect of OpenAPI 3.1). Responses are serialized with JSON.stringify;
 * their schemas are documentation.
 */
import { ProblemError } from '@dvt/service-kit';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';

export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  return (data: unknown) => {
    const part = httpPart ?? 'request';
    // Depth first: zod and everything after it may recurse into the value.
    const before = inspectJson(data);
    if (before === 'too-deep') return { error: depthProblem(part) };
    const result = schema.safeParse(data);
    if (!result.success) return { error: validationProblem(part, result.error) };
    if (containsNul(result.data)) return { error: nulProblem(part) };
    return { value: result.data };
  };
};

const PART_LABELS: Record<string, string> = {
  body: 'body',
  querystring: 'query string',
  params: 'path',
  headers: 'headers',
};

export function validationProblem(part: string, error: z.ZodError): ProblemError {
  const issues = error.issues.slice(0, 20).map((issue) => ({
    path: [part, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  const text = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ProblemError('VALIDATION_FAILED', `invalid ${PART_LABELS[part] ?? part}: ${text}`, {
    errors: issues,
  });
}

/**
 * Deepest nesting of arrays and objects a request value may have. Real documents (dbt
 * manifests included) stay far below it; deeper values would exhaust the stack of the many
 * recursive walks after validation (zod, JSON.stringify, hashing).
 */
export const MAX_JSON_DEPTH = 256;

/**
 * Walks a value without recursion: `'too-deep'` when it nests deeper than `maxDepth`, `'nul'`
 * when a string or key holds U+0000, else `'ok'`. Depth is reported before NUL.
 */
export function inspectJson(value: unknown, maxDepth = MAX_JSON_DEPTH): 'ok' | 'nul' | 'too-deep' {
  let nul = false;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) nul = true;
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= maxDepth) return 'too-deep';
    if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
    } else {
      for (const [key, item] of Object.entries(current)) {
        if (key.includes('\u0000')) nul = true;
        stack.push({ value: item, depth: depth + 1 });
      }
    }
  }
  return nul ? 'nul' : 'ok';
}

/** PostgreSQL text and jsonb cannot hold U+0000, so it is refused at the boundary. */
export function containsNul(value: unknown): boolean {
  return inspectJson(value, Number.POSITIVE_INFINITY) === 'nul';
}

export function depthProblem(part: string): ProblemError {
  return new ProblemError(
    'VALIDATION_FAILED',
    `invalid ${PART_LABELS[part] ?? part}: arrays and objects nest deeper than the limit of ${MAX_JSON_DEPTH} levels; flatten the document`,
    { maxDepth: MAX_JSON_DEPTH },
  );
}

export function nulProblem(part: string): ProblemError {
  return new ProblemError(
    'VALIDATION_FAILED',
    `invalid ${PART_LABELS[part] ?? part}: text may not contain the NUL character (\\u0000)`,
  );
}

function isZod(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

function toJson(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' });
  delete json.$schema;
  return json as Record<string, unknown>;
}

/** `transform` of @fastify/swagger: every zod part of a route schema becomes JSON Schema. */
export function toOpenApiSchema({ schema, url }: { schema: FastifySchema; url: string }) {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  for (const part of ['body', 'querystring', 'params', 'headers'] as const) {
    const value = schema[part];
    if (isZod(value)) out[part] = toJson(value, 'input');
  }
  if (schema.response && typeof schema.response === 'object') {
    const responses: Record<string, unknown> = {};
    for (const [status, value] of Object.entries(schema.response as Record<string, unknown>)) {
      responses[status] = isZod(value) ? toJson(value, 'output') : value;
    }
    out.response = responses;
  }
  return { schema: out as FastifySchema, url };
}
