/**
 * The outbox relay (DESIGN §6). Two stages, each claiming rows by their state with
 * `FOR UPDATE SKIP LOCKED`, so any number of relays may run side by side:
 *
 * 1. fan-out: pending outbox rows become one `webhook_deliveries` row per matching
 *    subscription, and the outbox row is marked done, in one statement;
 * 2. delivery: the head of each (subscription, run) chain — its lowest pending run_seq, with
 *    no earlier outbox row of that run still pending — is locked together with the chain's
 *    next rows, and they are POSTed in run_seq order inside that transaction. A failure
 *    schedules a retry with backoff and stops the chain, so a later event of a run is never
 *    delivered while an earlier one waits. A relay that dies mid-batch loses its transaction:
 *    the rows are pending again and are delivered (again) by the next relay — at least once.
 *
 * Nothing here remembers a "last id": an outbox id taken by a transaction that commits late
 * is simply a pending row when it becomes visible (field case B03).
 */
import {
  Allowlist,
  backoffDelay,
  DestinationError,
  errorText,
  guardedFetch,
  sleep,
  type BackoffOptions,
  type Logger,
  type Resolver,
} from '@dvt/service-kit';
import type pg from 'pg';
import type { RunEventListener } from './run-event-listener.ts';
import { toRunEvent } from './run-state-store.ts';
import { signWebhook } from './webhooks.ts';

export interface OutboxRelayOptions {
  pool: pg.Pool;
  log: Logger;
  /** Wakes the relay as soon as an event commits; without it the relay only polls. */
  listener?: RunEventListener;
  /** Idle polling interval in ms (default 1000). */
  pollIntervalMs?: number;
  /** Outbox rows fanned out per statement (default 200). */
  fanOutBatchSize?: number;
  /** (subscription, run) chains claimed per delivery transaction (default 8). */
  chainsPerBatch?: number;
  /** Deliveries per chain per transaction (default 50). */
  chainLength?: number;
  /** Timeout of one webhook POST in ms (default 10 000). */
  deliveryTimeoutMs?: number;
  /** Attempts before a delivery is marked dead and its chain moves on (default 25). */
  maxAttempts?: number;
  /** Backoff between attempts of one delivery (default 1 s doubling to 5 min). */
  retryBackoff?: BackoffOptions;
  /**
   * Which webhook destinations may be reached although they are loopback, private, link-local
   * or metadata addresses (default: none — such deliveries fail with the reason recorded).
   * `resolver` replaces DNS in tests.
   */
  destinations?: { allowlist: Allowlist; resolver?: Resolver };
}

export interface RelayCycleResult {
  fannedOut: number;
  delivered: number;
  failed: number;
  dead: number;
  cancelled: number;
}

interface DeliveryRow {
  id: string;
  subscriptionId: string;
  attempts: number;
  url: string;
  secret: string;
  disabled: boolean;
  eventId: string;
  runId: string;
  runSeq: string;
  idempotencyKey: string;
  tenantId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  stepId: string | null;
  logicalAttemptId: string;
  attempt: number | null;
  eventType: string;
  payload: Record<string, unknown>;
  emittedAt: Date;
  persistedAt: Date;
}

const FAN_OUT_SQL = `
with claimed as (
  select id, event_id, run_id, run_seq, tenant_id, project_id, event_type
  from outbox where state = 'pending'
  order by id limit $1
  for update skip locked
), fanned as (
  insert into webhook_deliveries (subscription_id, event_id, run_id, run_seq)
  select s.id, c.event_id, c.run_id, c.run_seq
  from claimed c
  join webhook_subscriptions s
    on s.tenant_id = c.tenant_id and s.project_id = c.project_id and s.disabled_at is null
   and (s.event_types is null or c.event_type = any (s.event_types))
  on conflict on constraint webhook_deliveries_once do nothing
)
update outbox o set state = 'done', processed_at = clock_timestamp()
from claimed c where o.id = c.id`;

const CLAIM_HEADS_SQL = `
select d.id
from webhook_deliveries d
where d.state = 'pending' and d.next_attempt_at <= clock_timestamp()
  and not exists (
    select 1 from webhook_deliveries e
    where e.state = 'pending' and e.subscription_id = d.subscription_id
      and e.run_id = d.run_id and e.run_seq < d.run_seq)
  and not exists (
    select 1 from outbox o
    where o.state = 'pending' and o.run_id = d.run_id and o.run_seq < d.run_seq)
order by d.next_attempt_at, d.id
limit $1
for update of d skip locked`;

