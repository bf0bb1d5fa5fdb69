import { randomUUID } from 'node:crypto';
import { idempotencyKey } from '@dvt/contracts';
import { createPool, isProblemError } from '@dvt/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunStateStore, type RunStateStore } from '../src/index.ts';
import { event, PROJECT, TENANT } from './events.ts';
import { createMigratedDatabase, silentLog, type MigratedDatabase } from './helpers.ts';

let env: MigratedDatabase;
let store: RunStateStore;

beforeAll(async () => {
  env = await createMigratedDatabase(12);
  store = createRunStateStore({ pool: env.pool, log: silentLog });
});

afterAll(async () => {
  await env.close();
});

async function count(sql: string, params: unknown[]): Promise<number> {
  const { rows } = await env.pool.query<{ n: number }>(`select (${sql})::int as n`, params);
  return rows[0]?.n ?? -1;
}

describe('appendEvent', () => {
  it('assigns runSeq 1, 2, 3 and records both clocks', async () => {
    const runId = randomUUID();
    const before = Date.now();
    const a = await store.appendEvent(event(runId, 'RunQueued'));
    const b = await store.appendEvent(event(runId, 'RunStarted'));
    const c = await store.appendEvent(event(runId, 'RunCompleted'));
    expect([a, b, c].map((r) => [r.event.runSeq, r.idempotent])).toEqual([
      [1, false],
      [2, false],
      [3, false],
    ]);
    expect(a.event.emittedAt).toBe('2030-01-02T03:04:05.678Z');
    expect(Date.parse(a.event.persistedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(a.event.persistedAt)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(a.event.idempotencyKey).toMatch(/^[0-9a-f]{64}$/);
  });

  it('returns the original record for a duplicate key and inserts nothing', async () => {
    const runId = randomUUID();
    const input = event(runId, 'StepCompleted', { stepId: 's1', logicalAttemptId: 'a1' });
    const first = await store.appendEvent(input);
    const again = await store.appendEvent({
      ...input,
      emittedAt: new Date('2031-01-01T00:00:00.000Z'),
      payload: { different: true },
    });
    expect(again.idempotent).toBe(true);
    expect(again.event).toEqual(first.event);
    expect(again.event.payload).toEqual({});
    expect(await count('select count(*) from run_events where run_id = $1', [runId])).toBe(1);
    expect(await count('select count(*) from outbox where run_id = $1', [runId])).toBe(1);
    expect(first.event.idempotencyKey).toBe(
      idempotencyKey({
        runId,
        stepId: 's1',
        logicalAttemptId: 'a1',
        eventType: 'StepCompleted',
        planId: 'plan-p',
        planVersion: 'v1',
      }),
    );
  });

  it('B02: ten connections appending one key at once get one row, and losers take no seq', async () => {
    const runId = randomUUID();
    await store.appendEvent(event(runId, 'RunStarted'));
    const input = event(runId, 'StepCompleted', { stepId: 's1', logicalAttemptId: 'a1' });
    const pools = Array.from({ length: 10 }, () =>
      createPool({ connectionString: env.db.url, log: silentLog, max: 1 }),
    );
    try {
      // Open every connection first, so the ten calls really race.
      await Promise.all(pools.map((p) => p.query('select 1')));
      const stores = pools.map((pool) => createRunStateStore({ pool, log: silentLog }));
      const settled = await Promise.allSettled(stores.map((s) => s.appendEvent(input)));
      expect(settled.map((s) => s.status)).toEqual(Array(10).fill('fulfilled'));
      const results = settled.map(
        (s) =>
          (
            s as PromiseFulfilledResult<{
              event: { eventId: string; runSeq: number };
              idempotent: boolean;
            }>
          ).value,
      );
      const ids = new Set(results.map((r) => `${r.event.eventId}#${r.event.runSeq}`));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => !r.idempotent)).toHaveLength(1);
      expect(results[0]?.event.runSeq).toBe(2);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const key = idempotencyKey({
      runId,
      stepId: 's1',
      logicalAttemptId: 'a1',
      eventType: 'StepCompleted',
      planId: 'plan-p',
      planVersion: 'v1',
    });
    expect(await count('select count(*) from run_events where idempotency_key = $1', [key])).toBe(
      1,
    );
    expect(
      await count(
        'select count(*) from outbox o join run_events e using (event_id) where e.idempotency_key = $1',
        [key],
      ),
    ).toBe(1);
    const e2 = await store.appendEvent(event(runId, 'RunCompleted'));
    expect(e2.event.runSeq).toBe(3);
  });

  it('gives 8 concurrent writers × 1,000 events on one run 8,000 unique gapless seqs', async () => {
    const runId = randomUUID();
    const pools = Array.from({ length: 8 }, () =>
      createPool({ connectionString: env.db.url, log: silentLog, max: 1 }),
    );
    try {
      const perWriter = await Promise.all(
        pools.map(async (pool, writer) => {
          const writerStore = createRunStateStore({ pool, log: silentLog });
          const seqs: number[] = [];
          for (let i = 0; i < 1000; i++) {
            const { event: e } = await writerStore.appendEvent(
              event(runId, 'StepStarted', {
                stepId: `w${writer}`,
                logicalAttemptId: `w${writer}-${i}`,
                attempt: 1,
              }),
            );
            seqs.push(e.runSeq);
          }
          return seqs;
        }),
      );
      for (const seqs of perWriter) {
        expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number))).toBe(true);
      }
      const all = perWriter.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 8000 }, (_, i) => i + 1));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const { rows } = await env.pool.query(
      'select count(*)::int as n, count(distinct run_seq)::int as d, min(run_seq)::int as lo, max(run_seq)::int as hi from run_events where run_id = $1',
      [runId],
    );
    expect(rows[0]).toEqual({ n: 8000, d: 8000, lo: 1, hi: 8000 });
    expect((await store.getRun(runId))?.lastSeq).toBe(8000);
  });

  it('is harmless to retry after a client-side timeout', async () => {
    const runId = randomUUID();
    await store.appendEvent(event(runId, 'RunStarted'));
    const input = event(runId, 'StepStarted', {
      stepId: 's1',
      logicalAttemptId: 's1#1',
      attempt: 1,
    });

    // Another session holds the run's row, so the append waits on the server.
    const blocker = new pg.Client({ connectionString: env.db.url });
    await blocker.connect();
    const impatient = new pg.Pool({ connectionString: env.db.url, max: 1, query_timeout: 300 });
    impatient.on('error', () => undefined);
    try {
      await blocker.query('begin');
      await blocker.query('select 1 from runs where run_id = $1 for update', [runId]);
      const timedOut = await createRunStateStore({ pool: impatient, log: silentLog })
        .appendEvent(input)
        .catch((e: unknown) => e);
      expect((timedOut as Error).message).toBe('Query read timeout');
      await blocker.query('commit');
    } finally {
      await blocker.end();
      await impatient.end();
    }

    // The server finished the timed-out call; the retry gets that record back.
    const deadline = Date.now() + 5000;
    while ((await count('select count(*) from run_events where run_id = $1', [runId])) < 2) {
      if (Date.now() > deadline) throw new Error('the timed-out append never landed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const retry = await store.appendEvent(input);
    expect(retry.idempotent).toBe(true);
    expect(retry.event.runSeq).toBe(2);
    expect(await count('select count(*) from run_events where run_id = $1', [runId])).toBe(2);
    expect((await store.appendEvent(event(runId, 'RunCompleted'))).event.runSeq).toBe(3);
  });

  it('rejects an event for another tenant’s or plan’s run with CONFLICT', async () => {
    const runId = randomUUID();
    await store.appendEvent(event(runId, 'RunQueued'));
    const foreign = await store
      .appendEvent(event(runId, 'RunStarted', { tenantId: 'tenant-b' }))
      .catch((e: unknown) => e);
    expect(isProblemError(foreign) && foreign.code).toBe('CONFLICT');
    expect((foreign as Error).message).toBe(`run ${runId} belongs to another tenant or project`);
    const otherPlan = await store
      .appendEvent(event(runId, 'RunStarted', { planVersion: 'v2' }))
      .catch((e: unknown) => e);
    expect((otherPlan as Error).message).toBe(
      `run ${runId} executes plan plan-p version v1, not plan-p version v2`,
    );
    expect(await count('select count(*) from run_events where run_id = $1', [runId])).toBe(1);
  });

  it('rejects malformed input, naming each bad field', async () => {
    const bad = {
      ...event('', 'RunQueued'),
      eventType: 'RunExploded',
      attempt: 0,
    } as unknown as Parameters<RunStateStore['appendEvent']>[0];
    const error = await store.appendEvent(bad).catch((e: unknown) => e);
    expect(isProblemError(error) && error.code).toBe('VALIDATION_FAILED');
    expect((error as Error).message).toMatch(
      /^invalid run event: runId: .*; attempt: .*; eventType: /,
    );
    const badDate = await store
      .appendEvent(event('r', 'RunQueued', { emittedAt: new Date('nope') }))
      .catch((e: unknown) => e);
    expect((badDate as Error).message).toMatch(/^invalid run event: emittedAt: /);
  });

  it('joins the caller’s transaction when given a client, and rolls back with it', async () => {
    const runId = randomUUID();
    const client = await env.pool.connect();
    try {
      await client.query('begin');
      const { event: e } = await store.appendEvent(event(runId, 'RunQueued'), { client });
      expect(e.runSeq).toBe(1);
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await count('select count(*) from run_events where run_id = $1', [runId])).toBe(0);
    expect(await count('select count(*) from outbox where run_id = $1', [runId])).toBe(0);
    expect(await store.getRun(runId)).toBeNull();
  });

  it('appends a batch atomically and returns results in input order', async () => {
    const r1 = `b-${randomUUID()}`;
    const r0 = `a-${randomUUID()}`;
    const results = await store.appendEvents([
      event(r1, 'RunQueued'),
      event(r0, 'RunQueued'),
      event(r1, 'RunStarted'),
      event(r0, 'RunStarted'),
    ]);
    expect(results.map((r) => [r.event.runId, r.event.runSeq, r.event.eventType])).toEqual([
      [r1, 1, 'RunQueued'],
      [r0, 1, 'RunQueued'],
      [r1, 2, 'RunStarted'],
      [r0, 2, 'RunStarted'],
    ]);
    const failing = await store
      .appendEvents([event(r1, 'RunPaused'), event(r1, 'RunResumed', { tenantId: 'other' })])
      .catch((e: unknown) => e);
    expect(isProblemError(failing) && failing.code).toBe('CONFLICT');
    expect(await count('select count(*) from run_events where run_id = $1', [r1])).toBe(2);
  });
});

