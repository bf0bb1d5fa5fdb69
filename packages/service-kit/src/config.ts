/**
 * Environment configuration, parsed once at start with zod and frozen. Nothing else in a
 * service reads `process.env`. A bad value becomes one line naming the variable and what is
 * wrong — never the value itself, because it may be a secret.
 */
import { z } from 'zod';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: readonly { variable: string; problem: string }[];

  constructor(issues: readonly { variable: string; problem: string }[]) {
    const text = issues.map((i) => `${i.variable}: ${i.problem}`).join('; ');
    super(`invalid configuration: ${text}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

type Env = Record<string, string | undefined>;

/** Parses `env` against `schema`; throws {@link ConfigError} listing every bad variable. */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Env = process.env,
): Readonly<z.infer<S>> {
  // Empty strings count as unset, the way shells and Compose files usually mean them.
  const cleaned: Env = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      variable: issue.path.map(String).join('.') || '(root)',
      problem: describeIssue(issue),
    }));
    throw new ConfigError(issues);
  }
  return Object.freeze(result.data) as Readonly<z.infer<S>>;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required but not set';
  // zod messages may quote the received value; keep only the shape of the complaint.
  return issue.message.replace(/received .*/i, '').trim() || 'is invalid';
}

export const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

export const port = (fallback: number) =>
  z.coerce.number().int().min(1).max(65535).default(fallback);

export const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\/.+/.test(v), 'must be a postgres:// or postgresql:// URL');

export const httpUrl = z
  .string()
  .refine((v) => /^https?:\/\/[^\s/]+/.test(v), 'must be an http:// or https:// URL');

/** host:port, as Temporal's clients want it. */
export const hostPort = z
  .string()
  .refine((v) => /^[^\s:/]+:\d{1,5}$/.test(v), 'must be host:port, e.g. 127.0.0.1:7233');

export const durationMs = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/** Variables every DVT+ service reads (DESIGN §2). */
export const commonEnv = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: logLevel,
  DATABASE_URL: postgresUrl,
  INTERNAL_API_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  /** How long SIGTERM waits for in-flight work before closing anyway, in ms. */
  SHUTDOWN_GRACE_MS: durationMs(10_000),
  /** Timeout of each readiness probe, in ms. */
  HEALTH_PROBE_TIMEOUT_MS: durationMs(1_500),
  /** Bind address; 0.0.0.0 inside containers, 127.0.0.1 natively. */
  HOST: z.string().default('127.0.0.1'),
};

export const temporalEnv = {
  TEMPORAL_ADDRESS: hostPort,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('dvt-runs'),
};

/** S3 settings; all optional — without an endpoint artifacts live in PostgreSQL. */
export const s3Env = {
  ARTIFACT_S3_ENDPOINT: httpUrl.optional(),
  ARTIFACT_S3_ACCESS_KEY: z.string().optional(),
  ARTIFACT_S3_SECRET_KEY: z.string().optional(),
  ARTIFACT_S3_BUCKET: z.string().min(3).default('dvt-artifacts'),
  ARTIFACT_S3_REGION: z.string().default('us-east-1'),
  /** Largest artifact accepted, in bytes (default 256 MiB). */
  ARTIFACT_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
};

/** Checks that S3 credentials come with an endpoint; used as a zod superRefine. */
export function requireS3CredentialsWithEndpoint(
  value: {
    ARTIFACT_S3_ENDPOINT?: string | undefined;
    ARTIFACT_S3_ACCESS_KEY?: string | undefined;
    ARTIFACT_S3_SECRET_KEY?: string | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if (!value.ARTIFACT_S3_ENDPOINT) return;
  for (const key of ['ARTIFACT_S3_ACCESS_KEY', 'ARTIFACT_S3_SECRET_KEY'] as const) {
    if (!value[key]) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: 'is required when ARTIFACT_S3_ENDPOINT is set',
      });
    }
  }
}
