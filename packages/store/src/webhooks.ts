/**
 * Webhook subscriptions per (tenant, project) and the signature scheme of their deliveries.
 *
 * A delivery is an HTTP POST whose body is the RunEvent as JSON, with headers
 * `X-DVT-Event-Id`, `X-DVT-Timestamp` (unix seconds) and
 * `X-DVT-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
 * Receivers verify with {@link verifyWebhookSignature} and deduplicate by event id, because
 * delivery is at least once.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventType } from '@dvt/contracts';
import { ProblemError, type Logger } from '@dvt/service-kit';
import type pg from 'pg';
import { z } from 'zod';

export interface WebhookSubscription {
  id: string;
  tenantId: string;
  projectId: string;
  url: string;
  /** null: every event type. */
  eventTypes: EventType[] | null;
  createdAt: string;
}

export interface CreateWebhookInput {
  tenantId: string;
  projectId: string;
  url: string;
  /** Shared HMAC secret, at least 16 characters; generated (64 hex chars) when omitted. */
  secret?: string;
  /** Only these event types are delivered; omit or null for all. */
  eventTypes?: EventType[] | null;
}

export interface WebhookStoreOptions {
  pool: pg.Pool;
  log: Logger;
}

const CreateSchema = z.object({
  tenantId: z.string().min(1),
  projectId: z.string().min(1),
  url: z
    .string()
    .max(2000)
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '';
      } catch {
        return false;
      }
    }, 'must be an absolute http:// or https:// URL without credentials'),
  secret: z.string().min(16, 'must be at least 16 characters').max(512).optional(),
  eventTypes: z
    .array(EventType)
    .min(1, 'must list at least one event type, or be omitted')
    .nullish(),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const COLUMNS = `id, tenant_id as "tenantId", project_id as "projectId", url,
  event_types as "eventTypes", created_at as "createdAt"`;

type Row = Omit<WebhookSubscription, 'createdAt'> & { createdAt: Date };

export class WebhookSubscriptionStore {
  readonly #pool: pg.Pool;
  readonly #log: Logger;

  constructor(options: WebhookStoreOptions) {
    this.#pool = options.pool;
    this.#log = options.log;
  }

  /** Creates a subscription; the only time the secret is returned. Throws VALIDATION_FAILED. */
  async create(input: CreateWebhookInput): Promise<WebhookSubscription & { secret: string }> {
    const parsed = CreateSchema.safeParse(input);
    if (!parsed.success) {
      const problems = parsed.error.issues.map(
        (i) => `${i.path.map(String).join('.') || 'subscription'}: ${i.message}`,
      );
      throw new ProblemError(
        'VALIDATION_FAILED',
        `invalid webhook subscription: ${problems.join('; ')}`,
        { errors: problems },
      );
    }
    const value = parsed.data;
    const secret = value.secret ?? randomBytes(32).toString('hex');
    const { rows } = await this.#pool.query<Row>(
      `insert into webhook_subscriptions (tenant_id, project_id, url, secret, event_types)
       values ($1, $2, $3, $4, $5) returning ${COLUMNS}`,
      [value.tenantId, value.projectId, value.url, secret, value.eventTypes ?? null],
    );
    const created = toSubscription(rows[0] as Row);
    this.#log.info(
      { subscriptionId: created.id, tenantId: created.tenantId, projectId: created.projectId },
      'webhook subscription created',
    );
    return { ...created, secret };
  }

  /** Active subscriptions of a project, oldest first; secrets are never listed. */
  async list(scope: { tenantId: string; projectId: string }): Promise<WebhookSubscription[]> {
    const { rows } = await this.#pool.query<Row>(
      `select ${COLUMNS} from webhook_subscriptions
       where tenant_id = $1 and project_id = $2 and disabled_at is null
       order by created_at, id`,
      [scope.tenantId, scope.projectId],
    );
    return rows.map(toSubscription);
  }

  /**
   * Disables a subscription; its pending deliveries are dropped by the relay. Returns false
   * when there is no such active subscription in the scope (including another tenant's).
   */
  async delete(scope: { tenantId: string; projectId: string; id: string }): Promise<boolean> {
    if (!UUID.test(scope.id)) return false;
    const { rowCount } = await this.#pool.query(
      `update webhook_subscriptions set disabled_at = clock_timestamp()
       where id = $1 and tenant_id = $2 and project_id = $3 and disabled_at is null`,
      [scope.id, scope.tenantId, scope.projectId],
    );
    if (rowCount) this.#log.info({ subscriptionId: scope.id }, 'webhook subscription deleted');
    return (rowCount ?? 0) > 0;
  }
}

export function createWebhookSubscriptionStore(
  options: WebhookStoreOptions,
): WebhookSubscriptionStore {
  return new WebhookSubscriptionStore(options);
}

function toSubscription(row: Row): WebhookSubscription {
  return { ...row, createdAt: row.createdAt.toISOString() };
}

/** `v1=<hex>` for a body sent at `timestamp` (unix seconds, as sent in X-DVT-Timestamp). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `v1=${mac}`;
}

export interface VerifyWebhookOptions {
  /** Reject timestamps further than this from now, in seconds (default 300; 0 turns it off). */
  toleranceSeconds?: number;
  /** The clock, in ms (default Date.now()). */
  now?: number;
}

/**
 * true when `header` (the X-DVT-Signature value; several `v1=` entries may be separated by
 * commas) carries a valid signature of `timestamp + "." + body` under `secret`, and the
 * timestamp is within the tolerance. Compares in constant time.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string,
  body: string | Buffer,
  header: string | null | undefined,
  options: VerifyWebhookOptions = {},
): boolean {
  if (!header || !/^\d{1,12}$/.test(timestamp)) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = (options.now ?? Date.now()) / 1000;
  if (tolerance > 0 && Math.abs(nowSeconds - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(
    signWebhook(secret, timestamp, Buffer.isBuffer(body) ? body.toString('utf8') : body),
  );
  return header
    .split(',')
    .map((part) => Buffer.from(part.trim()))
    .some(
      (candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected),
    );
}
