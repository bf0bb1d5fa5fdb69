/** API keys (table api_keys): only the SHA-256 of a key is stored; the key is shown once. */
import type pg from 'pg';
import { newApiKey } from '../auth/authenticator.ts';

export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  roles: string[];
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
}

type Row = Omit<ApiKeyRecord, 'createdAt' | 'expiresAt'> & {
  createdAt: Date;
  expiresAt: Date | null;
};

const COLUMNS = `id, name, key_prefix as prefix, roles, created_by as "createdBy", created_at as "createdAt",
  expires_at as "expiresAt"`;

export class ApiKeyRepository {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async create(
    tenantId: string,
    input: { name: string; roles: string[]; expiresAt: string | null },
    createdBy: string,
  ): Promise<ApiKeyRecord & { key: string }> {
    const { key, prefix, hash } = newApiKey();
    const { rows } = await this.#pool.query<Row>(
      `insert into api_keys (tenant_id, name, key_hash, key_prefix, roles, created_by, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
      [tenantId, input.name, hash, prefix, input.roles, createdBy, input.expiresAt],
    );
    return { ...toRecord(rows[0]!), key };
  }

  async list(tenantId: string): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#pool.query<Row>(
      `select ${COLUMNS} from api_keys where tenant_id = $1 and revoked_at is null order by created_at, id`,
      [tenantId],
    );
    return rows.map(toRecord);
  }

  async revoke(tenantId: string, id: string): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
    const { rowCount } = await this.#pool.query(
      `update api_keys set revoked_at = clock_timestamp() where id = $1 and tenant_id = $2 and revoked_at is null`,
      [id, tenantId],
    );
    return (rowCount ?? 0) > 0;
  }
}

function toRecord(row: Row): ApiKeyRecord {
  return {
    ...row,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
  };
}