describe('the database itself', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of persisted events', async () => {
    const runId = randomUUID();
    await store.appendEvent(event(runId, 'RunQueued'));
    for (const [sql, op] of [
      [`update run_events set payload = '{"x":1}' where run_id = '${runId}'`, 'UPDATE'],
      [`delete from run_events where run_id = '${runId}'`, 'DELETE'],
      ['truncate run_events cascade', 'TRUNCATE'],
    ] as const) {
      const error = (await env.pool.query(sql).catch((e: unknown) => e)) as pg.DatabaseError;
      expect(error.code).toBe('23001');
      expect(error.message).toBe(`run_events is append-only: ${op} is not allowed`);
    }
    expect(await count('select count(*) from run_events where run_id = $1', [runId])).toBe(1);
  });

  it('enforces unique (run_id, run_seq) and (run_id, idempotency_key) on direct inserts', async () => {
    const runId = randomUUID();
    const { event: e } = await store.appendEvent(event(runId, 'RunQueued'));
    const insert = `insert into run_events (run_id, run_seq, idempotency_key, tenant_id, project_id,
      environment, plan_id, plan_version, logical_attempt_id, event_type, emitted_at)
      values ($1, $2, $3, 't', 'p', 'dev', 'plan-p', 'v1', 'x', 'RunStarted', now())`;
    const sameSeq = (await env.pool
      .query(insert, [runId, 1, 'k-new'])
      .catch((x: unknown) => x)) as pg.DatabaseError;
    expect([sameSeq.code, sameSeq.constraint]).toEqual(['23505', 'run_events_run_seq_unique']);
    const sameKey = (await env.pool
      .query(insert, [runId, 2, e.idempotencyKey])
      .catch((x: unknown) => x)) as pg.DatabaseError;
    expect([sameKey.code, sameKey.constraint]).toEqual(['23505', 'run_events_idempotency_unique']);
  });
});

