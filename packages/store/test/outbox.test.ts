import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Allowlist, isProblemError } from '@dvt/service-kit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutboxRelay,
  createRunEventListener,
  createRunStateStore,
  createWebhookSubscriptionStore,
  signWebhook,
  verifyWebhookSignature,
  type OutboxRelay,
  type RunEventListener,
  type RunStateStore,
  type WebhookSubscriptionStore,
} from '../src/index.ts';
import { event, PROJECT, TENANT } from './events.ts';
import { createMigratedDatabase, silentLog, type MigratedDatabase } from './helpers.ts';
import { firstSeqsByRun, startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

let env: MigratedDatabase;
let store: RunStateStore;
let hooks: WebhookSubscriptionStore;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  env = await createMigratedDatabase(16);
  store = createRunStateStore({ pool: env.pool, log: silentLog });
  hooks = createWebhookSubscriptionStore({ pool: env.pool, log: silentLog });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await env.close();
});

/** Each test works in a project of its own, so subscriptions of other tests do not match. */
function project(): string {
  return `proj-${randomUUID()}`;
}

async function receiver(
  respond?: Parameters<typeof startWebhookReceiver>[0],
): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(respond);
  cleanups.push(() => r.close());
  return r;
}

function listener(): RunEventListener {
  const l = createRunEventListener({ connectionString: env.db.url, log: silentLog });
  l.start();
  cleanups.push(() => l.stop());
  return l;
}

function relay(options: Partial<Parameters<typeof createOutboxRelay>[0]> = {}): OutboxRelay {
  const r = createOutboxRelay({
    pool: env.pool,
    log: silentLog,
    pollIntervalMs: 100,
    retryBackoff: { initialMs: 100, maxMs: 400 },
    // The receivers of these tests listen on loopback, which the relay refuses by default.
    destinations: { allowlist: new Allowlist(['127.0.0.1']) },
    ...options,
  });
  r.start();
  cleanups.push(() => r.stop());
  return r;
}

/** Outbox rows and webhook deliveries of a project still pending. */
async function undelivered(projectId: string): Promise<number> {
  const { rows } = await env.pool.query<{ n: number }>(
    `select ((select count(*) from outbox where state = 'pending' and project_id = $1)
           + (select count(*) from webhook_deliveries d join webhook_subscriptions s on s.id = d.subscription_id
              where d.state = 'pending' and s.project_id = $1))::int as n`,
    [projectId],
  );
  return rows[0]?.n ?? -1;
}

