import { z } from 'zod';
import { commonEnv, httpUrl, loadConfig, port } from '@dvt/service-kit';

export const plannerEnvSchema = z.object({
  ...commonEnv,
  PORT: port(8081),
  /** The engine, asked for its capabilities when a compile request does not bring them. */
  ENGINE_URL: httpUrl.optional(),
  /** Estimated duration above which a plan needs approval, in ms (default 4 hours). */
  APPROVAL_BUDGET_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(4 * 60 * 60 * 1000),
  /** Largest compile request (a plan or a dbt manifest), in bytes; the api's PLAN_BODY_LIMIT_BYTES. */
  COMPILE_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
});

export type PlannerConfig = Readonly<z.infer<typeof plannerEnvSchema>>;

export function loadPlannerConfig(
  env: Record<string, string | undefined> = process.env,
): PlannerConfig {
  return loadConfig(plannerEnvSchema, env);
}
