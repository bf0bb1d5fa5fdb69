/**
 * Which projects an artifact belongs to (DESIGN §8 applied to artifacts). Tenant-wide grants
 * read every artifact of the tenant; a project-scoped grant reads an artifact only when it is
 * linked to one of its projects:
 *
 * - uploaded for the project (`POST /v1/artifacts?projectId=…`, table api_artifact_projects);
 * - an execution plan the api stored for the project (api_plan_versions.sha256);
 * - named by an event of a run of the project (step outputs, step logs, run_results.json that
 *   the engine stores and references by sha256 from StepCompleted, StepFailed and the run's
 *   terminal event).
 */
import type pg from 'pg';

export class ArtifactLinkRepository {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async link(input: {
    tenantId: string;
    sha256: string;
    projectId: string;
    createdBy: string;
  }): Promise<void> {
    await this.#pool.query(
      `insert into api_artifact_projects (tenant_id, sha256, project_id, created_by)
       values ($1, $2, $3, $4) on conflict do nothing`,
      [input.tenantId, input.sha256, input.projectId, input.createdBy],
    );
  }

  /** Whether the artifact is linked to any of `projectIds` (of the tenant). */
  async linkedToAny(tenantId: string, sha256: string, projectIds: readonly string[]) {
    if (projectIds.length === 0) return false;
    const { rows } = await this.#pool.query<{ linked: boolean }>(
      `select exists (
         select 1 from api_artifact_projects
          where tenant_id = $1 and sha256 = $2 and project_id = any($3)
         union all
         select 1 from api_plan_versions
          where tenant_id = $1 and sha256 = $2 and project_id = any($3)
         union all
         select 1 from run_events
          where array_remove(
                  array[payload ->> 'outputSha256', payload ->> 'logSha256', payload ->> 'runResultsSha256'],
                  null
                ) @> array[$2::text]
            and tenant_id = $1 and project_id = any($3)
       ) as linked`,
      [tenantId, sha256, [...projectIds]],
    );
    return rows[0]?.linked === true;
  }
}