async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('webhook deliveries', () => {
  it('POSTs the event as JSON with a signature the receiver can verify', async () => {
    const projectId = project();
    const hook = await receiver();
    const sub = await hooks.create({
      tenantId: TENANT,
      projectId,
      url: hook.url,
      secret: 'a-shared-secret-123',
    });
    relay({ listener: listener() });
    const runId = randomUUID();
    const { event: appended } = await store.appendEvent(
      event(runId, 'RunQueued', { projectId, payload: { n: 1 } }),
    );

    await hook.waitFor((r) => r.length === 1);
    const [got] = hook.received;
    expect(got?.eventId).toBe(appended.eventId);
    expect(got?.event).toEqual(appended);
    expect(got?.path).toBe('/hook');
    expect(got?.attempt).toBe(1);
    expect(got?.signature).toBe(
      signWebhook('a-shared-secret-123', got?.timestamp ?? '', got?.body ?? ''),
    );
    expect(
      verifyWebhookSignature('a-shared-secret-123', got!.timestamp, got!.body, got!.signature),
    ).toBe(true);
    expect(
      verifyWebhookSignature(
        sub.secret.replace(/3$/, '4'),
        got!.timestamp,
        got!.body,
        got!.signature,
      ),
    ).toBe(false);

    await waitUntil(async () => (await undelivered(projectId)) === 0, 5000, 'delivery bookkeeping');
    const { rows } = await env.pool.query(
      `select state, attempts, last_status from webhook_deliveries where subscription_id = $1`,
      [sub.id],
    );
    expect(rows).toEqual([{ state: 'delivered', attempts: 1, last_status: 200 }]);
  });

  it('retries a receiver that answers 500, then 200, and holds back the run’s later events', async () => {
    const projectId = project();
    let failuresLeft = 1;
    const hook = await receiver(() => (failuresLeft-- > 0 ? 500 : 200));
    const sub = await hooks.create({
      tenantId: TENANT,
      projectId,
      url: hook.url,
      secret: 'retry-secret-0123456',
    });
    const runId = randomUUID();
    const first = await store.appendEvent(event(runId, 'RunQueued', { projectId }));
    const second = await store.appendEvent(event(runId, 'RunStarted', { projectId }));
    relay({ listener: listener() });

    await hook.waitFor((r) => r.length === 3);
    expect(hook.received.map((d) => [d.eventId, d.attempt])).toEqual([
      [first.event.eventId, 1],
      [first.event.eventId, 2],
      [second.event.eventId, 1],
    ]);
    for (const d of hook.received) {
      expect(verifyWebhookSignature('retry-secret-0123456', d.timestamp, d.body, d.signature)).toBe(
        true,
      );
    }
    await waitUntil(async () => (await undelivered(projectId)) === 0, 5000, 'delivery bookkeeping');
    const { rows } = await env.pool.query(
      `select run_seq::int as seq, state, attempts, last_status, last_error from webhook_deliveries
       where subscription_id = $1 order by run_seq`,
      [sub.id],
    );
    expect(rows).toEqual([
      { seq: 1, state: 'delivered', attempts: 2, last_status: 200, last_error: null },
      { seq: 2, state: 'delivered', attempts: 1, last_status: 200, last_error: null },
    ]);
  });

  it('records a timeout as a failed attempt with its reason', async () => {
    const projectId = project();
    const hook = await receiver(
      () => new Promise<number>((resolve) => setTimeout(() => resolve(200), 1500)),
    );
    const sub = await hooks.create({ tenantId: TENANT, projectId, url: hook.url });
    await store.appendEvent(event(randomUUID(), 'RunQueued', { projectId }));
    relay({ deliveryTimeoutMs: 200, retryBackoff: { initialMs: 60_000, maxMs: 60_000 } });
    await waitUntil(
      async () =>
        (
          await env.pool.query(
            'select 1 from webhook_deliveries where subscription_id = $1 and attempts = 1',
            [sub.id],
          )
        ).rowCount === 1,
      5000,
      'the first attempt',
    );
    const { rows } = await env.pool.query(
      'select state, attempts, last_status, last_error from webhook_deliveries where subscription_id = $1',
      [sub.id],
    );
    expect(rows).toEqual([
      { state: 'pending', attempts: 1, last_status: null, last_error: 'no answer within 200 ms' },
    ]);
  });

  it('fans out per subscription, honours event-type filters and never crosses projects', async () => {
    const projectId = project();
    const all = await receiver();
    const onlyEnds = await receiver();
    const elsewhere = await receiver();
    await hooks.create({ tenantId: TENANT, projectId, url: all.url });
    await hooks.create({
      tenantId: TENANT,
      projectId,
      url: onlyEnds.url,
      eventTypes: ['RunCompleted'],
    });
    await hooks.create({ tenantId: TENANT, projectId: project(), url: elsewhere.url });
    await hooks.create({ tenantId: 'tenant-b', projectId, url: elsewhere.url });
    relay({ listener: listener() });
    const runId = randomUUID();
    for (const type of ['RunQueued', 'RunStarted', 'RunCompleted'] as const) {
      await store.appendEvent(event(runId, type, { projectId }));
    }
    await all.waitFor((r) => r.length === 3);
    await onlyEnds.waitFor((r) => r.length === 1);
    await waitUntil(async () => (await undelivered(projectId)) === 0, 5000, 'all deliveries');
    expect(all.received.map((d) => d.event.eventType)).toEqual([
      'RunQueued',
      'RunStarted',
      'RunCompleted',
    ]);
    expect(onlyEnds.received.map((d) => d.event.eventType)).toEqual(['RunCompleted']);
    expect(elsewhere.received).toEqual([]);
  });

  it('drops the pending deliveries of a deleted subscription', async () => {
    const projectId = project();
    const hook = await receiver(() => 503);
    const sub = await hooks.create({ tenantId: TENANT, projectId, url: hook.url });
    await store.appendEvent(event(randomUUID(), 'RunQueued', { projectId }));
    relay({ retryBackoff: { initialMs: 300, maxMs: 300 } });
    await hook.waitFor((r) => r.length >= 1);
    expect(await hooks.delete({ tenantId: TENANT, projectId, id: sub.id })).toBe(true);
    await waitUntil(
      async () =>
        (
          await env.pool.query(
            `select 1 from webhook_deliveries where subscription_id = $1 and state = 'cancelled'`,
            [sub.id],
          )
        ).rowCount === 1,
      5000,
      'the delivery to be cancelled',
    );
    const count = hook.received.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(hook.received.length).toBe(count);
  });

  it('lets several relays run side by side without delivering anything twice', async () => {
    const projectId = project();
    const a = await receiver();
    const b = await receiver();
    await hooks.create({ tenantId: TENANT, projectId, url: a.url });
    await hooks.create({ tenantId: TENANT, projectId, url: b.url });
    const wake = listener();
    for (let i = 0; i < 4; i++) relay({ listener: wake, chainsPerBatch: 3, chainLength: 7 });
    const runs = Array.from({ length: 6 }, () => randomUUID());
    await Promise.all(
      runs.map(async (runId) => {
        for (let i = 0; i < 30; i++) {
          await store.appendEvent(
            event(runId, 'StepStarted', { projectId, stepId: 's', logicalAttemptId: `s#${i}` }),
          );
        }
      }),
    );
    await a.waitFor((r) => r.length >= 180, 20_000);
    await b.waitFor((r) => r.length >= 180, 20_000);
    await waitUntil(async () => (await undelivered(projectId)) === 0, 10_000, 'all deliveries');
    for (const hook of [a, b]) {
      expect(hook.received.length).toBe(180);
      expect(new Set(hook.received.map((d) => d.eventId)).size).toBe(180);
      const byRun = firstSeqsByRun(hook.received);
      for (const runId of runs) {
        expect(byRun.get(runId)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      }
    }
  });
});

describe('B03: an outbox row whose id commits late', () => {
  async function session(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: env.db.url });
    await client.connect();
    cleanups.push(() => client.end());
    return client;
  }

  it('is delivered after a higher id was, and a stream from afterSeq 0 sees R1 in order', async () => {
    const projectId = project();
    const hook = await receiver();
    await hooks.create({ tenantId: TENANT, projectId, url: hook.url });
    const wake = listener();
    await wake.ready();
    relay({ listener: wake });
    const r1 = randomUUID();
    const r2 = randomUUID();
    await store.appendEvent(event(r1, 'RunQueued', { projectId }));
    await hook.waitFor((r) => r.length === 1);

    const s1 = await session();
    const s2 = await session();
    await s1.query('begin');
    await store.appendEvent(event(r1, 'RunStarted', { projectId }), { client: s1 });
    await s2.query('begin');
    await store.appendEvent(event(r2, 'RunQueued', { projectId }), { client: s2 });
    const ids = await env.pool.query<{ id: string }>(
      'select id from outbox where run_id = any($1) order by id',
      [[r1, r2]],
    );
    expect(ids.rowCount).toBe(1); // only R1's first event is visible so far
    await s2.query('commit');
    await hook.waitFor((r) => r.some((d) => d.event.runId === r2));

    const woken: number[] = [];
    wake.subscribe(r1, () => woken.push(Date.now()));
    const committed = Date.now();
    await s1.query('commit');
    await hook.waitFor((r) => r.filter((d) => d.event.runId === r1).length === 2, 5000);
    expect(Date.now() - committed).toBeLessThan(5000);
    const outboxIds = await env.pool.query<{ id: string; run_id: string }>(
      'select id, run_id from outbox where run_id = any($1) and run_seq > 0 order by id',
      [[r1, r2]],
    );
    // R1's second event holds the lower id of the two late ones, and was still delivered.
    expect(outboxIds.rows.map((r) => r.run_id)).toEqual([r1, r1, r2]);
    await waitUntil(
      async () => (await undelivered(projectId)) === 0,
      10_000,
      'no undelivered rows',
    );

    await waitUntil(async () => woken.length > 0, 5000, 'the stream wake-up');
    const stream = await store.listEvents(r1, { afterSeq: 0 });
    expect(stream.map((e) => [e.runSeq, e.eventType])).toEqual([
      [1, 'RunQueued'],
      [2, 'RunStarted'],
    ]);
  });

  it('200 randomized interleavings leave nothing undelivered and no run out of order', async () => {
    const projectId = project();
    const hook = await receiver();
    await hooks.create({ tenantId: TENANT, projectId, url: hook.url });
    const wake = listener();
    relay({ listener: wake, pollIntervalMs: 50 });
    relay({ listener: wake, pollIntervalMs: 50 });
    const runs = Array.from({ length: 6 }, () => randomUUID());
    const s1 = await session();
    const s2 = await session();
    const gap = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * 6)));
    let appended = 0;
    for (let i = 0; i < 200; i++) {
      const first = Math.floor(Math.random() * runs.length);
      const second = (first + 1 + Math.floor(Math.random() * (runs.length - 1))) % runs.length;
      await s1.query('begin');
      await store.appendEvent(
        event(runs[first]!, 'StepStarted', { projectId, stepId: 'x', logicalAttemptId: `a${i}` }),
        { client: s1 },
      );
      await s2.query('begin');
      await store.appendEvent(
        event(runs[second]!, 'StepStarted', { projectId, stepId: 'x', logicalAttemptId: `b${i}` }),
        { client: s2 },
      );
      const [late, early] = Math.random() < 0.5 ? [s1, s2] : [s2, s1];
      await early.query('commit');
      await gap();
      await late.query('commit');
      appended += 2;
    }
    await hook.waitFor((r) => new Set(r.map((d) => d.eventId)).size === appended, 20_000);
    await waitUntil(
      async () => (await undelivered(projectId)) === 0,
      10_000,
      'no undelivered rows',
    );
    const byRun = firstSeqsByRun(hook.received);
    for (const [, seqs] of byRun) {
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    }
    expect([...byRun.values()].reduce((n, s) => n + s.length, 0)).toBe(400);
  });
});

