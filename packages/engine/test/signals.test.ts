import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '@dvt/contracts';
import { testPostgresAdminUrl } from '@dvt/testkit';
import {
  assertLedger,
  executionPlan,
  listEvents,
  signal,
  startEngine,
  startRun,
  summary,
  waitFor,
  waitForEnd,
  waitForEvent,
  type TestEngine,
} from './helpers.ts';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startEngine({
    // field case B07: continue as new every 5 steps
    ENGINE_CONTINUE_AS_NEW_STEPS: '5',
    SQL_TARGETS: JSON.stringify({ pg: testPostgresAdminUrl }),
    HTTP_ALLOWLIST: '127.0.0.1',
  });
});
afterAll(async () => {
  await engine?.stop();
});

const of = (events: RunEvent[], type: string, stepId?: string) =>
  events.filter((e) => e.eventType === type && (stepId === undefined || e.stepId === stepId));

function sequential(n: number, delayMs: number) {
  return executionPlan(
    Array.from({ length: n }, (_, i) => ({
      id: `s${String(i + 1).padStart(2, '0')}`,
      kind: 'noop' as const,
      with: { delayMs },
      ...(i > 0 ? { needs: [`s${String(i).padStart(2, '0')}`] } : {}),
    })),
    { concurrency: 1 },
  );
}

async function eventCount(runId: string): Promise<number> {
  const { rows } = await engine.pool.query<{ n: string }>(
    'select count(*) as n from run_events where run_id = $1',
    [runId],
  );
  return Number(rows[0]!.n);
}

function betweenPauseAndResume(events: RunEvent[]): string[] {
  const paused = events.findIndex((e) => e.eventType === 'RunPaused');
  const resumed = events.findIndex((e) => e.eventType === 'RunResumed');
  return summary(events.slice(paused + 1, resumed)).filter((s) => s.startsWith('StepStarted'));
}

