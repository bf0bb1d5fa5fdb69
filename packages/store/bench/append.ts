/**
 * Append throughput and outbox latency, against a baseline measured in the same run:
 *   node --conditions=source packages/store/bench/append.ts
 * Creates (and drops) its own database on the test PostgreSQL (127.0.0.1:55432; start it with
 * a test run or `pnpm stack up --test`).
 *
 * - events/s of RunStateStore.appendEvent at concurrency 1 and 8 (8 writers on one run, the
 *   worst case: they serialize on the run's row), and 8 writers on 8 runs;
 * - the same counts of plain single-row INSERTs into a table shaped like run_events;
 * - webhook delivery latency (append committed → loopback receiver got it), p50/p99.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunEventInput } from '@dvt/contracts';
import { Allowlist, createLogger, createPool } from '@dvt/service-kit';
import { createTestDatabase } from '@dvt/testkit';
import type pg from 'pg';
import {
  createOutboxRelay,
  createRunEventListener,
  createRunStateStore,
  createWebhookSubscriptionStore,
  migrate,
} from '../src/index.ts';

const log = createLogger({ service: 'bench', level: 'silent' });
const N1 = 2_000;
const N8 = 4_000;

function input(runId: string, i: number): RunEventInput {
  return {
    runId,
    tenantId: 'bench',
    projectId: 'bench',
    environment: 'dev',
    planId: 'plan',
    planVersion: '1',
    stepId: `s${i % 50}`,
    logicalAttemptId: `a${i}`,
    attempt: 1,
    eventType: 'StepStarted',
    payload: { i },
    emittedAt: new Date(),
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

async function writers(
  count: number,
  total: number,
  work: (writer: number, i: number) => Promise<unknown>,
) {
  const per = total / count;
  await Promise.all(
    Array.from({ length: count }, async (_, w) => {
      for (let i = 0; i < per; i++) await work(w, w * per + i);
    }),
  );
}

async function plainInsert(pool: pg.Pool, runId: string, seq: number): Promise<void> {
  await pool.query(
    `insert into bench_plain (run_id, run_seq, idempotency_key, tenant_id, project_id, environment,
       plan_id, plan_version, step_id, logical_attempt_id, attempt, event_type, payload, emitted_at)
     values ($1, $2, $3, 'bench', 'bench', 'dev', 'plan', '1', $4, $5, 1, 'StepStarted', $6, now())`,
    [runId, seq, randomUUID(), `s${seq % 50}`, `a${seq}`, JSON.stringify({ i: seq })],
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const db = await createTestDatabase('bench');
  const pool = createPool({ connectionString: db.url, log, max: 10 });
  try {
    await migrate(pool, log);
    await pool.query(`create table bench_plain (
      event_id uuid primary key default gen_random_uuid(), run_id text not null, run_seq bigint not null,
      idempotency_key text not null, tenant_id text not null, project_id text not null,
      environment text not null, plan_id text not null, plan_version text not null, step_id text,
      logical_attempt_id text not null, attempt integer, event_type text not null,
      payload jsonb not null, emitted_at timestamptz not null,
      persisted_at timestamptz not null default clock_timestamp(),
      unique (run_id, run_seq), unique (run_id, idempotency_key))`);
    const store = createRunStateStore({ pool, log });

    // Warm-up: connections, plans, caches.
    await writers(8, 400, (w, i) => store.appendEvent(input(`warm-${w}`, i)));
    await writers(8, 400, (w, i) => plainInsert(pool, `warm-${w}`, i));

    const rows: [string, number, number][] = [];
    const measure = async (label: string, n: number, conc: number, oneRun: boolean) => {
      const tag = randomUUID();
      const plain = await timed(() =>
        writers(conc, n, (w, i) => plainInsert(pool, oneRun ? `p-${tag}` : `p-${tag}-${w}`, i)),
      );
      const append = await timed(() =>
        writers(conc, n, (w, i) =>
          store.appendEvent(input(oneRun ? `r-${tag}` : `r-${tag}-${w}`, i)),
        ),
      );
      rows.push([label, n / append, n / plain]);
    };
    await measure('concurrency 1, one run', N1, 1, true);
    await measure('concurrency 8, one run', N8, 8, true);
    await measure('concurrency 8, 8 runs', N8, 8, false);

    console.log('append throughput (events/s; ratio = appendEvent / plain INSERT, same run)');
    for (const [label, append, plain] of rows) {
      console.log(
        `  ${label.padEnd(24)} appendEvent ${append.toFixed(0).padStart(6)}/s   plain INSERT ${plain
          .toFixed(0)
          .padStart(6)}/s   ratio ${(append / plain).toFixed(2)}`,
      );
    }

    // Outbox latency to a loopback webhook.
    const arrivals = new Map<string, number>();
    const server = createServer((req, res) => {
      arrivals.set(String(req.headers['x-dvt-event-id']), performance.now());
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await createWebhookSubscriptionStore({ pool, log }).create({
      tenantId: 'bench',
      projectId: 'lat',
      url,
    });
    const listener = createRunEventListener({ connectionString: db.url, log });
    listener.start();
    await listener.ready();
    const relay = createOutboxRelay({
      pool,
      log,
      listener,
      pollIntervalMs: 1000,
      destinations: { allowlist: new Allowlist(['127.0.0.1']) },
    });
    relay.start();
    const committed = new Map<string, number>();
    const runs = Array.from({ length: 4 }, () => randomUUID());
    for (let i = 0; i < 400; i++) {
      const { event } = await store.appendEvent({
        ...input(runs[i % 4] as string, i),
        projectId: 'lat',
      });
      committed.set(event.eventId, performance.now());
      await new Promise((r) => setTimeout(r, 5));
    }
    const deadline = Date.now() + 30_000;
    while (arrivals.size < committed.size && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await relay.stop();
    await listener.stop();
    server.close();
    const latencies = [...committed]
      .map(([id, at]) => (arrivals.get(id) ?? NaN) - at)
      .sort((a, b) => a - b);
    console.log(
      `outbox delivery latency (append resolved → webhook received, ${arrivals.size}/${committed.size} delivered, one event per 5 ms on 4 runs)`,
    );
    console.log(
      `  p50 ${percentile(latencies, 50).toFixed(1)} ms   p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );
  } finally {
    await pool.end();
    await db.drop();
  }
}

await main();