describe('a relay killed mid-batch', () => {
  it('loses nothing and keeps each run’s order after a restart', async () => {
    const projectId = project();
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The 25th request hangs until the relay process has been killed.
    const hook = await receiver(async (_d, index) => {
      if (index === 24) await held;
      return 200;
    });
    await hooks.create({ tenantId: TENANT, projectId, url: hook.url });
    const runs = Array.from({ length: 3 }, () => randomUUID());
    for (let i = 0; i < 40; i++) {
      for (const runId of runs) {
        await store.appendEvent(
          event(runId, 'StepStarted', { projectId, stepId: 's', logicalAttemptId: `s#${i}` }),
        );
      }
    }

    const child = spawn(
      process.execPath,
      ['--conditions=source', new URL('./fixtures/relay-process.ts', import.meta.url).pathname],
      {
        env: { PATH: process.env.PATH, DATABASE_URL: env.db.url },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = once(child, 'exit');
    await hook.waitFor((r) => r.length >= 25, 15_000);
    child.kill('SIGKILL');
    const [code, signal] = (await exited) as [number | null, string | null];
    expect([code, signal]).toEqual([null, 'SIGKILL']);
    release?.();
    const beforeRestart = new Set(hook.received.map((d) => d.eventId)).size;
    expect(beforeRestart).toBeLessThan(120);

    relay({ listener: listener(), pollIntervalMs: 50 });
    await hook.waitFor((r) => new Set(r.map((d) => d.eventId)).size === 120, 20_000);
    await waitUntil(
      async () => (await undelivered(projectId)) === 0,
      20_000,
      'no undelivered rows',
    );
    const byRun = firstSeqsByRun(hook.received);
    for (const runId of runs) {
      expect(byRun.get(runId)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    }
  });
});

describe('RunEventListener', () => {
  it('wakes a run’s subscribers on commit, and everyone after a reconnect', async () => {
    const l = createRunEventListener({
      connectionString: env.db.url,
      log: silentLog,
      reconnect: { initialMs: 50, maxMs: 100 },
    });
    l.start();
    l.start();
    cleanups.push(async () => {
      await l.stop();
      await l.stop();
    });
    await l.ready();
    const runId = randomUUID();
    const calls: string[] = [];
    const unsubscribe = l.subscribe(runId, () => calls.push('run'));
    l.subscribeAll((id) => calls.push(id === runId ? 'any' : id === '*' ? '*' : 'other'));
    await store.appendEvent(event(runId, 'RunQueued'));
    await waitUntil(async () => calls.length === 2, 5000, 'the notification');
    expect(calls).toEqual(['run', 'any']);

    await env.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'dvt-run-event-listener' and datname = current_database()`,
    );
    await waitUntil(async () => calls.includes('*'), 5000, 'the reconnect wake-up');
    expect(calls.slice(2)).toEqual(['run', '*']);
    await l.ready();
    unsubscribe();
    await store.appendEvent(event(runId, 'RunStarted'));
    await waitUntil(async () => calls.length === 5, 5000, 'the notification after reconnect');
    expect(calls.slice(4)).toEqual(['any']);
  });
});

describe('verifyWebhookSignature', () => {
  const now = 1_900_000_000_000;
  const ts = String(now / 1000);
  const body = '{"eventId":"e"}';
  const header = signWebhook('s3cret-s3cret-s3cret', ts, body);

  it('accepts the right secret and rejects tampering, other secrets and stale timestamps', () => {
    expect(header).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature('s3cret-s3cret-s3cret', ts, body, header, { now })).toBe(true);
    expect(
      verifyWebhookSignature('s3cret-s3cret-s3cret', ts, Buffer.from(body), `v1=00, ${header}`, {
        now,
      }),
    ).toBe(true);
    expect(verifyWebhookSignature('s3cret-s3cret-s3cret', ts, `${body} `, header, { now })).toBe(
      false,
    );
    expect(verifyWebhookSignature('another-secret-value', ts, body, header, { now })).toBe(false);
    expect(
      verifyWebhookSignature('s3cret-s3cret-s3cret', ts, body, header, { now: now + 301_000 }),
    ).toBe(false);
    expect(
      verifyWebhookSignature('s3cret-s3cret-s3cret', ts, body, header, {
        now: now + 301_000,
        toleranceSeconds: 0,
      }),
    ).toBe(true);
    expect(verifyWebhookSignature('s3cret-s3cret-s3cret', 'abc', body, header, { now })).toBe(
      false,
    );
    expect(verifyWebhookSignature('s3cret-s3cret-s3cret', ts, body, undefined, { now })).toBe(
      false,
    );
    expect(verifyWebhookSignature('s3cret-s3cret-s3cret', ts, body, 'v1=zz', { now })).toBe(false);
  });
});

describe('WebhookSubscriptionStore', () => {
  it('creates, lists without secrets, and deletes only within the scope', async () => {
    const projectId = project();
    const created = await hooks.create({
      tenantId: TENANT,
      projectId,
      url: 'http://127.0.0.1:9/x',
    });
    expect(created.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(created.eventTypes).toBeNull();
    const listed = await hooks.list({ tenantId: TENANT, projectId });
    expect(listed).toEqual([
      {
        id: created.id,
        tenantId: TENANT,
        projectId,
        url: 'http://127.0.0.1:9/x',
        eventTypes: null,
        createdAt: created.createdAt,
      },
    ]);
    expect(await hooks.list({ tenantId: 'tenant-b', projectId })).toEqual([]);
    expect(await hooks.delete({ tenantId: 'tenant-b', projectId, id: created.id })).toBe(false);
    expect(await hooks.delete({ tenantId: TENANT, projectId, id: 'not-a-uuid' })).toBe(false);
    expect(await hooks.delete({ tenantId: TENANT, projectId, id: created.id })).toBe(true);
    expect(await hooks.delete({ tenantId: TENANT, projectId, id: created.id })).toBe(false);
    expect(await hooks.list({ tenantId: TENANT, projectId })).toEqual([]);
  });

  it('rejects a bad URL, a short secret and an unknown event type, naming each', async () => {
    const error = await hooks
      .create({
        tenantId: TENANT,
        projectId: PROJECT,
        url: 'ftp://example.invalid/x',
        secret: 'short',
        eventTypes: ['RunExploded' as never],
      })
      .catch((e: unknown) => e);
    expect(isProblemError(error) && error.code).toBe('VALIDATION_FAILED');
    expect((error as Error).message).toMatch(
      /^invalid webhook subscription: url: must be an absolute http:\/\/ or https:\/\/ URL without credentials; secret: must be at least 16 characters; eventTypes\.0: /,
    );
  });
});

describe('webhook destinations', () => {
  it('refuses a loopback receiver unless the allowlist names it, recording why', async () => {
    const projectId = project();
    const hook = await receiver();
    const sub = await hooks.create({ tenantId: TENANT, projectId, url: hook.url });
    relay({ destinations: { allowlist: new Allowlist([]) }, maxAttempts: 1 });
    await store.appendEvent(event(randomUUID(), 'RunQueued', { projectId }));
    await waitUntil(
      async () => (await undelivered(projectId)) === 0,
      5000,
      'the delivery to give up',
    );
    const { rows } = await env.pool.query<{ state: string; last_error: string }>(
      `select state, last_error from webhook_deliveries where subscription_id = $1`,
      [sub.id],
    );
    expect(rows[0]!.state).toBe('dead');
    expect(rows[0]!.last_error).toMatch(
      /^refusing to connect to 127\.0\.0\.1 \(127\.0\.0\.1\): it is a loopback, private, link-local or reserved IPv4 address; add the host or address to WEBHOOK_ALLOWLIST/,
    );
    expect(hook.received).toHaveLength(0);
  });
});
