/**
 * Plan versions (table api_plan_versions). A version is immutable: submitting the same input
 * again returns the stored version; another input under a taken version is a conflict.
 */
import { ProblemError } from '@dvt/service-kit';
import type pg from 'pg';

export interface PlanVersionRecord {
  projectId: string;
  planId: string;
  planVersion: string;
  sha256: string;
  uri: string;
  sizeBytes: number;
  schemaVersion: string;
  sourceKind: 'plan' | 'dbt';
  sourceSha256: string;
  stepsTotal: number;
  requiresApproval: boolean;
  createdBy: string;
  createdAt: string;
}

type Row = Omit<PlanVersionRecord, 'createdAt' | 'sizeBytes'> & {
  createdAt: Date;
  sizeBytes: string;
};

const COLUMNS = `project_id as "projectId", plan_id as "planId", plan_version as "planVersion", sha256,
  artifact_uri as uri, size_bytes as "sizeBytes", schema_version as "schemaVersion",
  source_kind as "sourceKind", source_sha256 as "sourceSha256", steps_total as "stepsTotal",
  requires_approval as "requiresApproval", created_by as "createdBy", created_at as "createdAt"`;

export class PlanRepository {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Records a version; returns `{ created: false }` with the stored one for a resubmission. */
  async record(
    tenantId: string,
    version: Omit<PlanVersionRecord, 'createdAt'>,
  ): Promise<{ record: PlanVersionRecord; created: boolean }> {
    const { rows } = await this.#pool.query<Row>(
      `insert into api_plan_versions (tenant_id, project_id, plan_id, plan_version, sha256, artifact_uri,
         size_bytes, schema_version, source_kind, source_sha256, steps_total, requires_approval, created_by)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       on conflict do nothing returning ${COLUMNS}`,
      [
        tenantId,
        version.projectId,
        version.planId,
        version.planVersion,
        version.sha256,
        version.uri,
        version.sizeBytes,
        version.schemaVersion,
        version.sourceKind,
        version.sourceSha256,
        version.stepsTotal,
        version.requiresApproval,
        version.createdBy,
      ],
    );
    if (rows[0]) return { record: toRecord(rows[0]), created: true };
    const existing = await this.get(
      tenantId,
      version.projectId,
      version.planId,
      version.planVersion,
    );
    if (existing && existing.sourceSha256 === version.sourceSha256)
      return { record: existing, created: false };
    throw new ProblemError(
      'CONFLICT',
      `plan ${version.planId} version ${version.planVersion} already exists with other content; versions are immutable, submit it under a new planVersion`,
      { planId: version.planId, planVersion: version.planVersion },
    );
  }

  async get(
    tenantId: string,
    projectId: string,
    planId: string,
    planVersion: string,
  ): Promise<PlanVersionRecord | undefined> {
    const { rows } = await this.#pool.query<Row>(
      `select ${COLUMNS} from api_plan_versions
       where tenant_id = $1 and project_id = $2 and plan_id = $3 and plan_version = $4`,
      [tenantId, projectId, planId, planVersion],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** Every version of a plan, newest first. */
  async versions(
    tenantId: string,
    projectId: string,
    planId: string,
  ): Promise<PlanVersionRecord[]> {
    const { rows } = await this.#pool.query<Row>(
      `select ${COLUMNS} from api_plan_versions
       where tenant_id = $1 and project_id = $2 and plan_id = $3
       order by created_at desc, plan_version desc`,
      [tenantId, projectId, planId],
    );
    return rows.map(toRecord);
  }
}

function toRecord(row: Row): PlanVersionRecord {
  return { ...row, sizeBytes: Number(row.sizeBytes), createdAt: row.createdAt.toISOString() };
}
