/**
 * The runs the api started (api_runs) and the Idempotency-Key records of POST /runs
 * (api_idempotency_keys).
 *
 * Protocol for one key: the first request inserts the row with a fresh runId and holds the
 * claim while it asks the engine to start the run; concurrent requests with the key wait for
 * the row to turn `started` and answer with the stored response. A holder that fails releases
 * the claim, and the next request with the key takes it over with the *same* runId, so a run
 * the engine did start before the failure is never started twice under another id.
 */
import { randomUUID } from 'node:crypto';
import { ProblemError } from '@dvt/service-kit';
import type pg from 'pg';

export interface ApiRunRecord {
  runId: string;
  tenantId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  originalRunId: string | null;
  createdBy: string;
  createdAt: string;
}

type RunRow = Omit<ApiRunRecord, 'createdAt'> & { createdAt: Date };

const RUN_COLUMNS = `run_id as "runId", tenant_id as "tenantId", project_id as "projectId", environment,
  plan_id as "planId", plan_version as "planVersion", original_run_id as "originalRunId",
  created_by as "createdBy", created_at as "createdAt"`;

export type KeyClaim =
  | { kind: 'owner'; runId: string }
  | { kind: 'done'; runId: string; response: Record<string, unknown> };

export interface ClaimOptions {
  tenantId: string;
  projectId: string;
  key: string;
  requestHash: string;
  /** How long to wait for another request holding the key, in ms. */
  waitMs: number;
  /** A claim older than this is considered abandoned, in ms. */
  leaseMs: number;
}

export class RunRequestRepository {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async recordRun(run: Omit<ApiRunRecord, 'createdAt'>): Promise<void> {
    await this.#pool.query(
      `insert into api_runs (run_id, tenant_id, project_id, environment, plan_id, plan_version, original_run_id, created_by)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (run_id) do nothing`,
      [
        run.runId,
        run.tenantId,
        run.projectId,
        run.environment,
        run.planId,
        run.planVersion,
        run.originalRunId,
        run.createdBy,
      ],
    );
  }

  /** The run in the caller's tenant, or undefined (also for another tenant's run). */
  async getRun(tenantId: string, runId: string): Promise<ApiRunRecord | undefined> {
    const { rows } = await this.#pool.query<RunRow>(
      `select ${RUN_COLUMNS} from api_runs where run_id = $1 and tenant_id = $2`,
      [runId, tenantId],
    );
    return rows[0] && { ...rows[0], createdAt: rows[0].createdAt.toISOString() };
  }

  /** Takes the key, or waits for its holder and returns the stored response. */
  async claim(options: ClaimOptions): Promise<KeyClaim> {
    const deadline = Date.now() + options.waitMs;
    const inserted = await this.#pool.query<{ runId: string }>(
      `insert into api_idempotency_keys (tenant_id, project_id, idempotency_key, request_hash, run_id)
       values ($1, $2, $3, $4, $5) on conflict do nothing returning run_id as "runId"`,
      [options.tenantId, options.projectId, options.key, options.requestHash, randomUUID()],
    );
    if (inserted.rows[0]) return { kind: 'owner', runId: inserted.rows[0].runId };

    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      const { rows } = await this.#pool.query<{
        requestHash: string;
        runId: string;
        state: string;
        response: Record<string, unknown> | null;
      }>(
        `select request_hash as "requestHash", run_id as "runId", state, response from api_idempotency_keys
         where tenant_id = $1 and project_id = $2 and idempotency_key = $3`,
        [options.tenantId, options.projectId, options.key],
      );
      const row = rows[0];
      if (!row) throw new Error('idempotency key row vanished');
      if (row.requestHash !== options.requestHash) {
        throw new ProblemError(
          'IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used with a different request body; use a new key for a new request',
        );
      }
      if (row.state === 'started' && row.response)
        return { kind: 'done', runId: row.runId, response: row.response };
      const taken = await this.#pool.query<{ runId: string }>(
        `update api_idempotency_keys set claimed_at = clock_timestamp()
         where tenant_id = $1 and project_id = $2 and idempotency_key = $3 and state = 'pending'
           and (claimed_at is null or claimed_at < clock_timestamp() - $4 * interval '1 millisecond')
         returning run_id as "runId"`,
        [options.tenantId, options.projectId, options.key, options.leaseMs],
      );
      if (taken.rows[0]) return { kind: 'owner', runId: taken.rows[0].runId };
      if (Date.now() >= deadline) {
        throw new ProblemError(
          'CONFLICT',
          'another request with this Idempotency-Key is still starting the run; retry in a moment',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async complete(
    tenantId: string,
    projectId: string,
    key: string,
    response: Record<string, unknown>,
  ): Promise<void> {
    await this.#pool.query(
      `update api_idempotency_keys set state = 'started', claimed_at = null, response = $4
       where tenant_id = $1 and project_id = $2 and idempotency_key = $3`,
      [tenantId, projectId, key, JSON.stringify(response)],
    );
  }

  async release(tenantId: string, projectId: string, key: string): Promise<void> {
    await this.#pool.query(
      `update api_idempotency_keys set claimed_at = null
       where tenant_id = $1 and project_id = $2 and idempotency_key = $3 and state = 'pending'`,
      [tenantId, projectId, key],
    );
  }
}
