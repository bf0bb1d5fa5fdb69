/**
 * The run state store (DESIGN §6): append-only events per run, and the read model of runs and
 * steps that the append function keeps in the same transaction.
 *
 * An append is one call of `dvt_append_run_event` (migration 0004), so it is atomic on its own
 * and a retry after a client-side timeout is harmless: the idempotency key makes the second
 * call return the first one's record.
 */
import {
  EventType,
  idempotencyKey,
  type RunEvent,
  type RunEventInput,
  type RunStatus,
  type StepStatus,
} from '@dvt/contracts';
import { ProblemError, type Logger } from '@dvt/service-kit';
import type pg from 'pg';
import { z } from 'zod';

export interface RunStateStoreOptions {
  pool: pg.Pool;
  log: Logger;
}

export interface AppendResult {
  event: RunEvent;
  /** true when an event with the same idempotency key existed; nothing was inserted. */
  idempotent: boolean;
}

export interface AppendOptions {
  /**
   * Run the append on this client, inside the caller's open transaction. The run's row stays
   * locked until the caller commits, so later appends to the same run wait for it.
   */
  client?: pg.ClientBase;
}

export interface ListEventsOptions {
  /** Only events with a larger runSeq (default 0: from the start). */
  afterSeq?: number;
  /** At most this many events, 1..1000 (default 100). */
  limit?: number;
}

export interface StepCounts {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  skipped: number;
}

export interface RunRecord {
  runId: string;
  tenantId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  status: RunStatus;
  substatus: 'WAITING_APPROVAL' | null;
  originalRunId: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  updatedAt: string;
  lastSeq: number;
  stepCounts: StepCounts;
  error: unknown;
}

export interface StepRecord {
  stepId: string;
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  lastError: unknown;
  reason: string | null;
  output: unknown;
}

export interface RunWithSteps extends RunRecord {
  steps: StepRecord[];
}

