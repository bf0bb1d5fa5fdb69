/**
 * Step history in PostgreSQL (`step_history`, migration 0100): the last outcome of each step
 * of a plan, keyed by tenant, project, plan and step. Read in bulk when a plan is compiled;
 * written by whoever sees steps end (the engine or the api) through `recordStepOutcomes`.
 *
 * Only a COMPLETED outcome sets the duration and the last successful checksum: a failed or
 * skipped attempt says nothing about how long a successful run takes, nor about what was built.
 */
import type pg from 'pg';

export type StepOutcomeStatus = 'COMPLETED' | 'FAILED' | 'SKIPPED';

export interface StepHistoryRecord {
  stepId: string;
  lastStatus: StepOutcomeStatus;
  /** Duration of the last successful run, in ms; null before the first success. */
  lastDurationMs: number | null;
  /** Checksum of the last successful run; null when none was recorded. */
  lastSuccessfulChecksum: string | null;
  lastSuccessAt: Date | null;
  updatedAt: Date;
}

/** History of one plan's steps, by step id. */
export type PlanHistory = ReadonlyMap<string, StepHistoryRecord>;

export interface HistoryScope {
  tenantId: string;
  projectId: string;
  planId: string;
}

export interface StepOutcome extends HistoryScope {
  stepId: string;
  status: StepOutcomeStatus;
  /** How long the attempt took, in ms; used only for COMPLETED outcomes. */
  durationMs?: number | null;
  /** The step's checksum (`with.checksum` of dbt steps); kept only for COMPLETED outcomes. */
  checksum?: string | null;
  /** When the step ended; the database's clock when absent. */
  endedAt?: Date;
}

/** Reads the history of a plan's steps. */
export class PlannerHistory {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** The records of the given steps that exist, in one query. */
  async load(
    scope: HistoryScope,
    stepIds: readonly string[],
  ): Promise<Map<string, StepHistoryRecord>> {
    const history = new Map<string, StepHistoryRecord>();
    if (stepIds.length === 0) return history;
    const { rows } = await this.#pool.query<{
      stepId: string;
      lastStatus: StepOutcomeStatus;
      lastDurationMs: string | null;
      lastSuccessfulChecksum: string | null;
      lastSuccessAt: Date | null;
      updatedAt: Date;
    }>(
      `select step_id as "stepId", last_status as "lastStatus",
              last_duration_ms as "lastDurationMs",
              last_successful_checksum as "lastSuccessfulChecksum",
              last_success_at as "lastSuccessAt", updated_at as "updatedAt"
         from step_history
        where tenant_id = $1 and project_id = $2 and plan_id = $3 and step_id = any($4::text[])`,
      [scope.tenantId, scope.projectId, scope.planId, stepIds],
    );
    for (const row of rows) {
      history.set(row.stepId, {
        ...row,
        lastDurationMs: row.lastDurationMs === null ? null : Number(row.lastDurationMs),
      });
    }
    return history;
  }
}

/** Records one step outcome; see {@link recordStepOutcomes}. */
export async function recordStepOutcome(pool: pg.Pool, outcome: StepOutcome): Promise<void> {
  await recordStepOutcomes(pool, [outcome]);
}

/**
 * Records step outcomes in one statement (an upsert per step). When the same step appears
 * twice, the later entry wins. Throws on a negative or fractional duration.
 */
export async function recordStepOutcomes(
  pool: pg.Pool,
  outcomes: readonly StepOutcome[],
): Promise<void> {
  const latest = new Map<string, StepOutcome>();
  for (const outcome of outcomes) {
    const duration = outcome.durationMs;
    if (
      duration !== undefined &&
      duration !== null &&
      !(Number.isInteger(duration) && duration >= 0)
    ) {
      throw new RangeError(
        `step ${outcome.stepId}: durationMs must be a non-negative integer, got ${duration}`,
      );
    }
    latest.set(
      JSON.stringify([outcome.tenantId, outcome.projectId, outcome.planId, outcome.stepId]),
      outcome,
    );
  }
  if (latest.size === 0) return;
  const rows = [...latest.values()];
  await pool.query(
    `insert into step_history as h
       (tenant_id, project_id, plan_id, step_id, last_status, last_duration_ms,
        last_successful_checksum, last_success_at, updated_at)
     select t.tenant_id, t.project_id, t.plan_id, t.step_id, t.status,
            case when t.status = 'COMPLETED' then t.duration_ms end,
            case when t.status = 'COMPLETED' then t.checksum end,
            case when t.status = 'COMPLETED' then coalesce(t.ended_at, now()) end,
            coalesce(t.ended_at, now())
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                   $7::text[], $8::timestamptz[])
            as t(tenant_id, project_id, plan_id, step_id, status, duration_ms, checksum, ended_at)
     on conflict (tenant_id, project_id, plan_id, step_id) do update set
       last_status = excluded.last_status,
       last_duration_ms = case when excluded.last_status = 'COMPLETED'
                               then coalesce(excluded.last_duration_ms, h.last_duration_ms)
                               else h.last_duration_ms end,
       last_successful_checksum = case when excluded.last_status = 'COMPLETED'
                                       then excluded.last_successful_checksum
                                       else h.last_successful_checksum end,
       last_success_at = case when excluded.last_status = 'COMPLETED'
                              then excluded.last_success_at else h.last_success_at end,
       updated_at = excluded.updated_at`,
    [
      rows.map((r) => r.tenantId),
      rows.map((r) => r.projectId),
      rows.map((r) => r.planId),
      rows.map((r) => r.stepId),
      rows.map((r) => r.status),
      rows.map((r) => r.durationMs ?? null),
      rows.map((r) => r.checksum ?? null),
      rows.map((r) => r.endedAt ?? null),
    ],
  );
}