describe('listEvents', () => {
  it('reads after a seq with a limit, in runSeq order', async () => {
    const runId = randomUUID();
    for (const type of [
      'RunQueued',
      'RunStarted',
      'RunPaused',
      'RunResumed',
      'RunCompleted',
    ] as const) {
      await store.appendEvent(event(runId, type));
    }
    const page = await store.listEvents(runId, { afterSeq: 1, limit: 3 });
    expect(page.map((e) => [e.runSeq, e.eventType])).toEqual([
      [2, 'RunStarted'],
      [3, 'RunPaused'],
      [4, 'RunResumed'],
    ]);
    expect((await store.listEvents(runId, { afterSeq: 5 })).length).toBe(0);
    expect(await store.listEvents('no-such-run')).toEqual([]);
    await expect(store.listEvents(runId, { limit: 0 })).rejects.toThrow(
      'limit must be an integer from 1 to 1000',
    );
    await expect(store.listEvents(runId, { afterSeq: -1 })).rejects.toThrow(
      /^afterSeq must be an integer from 0 to/,
    );
  });
});

describe('read model', () => {
  it('follows a run through its lifecycle with step states, attempts, timings and counts', async () => {
    const runId = randomUUID();
    const t = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s));
    const step = (
      type: Parameters<typeof event>[1],
      stepId: string,
      attempt: number,
      s: number,
      payload = {},
    ) =>
      event(runId, type, {
        stepId,
        attempt,
        logicalAttemptId: `${stepId}#${attempt}`,
        emittedAt: t(s),
        payload,
      });

    await store.appendEvent(
      event(runId, 'RunQueued', {
        emittedAt: t(0),
        payload: { stepIds: ['a', 'b', 'c', 'gate'], originalRunId: 'r-0' },
      }),
    );
    let run = await store.getRun(runId);
    expect(run?.status).toBe('QUEUED');
    expect(run?.originalRunId).toBe('r-0');
    expect(run?.stepCounts).toEqual({
      total: 4,
      pending: 4,
      running: 0,
      completed: 0,
      failed: 0,
      skipped: 0,
    });

    await store.appendEvent(event(runId, 'RunStarted', { emittedAt: t(1) }));
    await store.appendEvent(step('StepStarted', 'a', 1, 2));
    await store.appendEvent(
      step('StepFailed', 'a', 1, 3, { error: { code: 'X', message: 'boom' } }),
    );
    run = await store.getRun(runId);
    expect(run?.status).toBe('RUNNING');
    expect(run?.startedAt).toBe(t(1).toISOString());
    expect(run?.steps.find((s) => s.stepId === 'a')).toEqual({
      stepId: 'a',
      status: 'FAILED',
      attempts: 1,
      startedAt: t(2).toISOString(),
      endedAt: t(3).toISOString(),
      lastError: { code: 'X', message: 'boom' },
      reason: null,
      output: null,
    });
    await store.appendEvent(step('StepStarted', 'a', 2, 4));
    await store.appendEvent(step('StepCompleted', 'a', 2, 5, { output: { rows: 3 } }));
    await store.appendEvent(step('StepSkipped', 'b', 1, 6, { reason: 'upstream unchanged' }));
    await store.appendEvent(step('StepStarted', 'c', 1, 6));
    await store.appendEvent(event(runId, 'RunPaused', { emittedAt: t(7) }));
    expect((await store.getRun(runId))?.status).toBe('PAUSED');
    await store.appendEvent(event(runId, 'RunResumed', { emittedAt: t(8) }));
    await store.appendEvent(step('StepStarted', 'gate', 1, 8));
    await store.appendEvent(event(runId, 'ApprovalRequested', { stepId: 'gate', emittedAt: t(9) }));
    run = await store.getRun(runId);
    expect([run?.status, run?.substatus]).toEqual(['RUNNING', 'WAITING_APPROVAL']);
    expect(run?.stepCounts).toEqual({
      total: 4,
      pending: 0,
      running: 2,
      completed: 1,
      failed: 0,
      skipped: 1,
    });
    await store.appendEvent(event(runId, 'ApprovalGranted', { stepId: 'gate', emittedAt: t(10) }));
    await store.appendEvent(step('StepCompleted', 'gate', 1, 11));
    await store.appendEvent(step('StepFailed', 'c', 1, 12, { error: 'exit 1' }));
    await store.appendEvent(
      event(runId, 'RunFailed', {
        emittedAt: t(13),
        payload: { error: { code: 'STEP_FAILED', stepId: 'c' } },
      }),
    );
    // A late event after the end changes no run status.
    await store.appendEvent(event(runId, 'RunResumed', { emittedAt: t(14) }));

    run = await store.getRun(runId);
    expect(run).toMatchObject({
      runId,
      tenantId: TENANT,
      projectId: PROJECT,
      status: 'FAILED',
      substatus: null,
      startedAt: t(1).toISOString(),
      endedAt: t(13).toISOString(),
      lastSeq: 17,
      error: { code: 'STEP_FAILED', stepId: 'c' },
      stepCounts: { total: 4, pending: 0, running: 0, completed: 2, failed: 1, skipped: 1 },
    });
    expect(run?.steps.map((s) => [s.stepId, s.status, s.attempts, s.reason])).toEqual([
      ['a', 'COMPLETED', 2, null],
      ['b', 'SKIPPED', 1, 'upstream unchanged'],
      ['c', 'FAILED', 1, null],
      ['gate', 'COMPLETED', 1, null],
    ]);
    expect(run?.steps[0]?.output).toEqual({ rows: 3 });
    expect(run?.steps[2]?.lastError).toBe('exit 1');
  });

  it('hides a run from another tenant', async () => {
    const runId = randomUUID();
    await store.appendEvent(event(runId, 'RunQueued'));
    expect((await store.getRun(runId, { tenantId: TENANT }))?.runId).toBe(runId);
    expect(await store.getRun(runId, { tenantId: 'tenant-b' })).toBeNull();
  });
});