export interface ListRunsOptions {
  tenantId: string;
  projectId: string;
  status?: RunStatus;
  /** Page size, 1..500 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface RunPage {
  runs: RunRecord[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const nonEmpty = z.string().min(1);

const EventInputSchema = z.object({
  runId: nonEmpty.max(200),
  tenantId: nonEmpty.max(200),
  projectId: nonEmpty.max(200),
  environment: nonEmpty.max(200),
  planId: nonEmpty.max(200),
  planVersion: nonEmpty.max(64),
  stepId: nonEmpty.max(512).nullish(),
  logicalAttemptId: nonEmpty.max(200),
  attempt: z.number().int().positive().nullish(),
  eventType: EventType,
  payload: z.record(z.string(), z.unknown()).optional(),
  emittedAt: z.date().refine((d) => !Number.isNaN(d.getTime()), 'must be a valid Date'),
});

const RunStatusSchema = z.enum(['QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED']);

const APPEND_SQL = `select * from dvt_append_run_event(
  $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13)`;

const EVENT_COLUMNS = `event_id as "eventId", run_id as "runId", run_seq as "runSeq",
  idempotency_key as "idempotencyKey", tenant_id as "tenantId", project_id as "projectId",
  environment, plan_id as "planId", plan_version as "planVersion", step_id as "stepId",
  logical_attempt_id as "logicalAttemptId", attempt, event_type as "eventType", payload,
  emitted_at as "emittedAt", persisted_at as "persistedAt"`;

const RUN_COLUMNS = `run_id as "runId", tenant_id as "tenantId", project_id as "projectId",
  environment, plan_id as "planId", plan_version as "planVersion", status, substatus,
  original_run_id as "originalRunId", created_at as "createdAt", started_at as "startedAt",
  ended_at as "endedAt", updated_at as "updatedAt", last_seq as "lastSeq",
  steps_total, steps_pending, steps_running, steps_completed, steps_failed, steps_skipped, error,
  (extract(epoch from created_at) * 1000000)::bigint::text as "createdAtMicros"`;

export class RunStateStore {
  readonly #pool: pg.Pool;
  readonly #log: Logger;

  constructor(options: RunStateStoreOptions) {
    this.#pool = options.pool;
    this.#log = options.log;
  }

  /**
   * Appends one event. A duplicate idempotency key returns the stored record with
   * `idempotent: true` and inserts nothing. Throws ProblemError VALIDATION_FAILED for bad
   * input and CONFLICT when the event names another tenant, project, environment or plan than
   * the run's earlier events.
   */
  async appendEvent(input: RunEventInput, options: AppendOptions = {}): Promise<AppendResult> {
    const params = appendParams(input);
    const client = options.client ?? this.#pool;
    let row: AppendRow | undefined;
    try {
      ({
        rows: [row],
      } = await client.query<AppendRow>(APPEND_SQL, params));
    } catch (error) {
      throw translateAppendError(error);
    }
    if (!row) throw new Error('dvt_append_run_event returned no row');
    const { idempotent, ...event } = row;
    if (idempotent) {
      this.#log.debug(
        { runId: event.runId, runSeq: Number(event.runSeq), eventType: event.eventType },
        'duplicate event ignored',
      );
    }
    return { event: toRunEvent(event), idempotent };
  }

  /**
   * Appends several events in one transaction, in order per run. Runs are locked in runId
   * order (a stable sort keeps each run's own order) so that two batches never deadlock.
   * Results come back in the order of `inputs`.
   */
  async appendEvents(inputs: readonly RunEventInput[]): Promise<AppendResult[]> {
    const prepared = inputs.map((input, index) => ({ index, params: appendParams(input) }));
    prepared.sort((a, b) => (a.params[0] < b.params[0] ? -1 : a.params[0] > b.params[0] ? 1 : 0));
    const results = new Array<AppendResult>(inputs.length);
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('begin');
      try {
        for (const { index, params } of prepared) {
          const { rows } = await client.query<AppendRow>(APPEND_SQL, params);
          const { idempotent, ...event } = rows[0] as AppendRow;
          results[index] = { event: toRunEvent(event), idempotent };
        }
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => {
          broken = true;
        });
        throw translateAppendError(error);
      }
    } finally {
      client.release(broken);
    }
    return results;
  }

  /** A run's events with runSeq > afterSeq, in runSeq order. */
  async listEvents(runId: string, options: ListEventsOptions = {}): Promise<RunEvent[]> {
    const afterSeq = checkInt('afterSeq', options.afterSeq ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = checkInt('limit', options.limit ?? 100, 1, 1000);
    const { rows } = await this.#pool.query<EventRow>(
      `select ${EVENT_COLUMNS} from run_events
       where run_id = $1 and run_seq > $2 order by run_seq limit $3`,
      [runId, afterSeq, limit],
    );
    return rows.map(toRunEvent);
  }

  /**
   * One run with its steps (ordered by step id), or null when there is none. With `tenantId`,
   * a run of another tenant is null too, indistinguishable from a missing one.
   */
  async getRun(runId: string, options: { tenantId?: string } = {}): Promise<RunWithSteps | null> {
    const { rows } = await this.#pool.query<RunRow>(
      `select ${RUN_COLUMNS} from runs where run_id = $1 and ($2::text is null or tenant_id = $2)`,
      [runId, options.tenantId ?? null],
    );
    const run = rows[0];
    if (!run) return null;
    const steps = await this.#pool.query<StepRow>(
      `select step_id as "stepId", status, attempts, started_at as "startedAt",
              ended_at as "endedAt", last_error as "lastError", reason, output
       from run_steps where run_id = $1 order by step_id`,
      [runId],
    );
    return { ...toRunRecord(run), steps: steps.rows.map(toStepRecord) };
  }

  /** Runs of a project, newest first, with keyset pagination over (createdAt, runId). */
  async listRuns(options: ListRunsOptions): Promise<RunPage> {
    const limit = checkInt('limit', options.limit ?? 50, 1, 500);
    if (options.status !== undefined && !RunStatusSchema.safeParse(options.status).success) {
      throw new ProblemError(
        'VALIDATION_FAILED',
        `status must be one of ${RunStatusSchema.options.join(', ')}`,
      );
    }
    const after = options.cursor ? decodeCursor(options.cursor) : null;
    const { rows } = await this.#pool.query<RunRow>(
      `select ${RUN_COLUMNS} from runs
       where tenant_id = $1 and project_id = $2
         and ($3::text is null or status = $3)
         and ($4::bigint is null
              or (created_at, run_id) < (timestamptz 'epoch' + $4::bigint * interval '1 microsecond', $5::text))
       order by created_at desc, run_id desc
       limit $6`,
      [
        options.tenantId,
        options.projectId,
        options.status ?? null,
        after?.micros ?? null,
        after?.runId ?? null,
        limit + 1,
      ],
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextCursor =
      rows.length > limit && last ? encodeCursor(last.createdAtMicros, last.runId) : null;
    return { runs: page.map(toRunRecord), nextCursor };
  }
}

