import { z } from 'zod';
import {
  commonEnv,
  httpUrl,
  loadConfig,
  port,
  requireS3CredentialsWithEndpoint,
  s3Env,
  temporalEnv,
} from '@dvt/service-kit';

/** The value `.env.example` ships; refused when NODE_ENV=production. */
export const DEV_JWT_SECRET = 'dev-only-insecure-jwt-secret-change-me';

export const apiEnvSchema = z
  .object({
    ...commonEnv,
    ...temporalEnv,
    ...s3Env,
    PORT: port(8080),
    PLANNER_URL: httpUrl,
    ENGINE_URL: httpUrl,
    /** HS256 secret for dev tokens; use AUTH_JWKS_URL with an identity provider instead. */
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWKS_URL: httpUrl.optional(),
    AUTH_ISSUER: z.string().default('dvt-dev'),
    AUTH_AUDIENCE: z.string().default('dvt-api'),
    AUTH_TENANT_CLAIM: z.string().default('tenant'),
    AUTH_ROLES_CLAIM: z.string().default('roles'),
    /**
     * Longest token lifetime accepted (exp - iat; exp - now for a token without iat), in
     * seconds (default 24 h). Bounds the damage of a leaked dev token; identity providers
     * issue much shorter ones.
     */
    AUTH_MAX_TOKEN_TTL_SECONDS: z.coerce
      .number()
      .int()
      .positive()
      .default(24 * 60 * 60),
    /**
     * Loopback, private or link-local webhook destinations a subscription may name anyway
     * (hosts, addresses or CIDRs, comma separated; none by default). Same format and meaning
     * as the engine's WEBHOOK_ALLOWLIST, which the relay checks again at delivery.
     */
    WEBHOOK_ALLOWLIST: z
      .string()
      .default('')
      .transform((text) =>
        text
          .split(',')
          .map((entry) => entry.trim().toLowerCase())
          .filter((entry) => entry !== ''),
      ),
    /** Base of the Temporal UI, for run links (e.g. http://localhost:8088). */
    TEMPORAL_UI_URL: httpUrl.default('http://localhost:8088'),
    /** Base URL clients use to reach this api, for links in responses. */
    PUBLIC_BASE_URL: httpUrl.default('http://localhost:8080'),
    /**
     * Origins allowed to open WebSocket streams (and read responses cross-origin), comma
     * separated, e.g. `https://app.example,http://localhost:3000`. A request with an Origin
     * header outside this list is refused with 403; requests without Origin (non-browser
     * clients) are allowed.
     */
    ALLOWED_ORIGINS: z
      .string()
      .default('http://localhost:3000')
      .transform((v) =>
        v
          .split(',')
          .map((o) => o.trim())
          .filter((o) => o !== ''),
      ),
    /** Body limit of ordinary JSON routes, in bytes (default 1 MiB). */
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** Body limit of the plans route, which takes whole dbt manifests, in bytes (default 64 MiB). */
    PLAN_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Largest hand-written plan (`{ plan }`) accepted, serialized, in bytes (default 1 MiB). */
    PLAN_MAX_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** Requests per credential per window (default 600 per minute). */
    RATE_LIMIT_MAX: z.coerce.number().int().positive().default(600),
    RATE_LIMIT_WINDOW_MS: z.coerce.number().int().positive().default(60_000),
    /** Timeout of each call to planner or engine, in ms. */
    INTERNAL_CALL_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    /** Timeout of a compile call (large manifests take longer), in ms. */
    PLANNER_COMPILE_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
    /** Interval of heartbeats on live streams, in ms. */
    STREAM_HEARTBEAT_MS: z.coerce.number().int().positive().default(15_000),
    /** Bytes a live-stream client may leave unread before it is closed (default 1 MiB). */
    STREAM_MAX_BUFFER_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** How often live streams look for new events without a notification, in ms. */
    STREAM_POLL_MS: z.coerce.number().int().positive().default(1_000),
  })
  .superRefine(requireS3CredentialsWithEndpoint)
  .superRefine((value, ctx) => {
    if (!value.AUTH_JWT_SECRET && !value.AUTH_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message: 'is required unless AUTH_JWKS_URL is set',
      });
    }
    if (value.NODE_ENV === 'production' && value.AUTH_JWT_SECRET === DEV_JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message:
          'is the development secret from .env.example, refused in production; set a random secret of 32+ characters or AUTH_JWKS_URL',
      });
    }
  });

export type ApiConfig = Readonly<z.infer<typeof apiEnvSchema>>;

export function loadApiConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  return loadConfig(apiEnvSchema, env);
}