describe('pause, resume and cancel', () => {
  it('pauses between steps, ignores a repeated signalId, and resumes', async () => {
    const { runId } = await startRun(engine, sequential(4, 150));
    await waitForEvent(
      engine.pool,
      runId,
      (e) => e.eventType === 'StepCompleted' && e.stepId === 's01',
    );
    const paused = await signal(engine, runId, {
      signalId: 'p-1',
      type: 'PAUSE',
      reason: 'maintenance',
    });
    expect(paused).toEqual({
      status: 202,
      body: { signalId: 'p-1', type: 'PAUSE', runId, accepted: true },
    });
    expect(
      await signal(engine, runId, { signalId: 'p-1', type: 'PAUSE', reason: 'maintenance' }),
    ).toEqual(paused);
    const twice = await signal(engine, runId, { signalId: 'p-2', type: 'PAUSE' });
    expect([twice.status, twice.body.code]).toEqual([409, 'SIGNAL_NOT_ALLOWED']);
    await waitFor(
      async () =>
        (await engine.inject({ url: `/internal/v1/runs/${runId}` })).json().status === 'PAUSED',
      5_000,
      'PAUSED',
    );
    const before = await eventCount(runId);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const idle = await listEvents(engine.pool, runId);
    // at most the step already started before the pause ends meanwhile; nothing new starts
    expect(idle.length - before).toBeLessThanOrEqual(1);
    expect(of(idle, 'StepStarted').length).toBeLessThanOrEqual(2);
    const resume = await signal(engine, runId, { signalId: 'x-1', type: 'RESUME' });
    expect(resume.status).toBe(202);
    const events = await waitForEnd(engine.pool, runId);
    assertLedger(events);
    expect(of(events, 'RunPaused')).toHaveLength(1);
    expect(of(events, 'RunResumed')).toHaveLength(1);
    expect(betweenPauseAndResume(events)).toEqual([]);
    expect(of(events, 'RunPaused')[0]!.payload).toEqual({ signalId: 'p-1', reason: 'maintenance' });
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
    const resumeLate = await signal(engine, runId, { signalId: 'x-2', type: 'RESUME' });
    expect([resumeLate.status, resumeLate.body.code]).toEqual([409, 'RUN_TERMINAL']);
  });

  it('rejects RESUME of a running run and RETRY_RUN of a running run', async () => {
    const { runId } = await startRun(engine, sequential(1, 1_500));
    await waitForEvent(engine.pool, runId, (e) => e.eventType === 'StepStarted');
    const resume = await signal(engine, runId, { signalId: 'r-0', type: 'RESUME' });
    expect([resume.status, resume.body.code]).toEqual([409, 'SIGNAL_NOT_ALLOWED']);
    expect(resume.body.detail).toContain('not paused');
    const retryRun = await signal(engine, runId, { signalId: 'rr-0', type: 'RETRY_RUN' });
    expect([retryRun.status, retryRun.body.code]).toEqual([409, 'SIGNAL_NOT_ALLOWED']);
    const bad = await signal(engine, runId, { signalId: '', type: 'PAUSE' });
    expect([bad.status, bad.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const noStep = await signal(engine, runId, { signalId: 'rs-0', type: 'RETRY_STEP' });
    expect([noStep.status, noStep.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(noStep.body.detail).toContain('needs a stepId');
    await waitForEnd(engine.pool, runId);
  });
});

describe('field case B05: CANCEL reaches a running step promptly and stops its side effect', () => {
  const slowCount = async () => {
    const client = new pg.Client({ connectionString: testPostgresAdminUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        "select count(*) as n from pg_stat_activity where query like 'select pg_sleep(120)%'",
      );
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  };

  async function cancelAndCheck(runId: string): Promise<number> {
    await waitForEvent(
      engine.pool,
      runId,
      (e) => e.eventType === 'StepStarted' && e.stepId === 'slow',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = Date.now();
    const first = await signal(engine, runId, { signalId: 'c-1', type: 'CANCEL' });
    expect(first).toEqual({
      status: 202,
      body: { signalId: 'c-1', type: 'CANCEL', runId, accepted: true },
    });
    const events = await waitForEnd(engine.pool, runId, 15_000);
    const elapsed = Date.now() - sent;
    assertLedger(events);
    expect(events.at(-1)!.eventType).toBe('RunCancelled');
    expect(of(events, 'StepCompleted', 'slow')).toHaveLength(0);
    expect(of(events, 'StepFailed', 'slow')[0]!.payload.error).toMatchObject({ code: 'CANCELLED' });
    const count = await eventCount(runId);
    expect(await signal(engine, runId, { signalId: 'c-1', type: 'CANCEL' })).toEqual(first);
    const again = await signal(engine, runId, { signalId: 'c-2', type: 'CANCEL' });
    expect([again.status, again.body.code]).toEqual([409, 'RUN_TERMINAL']);
    expect(await eventCount(runId)).toBe(count);
    return elapsed;
  }

  const limit = 10_000 + 5_000;

  it('cancels the query on the target (sql step)', async () => {
    const plan = executionPlan([
      { id: 'slow', kind: 'sql', with: { target: 'pg', sql: 'select pg_sleep(120)' } },
    ]);
    const { runId } = await startRun(engine, plan);
    await waitForEvent(engine.pool, runId, (e) => e.eventType === 'StepStarted');
    await waitFor(async () => (await slowCount()) === 1, 10_000, 'the query on the target');
    const elapsed = await cancelAndCheck(runId);
    expect(elapsed).toBeLessThan(limit);
    expect(await slowCount()).toBe(0);
  });

  it('stops a noop delay', async () => {
    const plan = executionPlan([{ id: 'slow', kind: 'noop', with: { delayMs: 120_000 } }]);
    const { runId } = await startRun(engine, plan);
    expect(await cancelAndCheck(runId)).toBeLessThan(limit);
  });

  it('closes the socket of an http step whose server never answers', async () => {
    let closedAt = 0;
    let opened = 0;
    const server = net.createServer((socket) => {
      opened++;
      socket.on('data', () => undefined);
      socket.on('close', () => {
        closedAt = Date.now();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const plan = executionPlan([
        {
          id: 'slow',
          kind: 'http',
          with: {
            method: 'GET',
            url: `http://127.0.0.1:${port}/hang`,
            expectStatus: 200,
            timeoutMs: 120_000,
          },
        },
      ]);
      const { runId } = await startRun(engine, plan);
      await waitFor(() => opened === 1, 10_000, 'the http connection');
      const sent = Date.now();
      expect(await cancelAndCheck(runId)).toBeLessThan(limit);
      await waitFor(() => closedAt > 0, 5_000, 'the socket to close');
      expect(closedAt - sent).toBeLessThan(limit);
    } finally {
      server.close();
    }
  });
});

describe('field case B07: signals at the continue-as-new boundary', () => {
  for (const delayMs of [0, 50, 150]) {
    it(`applies PAUSE sent ${delayMs} ms after StepCompleted(s05) exactly once`, async () => {
      const { runId } = await startRun(engine, sequential(12, 300));
      await waitFor(
        async () => {
          const { rows } = await engine.pool.query(
            "select 1 from run_events where run_id = $1 and event_type = 'StepCompleted' and step_id = 's05'",
            [runId],
          );
          return rows.length === 1;
        },
        20_000,
        'StepCompleted(s05)',
        5,
      );
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const paused = await signal(engine, runId, { signalId: 'p-1', type: 'PAUSE' });
      expect(paused.status, JSON.stringify(paused.body)).toBe(202);
      await waitForEvent(engine.pool, runId, (e) => e.eventType === 'RunPaused');
      const rowsBefore = await eventCount(runId);
      expect(await signal(engine, runId, { signalId: 'p-1', type: 'PAUSE' })).toEqual(paused);
      const resumed = await signal(engine, runId, { signalId: 'r-1', type: 'RESUME' });
      expect(resumed).toEqual({
        status: 202,
        body: { signalId: 'r-1', type: 'RESUME', runId, accepted: true },
      });
      expect(await signal(engine, runId, { signalId: 'r-1', type: 'RESUME' })).toEqual(resumed);
      await waitForEvent(engine.pool, runId, (e) => e.eventType === 'RunResumed');
      const events = await waitForEnd(engine.pool, runId, 30_000);
      assertLedger(events);
      expect(of(events, 'RunPaused')).toHaveLength(1);
      expect(of(events, 'RunResumed')).toHaveLength(1);
      expect(betweenPauseAndResume(events)).toEqual([]);
      expect(events.at(-1)!.eventType).toBe('RunCompleted');
      const completed = of(events, 'StepCompleted').map((e) => e.stepId);
      expect(completed).toEqual(
        Array.from({ length: 12 }, (_, i) => `s${String(i + 1).padStart(2, '0')}`),
      );
      // the repeated ids added no rows: only RunResumed came after the snapshot, then the rest of the run
      const afterSnapshot = events.slice(rowsBefore);
      expect(of(afterSnapshot, 'RunPaused')).toHaveLength(0);
      const client = engine.service.temporal.client!;
      const runs: string[] = [];
      for await (const execution of client.workflow.list({ query: `WorkflowId = '${runId}'` }))
        runs.push(execution.runId);
      expect(runs.length).toBeGreaterThanOrEqual(2);
    });
  }
});