export function createRunStateStore(options: RunStateStoreOptions): RunStateStore {
  return new RunStateStore(options);
}

type EventRow = Omit<RunEvent, 'runSeq' | 'emittedAt' | 'persistedAt'> & {
  runSeq: string | number;
  emittedAt: Date;
  persistedAt: Date;
};
type AppendRow = EventRow & { idempotent: boolean };

interface RunRow {
  runId: string;
  tenantId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  status: RunStatus;
  substatus: 'WAITING_APPROVAL' | null;
  originalRunId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  updatedAt: Date;
  lastSeq: string;
  steps_total: number;
  steps_pending: number;
  steps_running: number;
  steps_completed: number;
  steps_failed: number;
  steps_skipped: number;
  error: unknown;
  createdAtMicros: string;
}

interface StepRow {
  stepId: string;
  status: StepStatus;
  attempts: number;
  startedAt: Date | null;
  endedAt: Date | null;
  lastError: unknown;
  reason: string | null;
  output: unknown;
}

function appendParams(input: RunEventInput): [string, ...unknown[]] {
  const parsed = EventInputSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.') || 'event'}: ${issue.message}`,
    );
    throw new ProblemError('VALIDATION_FAILED', `invalid run event: ${problems.join('; ')}`, {
      errors: problems,
    });
  }
  const e = parsed.data;
  const key = idempotencyKey({
    runId: e.runId,
    stepId: e.stepId ?? null,
    logicalAttemptId: e.logicalAttemptId,
    eventType: e.eventType,
    planId: e.planId,
    planVersion: e.planVersion,
  });
  return [
    e.runId,
    key,
    e.tenantId,
    e.projectId,
    e.environment,
    e.planId,
    e.planVersion,
    e.stepId ?? null,
    e.logicalAttemptId,
    e.attempt ?? null,
    e.eventType,
    JSON.stringify(e.payload ?? {}),
    e.emittedAt,
  ];
}

function translateAppendError(error: unknown): unknown {
  if ((error as { code?: unknown }).code === 'DVT01') {
    return new ProblemError('CONFLICT', (error as Error).message, {}, { cause: error });
  }
  return error;
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ProblemError('VALIDATION_FAILED', `${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function encodeCursor(micros: string, runId: string): string {
  return Buffer.from(JSON.stringify([micros, runId])).toString('base64url');
}

function decodeCursor(cursor: string): { micros: string; runId: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      /^-?\d{1,19}$/.test(value[0]) &&
      typeof value[1] === 'string'
    ) {
      return { micros: value[0], runId: value[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw new ProblemError(
    'VALIDATION_FAILED',
    'cursor is not one this API returned; pass nextCursor from the previous page unchanged',
  );
}

function iso(value: Date | null): string | null {
  return value ? value.toISOString() : null;
}

/** Maps a row (camelCase aliases, pg types) to the contract's RunEvent. */
export function toRunEvent(row: EventRow): RunEvent {
  return {
    ...row,
    runSeq: Number(row.runSeq),
    emittedAt: row.emittedAt.toISOString(),
    persistedAt: row.persistedAt.toISOString(),
  };
}

function toRunRecord(row: RunRow): RunRecord {
  return {
    runId: row.runId,
    tenantId: row.tenantId,
    projectId: row.projectId,
    environment: row.environment,
    planId: row.planId,
    planVersion: row.planVersion,
    status: row.status,
    substatus: row.substatus,
    originalRunId: row.originalRunId,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    endedAt: iso(row.endedAt),
    updatedAt: row.updatedAt.toISOString(),
    lastSeq: Number(row.lastSeq),
    stepCounts: {
      total: row.steps_total,
      pending: row.steps_pending,
      running: row.steps_running,
      completed: row.steps_completed,
      failed: row.steps_failed,
      skipped: row.steps_skipped,
    },
    error: row.error,
  };
}

function toStepRecord(row: StepRow): StepRecord {
  return {
    ...row,
    startedAt: iso(row.startedAt),
    endedAt: iso(row.endedAt),
  };
}
