/** The audit log of write decisions (table api_audit_log). */
import type pg from 'pg';

export interface AuditEntry {
  tenantId: string;
  subject: string;
  credential: string;
  method: string;
  route: string;
  action: string;
  resource: string;
  decision: 'granted' | 'denied';
  reason: string;
  requestId: string;
}

export class AuditLog {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.#pool.query(
      `insert into api_audit_log (tenant_id, subject, credential, method, route, action, resource, decision, reason, request_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        entry.tenantId,
        entry.subject,
        entry.credential,
        entry.method,
        entry.route,
        entry.action,
        entry.resource,
        entry.decision,
        entry.reason,
        entry.requestId,
      ],
    );
  }
}