// Rows behind a locked head cannot be claimed by anyone else (their head is pending), so
// locking them here never waits on another relay.
const CLAIM_CHAIN_SQL = `
select d.id, d.subscription_id as "subscriptionId", d.attempts, s.url, s.secret,
       (s.disabled_at is not null) as disabled,
       e.event_id as "eventId", e.run_id as "runId", e.run_seq as "runSeq",
       e.idempotency_key as "idempotencyKey", e.tenant_id as "tenantId",
       e.project_id as "projectId", e.environment, e.plan_id as "planId",
       e.plan_version as "planVersion", e.step_id as "stepId",
       e.logical_attempt_id as "logicalAttemptId", e.attempt, e.event_type as "eventType",
       e.payload, e.emitted_at as "emittedAt", e.persisted_at as "persistedAt"
from webhook_deliveries h
join webhook_deliveries d
  on d.subscription_id = h.subscription_id and d.run_id = h.run_id and d.run_seq >= h.run_seq
join webhook_subscriptions s on s.id = d.subscription_id
join run_events e on e.event_id = d.event_id
where h.id = $1 and d.state = 'pending'
  and (d.id = h.id or d.next_attempt_at <= clock_timestamp())
  and not exists (
    select 1 from outbox o
    where o.state = 'pending' and o.run_id = d.run_id and o.run_seq < d.run_seq)
order by d.run_seq
limit $2
for update of d`;

export class OutboxRelay {
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  readonly #listener: RunEventListener | undefined;
  readonly #pollIntervalMs: number;
  readonly #fanOutBatchSize: number;
  readonly #chainsPerBatch: number;
  readonly #chainLength: number;
  readonly #deliveryTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retryBackoff: BackoffOptions;
  readonly #destinations: { allowlist: Allowlist; resolver?: Resolver; setting: string };
  #controller: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  #unsubscribe: (() => void) | undefined;

