/**
 * What an engine can run (`GET /internal/v1/capabilities` on the engine). The planner compares
 * a plan's required capabilities with this list and rejects what the engine cannot run.
 */
import { z } from 'zod';

export const EngineLimits = z.strictObject({
  /** Most steps one plan may have. */
  maxSteps: z.int().min(1),
  /** Highest concurrency a plan may ask for. */
  maxConcurrency: z.int().min(1),
  /** Largest serialized plan, in bytes. */
  maxPlanBytes: z.int().min(1),
});
export type EngineLimits = z.infer<typeof EngineLimits>;

export const EngineCapabilities = z.strictObject({
  /** Step kinds the engine has executors for, e.g. `noop`, `sql`, `dbt.model`. */
  kinds: z.array(z.string().min(1)),
  /** dbt materializations the engine can build, e.g. `view`, `table`. */
  materializations: z.array(z.string().min(1)),
  /** Run signals the engine accepts, e.g. `PAUSE`, `APPROVE`. */
  signals: z.array(z.string().min(1)),
  /** Named targets (databases) configured on the engine, e.g. `warehouse`. */
  targets: z.array(z.string().min(1)),
  limits: EngineLimits,
});
export type EngineCapabilities = z.infer<typeof EngineCapabilities>;
