/** Projects and environments (tables api_projects, api_environments; migration 0300). */
import { ProblemError } from '@dvt/service-kit';
import type pg from 'pg';

export interface Project {
  projectId: string;
  name: string;
  createdBy: string;
  createdAt: string;
}

export interface Environment {
  projectId: string;
  name: string;
  createdBy: string;
  createdAt: string;
}

type Dated<T> = Omit<T, 'createdAt'> & { createdAt: Date };

const PROJECT_COLUMNS = `project_id as "projectId", name, created_by as "createdBy", created_at as "createdAt"`;
const ENV_COLUMNS = `project_id as "projectId", name, created_by as "createdBy", created_at as "createdAt"`;

export class ProjectRepository {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async create(
    tenantId: string,
    input: { projectId: string; name: string },
    createdBy: string,
  ): Promise<Project> {
    const { rows } = await this.#pool.query<Dated<Project>>(
      `insert into api_projects (tenant_id, project_id, name, created_by) values ($1, $2, $3, $4)
       on conflict do nothing returning ${PROJECT_COLUMNS}`,
      [tenantId, input.projectId, input.name, createdBy],
    );
    if (!rows[0]) {
      throw new ProblemError(
        'CONFLICT',
        `project ${input.projectId} already exists; choose another projectId`,
      );
    }
    return dated(rows[0]);
  }

  async get(tenantId: string, projectId: string): Promise<Project | undefined> {
    const { rows } = await this.#pool.query<Dated<Project>>(
      `select ${PROJECT_COLUMNS} from api_projects where tenant_id = $1 and project_id = $2`,
      [tenantId, projectId],
    );
    return rows[0] && dated(rows[0]);
  }

  /** Projects of the tenant, by id; `only` restricts the list (project-scoped grants). */
  async list(tenantId: string, only: Set<string> | null): Promise<Project[]> {
    const { rows } = await this.#pool.query<Dated<Project>>(
      `select ${PROJECT_COLUMNS} from api_projects
       where tenant_id = $1 and ($2::text[] is null or project_id = any($2))
       order by project_id`,
      [tenantId, only ? [...only] : null],
    );
    return rows.map(dated);
  }

  async createEnvironment(
    tenantId: string,
    projectId: string,
    name: string,
    createdBy: string,
  ): Promise<Environment> {
    const { rows } = await this.#pool.query<Dated<Environment>>(
      `insert into api_environments (tenant_id, project_id, name, created_by) values ($1, $2, $3, $4)
       on conflict do nothing returning ${ENV_COLUMNS}`,
      [tenantId, projectId, name, createdBy],
    );
    if (!rows[0]) {
      throw new ProblemError(
        'CONFLICT',
        `environment ${name} already exists in project ${projectId}`,
      );
    }
    return dated(rows[0]);
  }

  async listEnvironments(tenantId: string, projectId: string): Promise<Environment[]> {
    const { rows } = await this.#pool.query<Dated<Environment>>(
      `select ${ENV_COLUMNS} from api_environments where tenant_id = $1 and project_id = $2 order by name`,
      [tenantId, projectId],
    );
    return rows.map(dated);
  }

  async hasEnvironment(tenantId: string, projectId: string, name: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      'select 1 from api_environments where tenant_id = $1 and project_id = $2 and name = $3',
      [tenantId, projectId, name],
    );
    return (rowCount ?? 0) > 0;
  }
}

export function dated<T extends { createdAt: Date }>(
  row: T,
): Omit<T, 'createdAt'> & { createdAt: string } {
  return { ...row, createdAt: row.createdAt.toISOString() };
}