  constructor(options: OutboxRelayOptions) {
    this.#pool = options.pool;
    this.#log = options.log;
    this.#listener = options.listener;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#fanOutBatchSize = options.fanOutBatchSize ?? 200;
    this.#chainsPerBatch = options.chainsPerBatch ?? 8;
    this.#chainLength = options.chainLength ?? 50;
    this.#deliveryTimeoutMs = options.deliveryTimeoutMs ?? 10_000;
    this.#maxAttempts = options.maxAttempts ?? 25;
    this.#retryBackoff = { initialMs: 1_000, maxMs: 300_000, ...options.retryBackoff };
    this.#destinations = {
      allowlist: options.destinations?.allowlist ?? new Allowlist([]),
      ...(options.destinations?.resolver ? { resolver: options.destinations.resolver } : {}),
      setting: 'WEBHOOK_ALLOWLIST',
    };
  }

  /** Starts relaying in the background; safe to call twice. */
  start(): void {
    if (this.#loop) return;
    this.#controller = new AbortController();
    this.#unsubscribe = this.#listener?.subscribeAll(() => this.#poke());
    this.#loop = this.#run(this.#controller.signal);
  }

  /**
   * Stops relaying: in-flight POSTs are aborted and their transaction rolled back, so those
   * rows stay pending for the next relay. Safe to call twice.
   */
  async stop(): Promise<void> {
    this.#controller?.abort();
    this.#poke();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#loop;
    this.#loop = undefined;
  }

  /** One pass of both stages; the background loop calls this, and tests may too. */
  async runOnce(signal: AbortSignal = new AbortController().signal): Promise<RelayCycleResult> {
    const fannedOut = await this.#fanOut();
    const result = await this.#deliverBatch(signal);
    return { fannedOut, ...result };
  }

  #poke(): void {
    this.#woken = true;
    this.#wake?.();
  }

  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      this.#woken = false;
      let busy = false;
      try {
        const r = await this.runOnce(signal);
        busy = r.fannedOut + r.delivered + r.failed + r.dead + r.cancelled > 0;
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        const delay = backoffDelay(failures, { initialMs: 200, maxMs: 10_000 });
        this.#log.warn({ err: errorText(error), delayMs: delay }, 'outbox relay cycle failed');
        await sleep(delay, signal).catch(() => undefined);
        continue;
      }
      if (busy || this.#woken) continue;
      await this.#idle(signal);
    }
  }

  /** Waits for a wake-up, the next due retry or the poll interval, whichever is first. */
  async #idle(signal: AbortSignal): Promise<void> {
    let waitMs = this.#pollIntervalMs;
    // Only retries scheduled for later count; fresh rows come with a wake-up or a busy cycle.
    try {
      const { rows } = await this.#pool.query<{ ms: number | null }>(
        `select greatest(0, extract(epoch from min(next_attempt_at) - clock_timestamp()) * 1000)::float8 as ms
         from webhook_deliveries where state = 'pending' and attempts > 0`,
      );
      const due = rows[0]?.ms;
      if (due !== null && due !== undefined) waitMs = Math.min(waitMs, Math.ceil(due) + 5);
    } catch {
      // The next cycle reports the database problem.
    }
    if (this.#woken || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async #fanOut(): Promise<number> {
    const { rowCount } = await this.#pool.query(FAN_OUT_SQL, [this.#fanOutBatchSize]);
    return rowCount ?? 0;
  }

  async #deliverBatch(signal: AbortSignal): Promise<Omit<RelayCycleResult, 'fannedOut'>> {
    const totals = { delivered: 0, failed: 0, dead: 0, cancelled: 0 };
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('begin');
      try {
        const heads = await client.query<{ id: string }>(CLAIM_HEADS_SQL, [this.#chainsPerBatch]);
        const chains: DeliveryRow[][] = [];
        for (const head of heads.rows) {
          const chain = await client.query<DeliveryRow>(CLAIM_CHAIN_SQL, [
            head.id,
            this.#chainLength,
          ]);
          if (chain.rows.length > 0) chains.push(chain.rows);
        }
        const outcomes = await Promise.all(
          chains.map((chain) => this.#deliverChain(chain, signal)),
        );
        if (signal.aborted) throw signal.reason;
        for (const outcome of outcomes) {
          for (const update of outcome) {
            totals[update.kind]++;
            await client.query(update.sql, update.params);
          }
        }
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => {
          broken = true;
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
    return totals;
  }

  /** POSTs a chain in run_seq order; stops at the first failure. Returns the row updates. */
  async #deliverChain(chain: DeliveryRow[], signal: AbortSignal): Promise<RowUpdate[]> {
    const updates: RowUpdate[] = [];
    for (const row of chain) {
      if (signal.aborted) break;
      if (row.disabled) {
        updates.push({
          kind: 'cancelled',
          sql: `update webhook_deliveries set state = 'cancelled' where id = $1`,
          params: [row.id],
        });
        continue;
      }
      const attempt = row.attempts + 1;
      const outcome = await this.#post(row, attempt, signal);
      if (outcome.ok) {
        updates.push({
          kind: 'delivered',
          sql: `update webhook_deliveries set state = 'delivered', attempts = $2, last_status = $3,
                  last_error = null, delivered_at = clock_timestamp() where id = $1`,
          params: [row.id, attempt, outcome.status],
        });
        continue;
      }
      if (signal.aborted) break;
      const dead = attempt >= this.#maxAttempts;
      const delayMs = backoffDelay(attempt, this.#retryBackoff);
      this.#log.warn(
        {
          deliveryId: row.id,
          subscriptionId: row.subscriptionId,
          runId: row.runId,
          runSeq: Number(row.runSeq),
          attempt,
          status: outcome.status,
          err: outcome.error,
          retryInMs: dead ? null : delayMs,
        },
        dead ? 'webhook delivery gave up' : 'webhook delivery failed',
      );
      updates.push({
        kind: dead ? 'dead' : 'failed',
        sql: `update webhook_deliveries set state = $2, attempts = $3, last_status = $4,
                last_error = $5, next_attempt_at = clock_timestamp() + $6 * interval '1 millisecond'
              where id = $1`,
        params: [
          row.id,
          dead ? 'dead' : 'pending',
          attempt,
          outcome.status,
          outcome.error,
          delayMs,
        ],
      });
      if (!dead) break;
    }
    return updates;
  }

  async #post(
    row: DeliveryRow,
    attempt: number,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; status: number | null; error: string | null }> {
    const { id: _id, subscriptionId: _s, attempts: _a, url, secret, disabled: _d, ...event } = row;
    const body = JSON.stringify(toRunEvent(event as Parameters<typeof toRunEvent>[0]));
    const timestamp = String(Math.floor(Date.now() / 1000));
    try {
      // Resolve, check and pin the address: a subscription must not reach internal services.
      const response = await guardedFetch(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'dvt-outbox-relay',
            'x-dvt-event-id': row.eventId,
            'x-dvt-timestamp': timestamp,
            'x-dvt-signature': signWebhook(secret, timestamp, body),
            'x-dvt-delivery-attempt': String(attempt),
          },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#deliveryTimeoutMs)]),
        },
        this.#destinations,
      );
      await response.body?.cancel().catch(() => undefined);
      const ok = response.status >= 200 && response.status < 300;
      return { ok, status: response.status, error: ok ? null : `HTTP ${response.status}` };
    } catch (error) {
      if (error instanceof DestinationError)
        return { ok: false, status: null, error: error.message };
      const timedOut = (error as Error).name === 'TimeoutError';
      return {
        ok: false,
        status: null,
        error: timedOut
          ? `no answer within ${this.#deliveryTimeoutMs} ms`
          : errorText((error as Error).cause ?? error),
      };
    }
  }
}

interface RowUpdate {
  kind: 'delivered' | 'failed' | 'dead' | 'cancelled';
  sql: string;
  params: unknown[];
}

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  return new OutboxRelay(options);
}
