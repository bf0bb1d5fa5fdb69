import { z } from 'zod';
import {
  commonEnv,
  loadConfig,
  port,
  postgresUrl,
  requireS3CredentialsWithEndpoint,
  s3Env,
  temporalEnv,
} from '@dvt/service-kit';

/** `{"name":"postgres://…"}`: extra named SQL targets beside `warehouse`. */
const sqlTargets = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a JSON object of target name to postgres URL',
      });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,62}$/, 'target names are [A-Za-z][A-Za-z0-9_-]*'),
      postgresUrl,
    ),
  );

/** Comma-separated hosts, IP addresses or CIDR ranges the http executor may reach though private. */
const allowlist = z.string().transform((text) =>
  text
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== ''),
);

export const engineEnvSchema = z
  .object({
    ...commonEnv,
    ...temporalEnv,
    ...s3Env,
    PORT: port(8082),
    /** The `warehouse` target of sql and dbt steps; defaults to DATABASE_URL's server, db `warehouse`. */
    WAREHOUSE_DATABASE_URL: postgresUrl.optional(),
    /** More named targets for sql steps, as a JSON object (`{"pg":"postgres://…"}`). */
    SQL_TARGETS: sqlTargets.optional(),
    /** Connections to DATABASE_URL (run state and artifacts); steps append events through them. */
    DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
    /** Most activities this worker runs at once. */
    WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().positive().default(50),
    /**
     * Heartbeat timeout of step activities, in ms (default 10 s). A worker that dies mid-step
     * is noticed after this long; steps heartbeat every fifth of it, at most every 2 s.
     */
    ENGINE_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(10_000),
    /** Continue-as-new after this many step completions in one workflow run (default 1000). */
    ENGINE_CONTINUE_AS_NEW_STEPS: z.coerce.number().int().min(1).default(1_000),
    /** How long a run waits for a plan-level approval, in ms (default 24 h). */
    ENGINE_RUN_APPROVAL_TIMEOUT_MS: z.coerce.number().int().min(1).default(86_400_000),
    /** How long an approval step waits when its plan names no timeout, in ms (default 24 h). */
    ENGINE_APPROVAL_TIMEOUT_MS: z.coerce.number().int().min(1).default(86_400_000),
    /** Most steps a plan may have (advertised in capabilities). */
    ENGINE_MAX_STEPS: z.coerce.number().int().min(1).default(10_000),
    /** Largest serialized execution plan, in bytes (advertised in capabilities). */
    ENGINE_MAX_PLAN_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(16 * 1024 * 1024),
    /** How long a sticky workflow task waits for its worker before any worker takes it, in ms. */
    ENGINE_STICKY_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(5_000),
    /** Private hosts, addresses or CIDR ranges that http steps may reach anyway. */
    HTTP_ALLOWLIST: allowlist.default([]),
    /**
     * Loopback, private or link-local webhook destinations the outbox relay may reach
     * (hosts, addresses or CIDRs, comma separated); none by default.
     */
    WEBHOOK_ALLOWLIST: allowlist.default([]),
    /** Run the outbox relay (webhook deliveries) in this engine process (default true). */
    OUTBOX_RELAY_ENABLED: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    /** Largest response body an http step keeps, in bytes (default 1 MiB). */
    HTTP_MAX_RESPONSE_BYTES: z.coerce
      .number()
      .int()
      .min(0)
      .default(1024 * 1024),
  })
  .superRefine(requireS3CredentialsWithEndpoint);

export type EngineConfig = Readonly<z.infer<typeof engineEnvSchema>>;

export function loadEngineConfig(
  env: Record<string, string | undefined> = process.env,
): EngineConfig {
  return loadConfig(engineEnvSchema, env);
}

/** Named SQL targets: `warehouse` plus SQL_TARGETS. */
export function sqlTargetUrls(config: EngineConfig): Record<string, string> {
  const warehouse = config.WAREHOUSE_DATABASE_URL ?? withDatabase(config.DATABASE_URL, 'warehouse');
  return { ...config.SQL_TARGETS, warehouse };
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