describe('listRuns', () => {
  it('pages through a project newest first with an opaque cursor, filtered by status', async () => {
    const projectId = `proj-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const runId = `run-${i}`.padEnd(8, 'x') + randomUUID();
      ids.push(runId);
      await store.appendEvent(event(runId, 'RunQueued', { projectId }));
      if (i % 2 === 0) await store.appendEvent(event(runId, 'RunStarted', { projectId }));
    }
    await store.appendEvent(
      event(`other-${randomUUID()}`, 'RunQueued', { projectId: `${projectId}-b` }),
    );

    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const page = await store.listRuns({ tenantId: TENANT, projectId, limit: 3, cursor });
      sizes.push(page.runs.length);
      seen.push(...page.runs.map((r) => r.runId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual([...ids].reverse());

    const running = await store.listRuns({
      tenantId: TENANT,
      projectId,
      status: 'RUNNING',
      limit: 10,
    });
    expect(running.runs.map((r) => r.runId)).toEqual([ids[6], ids[4], ids[2], ids[0]]);
    expect(running.nextCursor).toBeNull();
    expect((await store.listRuns({ tenantId: 'tenant-b', projectId })).runs).toEqual([]);

    await expect(
      store.listRuns({ tenantId: TENANT, projectId, cursor: 'garbage!' }),
    ).rejects.toThrow(
      'cursor is not one this API returned; pass nextCursor from the previous page unchanged',
    );
    await expect(
      store.listRuns({ tenantId: TENANT, projectId, status: 'DONE' as never }),
    ).rejects.toThrow(
      'status must be one of QUEUED, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED',
    );
  });
});
