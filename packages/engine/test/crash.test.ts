import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '@dvt/contracts';
import { startPrivateTemporal } from '@dvt/testkit';
import {
  assertLedger,
  executionPlan,
  startEngine,
  storePlan,
  waitFor,
  waitForEnd,
  waitForEvent,
  type TestEngine,
} from './helpers.ts';
import { spawnEngine, waitReady, type EngineProcess } from './processes.ts';

let engine: TestEngine;
const spawned: EngineProcess[] = [];
beforeAll(async () => {
  // the in-process engine only provides databases, bucket and helpers; its worker polls another queue
  engine = await startEngine();
});
afterAll(async () => {
  for (const proc of spawned) await proc.kill('SIGKILL');
  await engine?.stop();
});

function childEnv(taskQueue: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...engine.env,
    LOG_LEVEL: 'warn',
    TEMPORAL_TASK_QUEUE: taskQueue,
    ENGINE_HEARTBEAT_TIMEOUT_MS: '2000',
    ENGINE_STICKY_TIMEOUT_MS: '1000',
    ...extra,
  };
}

async function spawn(env: Record<string, string>): Promise<EngineProcess> {
  const proc = await spawnEngine(env);
  spawned.push(proc);
  return proc;
}

async function start(proc: EngineProcess, plan: ReturnType<typeof executionPlan>) {
  const planRef = await storePlan(engine, 'tenant-a', plan);
  const runId = randomUUID();
  const res = await proc.post('/internal/v1/runs', {
    planRef,
    context: { tenantId: 'tenant-a', projectId: 'p', environment: 'dev', runId },
  });
  expect(res.status).toBe(202);
  return runId;
}

/** Nothing lost, nothing twice: one start and one end per step and per run, gapless seqs. */
function assertExactlyOnce(events: RunEvent[], stepIds: string[]): void {
  assertLedger(events);
  for (const type of ['RunQueued', 'RunStarted', 'RunCompleted']) {
    expect(
      events.filter((e) => e.eventType === type),
      type,
    ).toHaveLength(1);
  }
  for (const stepId of stepIds) {
    const types = events.filter((e) => e.stepId === stepId).map((e) => e.eventType);
    expect(types, stepId).toEqual(['StepStarted', 'StepCompleted']);
  }
}

const chain = (n: number, delayMs: number) =>
  executionPlan(
    Array.from({ length: n }, (_, i) => ({
      id: `s${i + 1}`,
      kind: 'noop' as const,
      with: { delayMs },
      ...(i > 0 ? { needs: [`s${i}`] } : {}),
    })),
    { concurrency: 1 },
  );

describe('engine processes killed with SIGKILL', () => {
  it('finishes the run with no event lost or duplicated when the only engine is killed mid-step and started again', async () => {
    const queue = `crash-${randomUUID()}`;
    const first = await spawn(childEnv(queue));
    await waitReady(first);
    const runId = await start(first, chain(5, 700));
    await waitForEvent(
      engine.pool,
      runId,
      (e) => e.eventType === 'StepStarted' && e.stepId === 's3',
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await first.kill('SIGKILL');
    const second = await spawn(childEnv(queue));
    const events = await waitForEnd(engine.pool, runId, 60_000);
    assertExactlyOnce(events, ['s1', 's2', 's3', 's4', 's5']);
    await second.kill('SIGTERM');
  });

  it('lets a second engine on the same task queue finish the run when the other is killed', async () => {
    const queue = `share-${randomUUID()}`;
    const a = await spawn(childEnv(queue));
    const b = await spawn(childEnv(queue));
    await Promise.all([waitReady(a), waitReady(b)]);
    const identityOf = async (proc: EngineProcess) => {
      const checks = (await proc.healthz()).body.checks as Record<
        string,
        { details?: Record<string, unknown> }
      >;
      return checks.worker!.details!.identity as string;
    };
    const [identityA, identityB] = [await identityOf(a), await identityOf(b)];
    expect(identityA).toMatch(/^engine-[0-9a-f]{12}$/);
    expect(identityB).not.toBe(identityA);
    const ids = Array.from({ length: 24 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    const plan = executionPlan(
      ids.map((id) => ({ id, kind: 'noop' as const, with: { delayMs: 400 } })),
      { concurrency: 6 },
    );
    const runId = await start(a, plan);
    await waitFor(
      async () => {
        const { rows } = await engine.pool.query(
          "select distinct payload->>'worker' as worker from run_events where run_id = $1 and event_type = 'StepCompleted'",
          [runId],
        );
        return rows.length === 2;
      },
      30_000,
      'both engines to complete steps',
      50,
    );
    await a.kill('SIGKILL');
    const events = await waitForEnd(engine.pool, runId, 60_000);
    assertExactlyOnce(events, ids);
    const workers = new Set(
      events.filter((e) => e.eventType === 'StepCompleted').map((e) => e.payload.worker),
    );
    expect(workers).toEqual(new Set([identityA, identityB]));
    for (const e of events) expect(e.payload).not.toHaveProperty('pid');
    await b.kill('SIGTERM');
  });
});

describe('field case B16: a Temporal server that is up but not ready', () => {
  it('stays up with 503 until the namespace exists, then turns ready with the same process', async () => {
    const temporal = await startPrivateTemporal({ start: false });
    try {
      const proc = await spawn(
        childEnv(`b16-${randomUUID()}`, {
          TEMPORAL_ADDRESS: temporal.address,
          TEMPORAL_NAMESPACE: 'dvt-test',
        }),
      );
      const pid = proc.child.pid;
      await waitFor(
        async () => {
          const { status, body } = await proc.healthz();
          const checks = body.checks as Record<string, { ok: boolean; error?: string }>;
          return status === 503 && checks.temporal?.ok === false && checks.postgres?.ok === true;
        },
        20_000,
        '503 naming temporal',
      );
      await temporal.start();
      await waitFor(
        async () => {
          const { status, body } = await proc.healthz();
          const checks = body.checks as Record<string, { ok: boolean; error?: string }>;
          return (
            status === 503 && /namespace dvt-test not found/.test(checks.temporal?.error ?? '')
          );
        },
        30_000,
        '503 with "namespace dvt-test not found"',
        200,
      );
      expect(proc.child.exitCode).toBeNull();
      // a run cannot start meanwhile, and nothing is recorded for it
      const refused = await proc.post('/internal/v1/runs', {
        planRef: await storePlan(engine, 'tenant-a', chain(1, 0)),
        context: { tenantId: 'tenant-a', projectId: 'p', environment: 'dev', runId: 'b16-early' },
      });
      expect([refused.status, refused.body.code]).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
      expect(
        (await engine.pool.query("select 1 from run_events where run_id = 'b16-early'")).rows,
      ).toEqual([]);
      await promisify(execFile)(
        'temporal',
        [
          'operator',
          'namespace',
          'create',
          '--namespace',
          'dvt-test',
          '--address',
          temporal.address,
        ],
        {
          env: process.env,
        },
      );
      await waitReady(proc, 30_000);
      expect(proc.child.pid).toBe(pid);
      expect(proc.child.exitCode).toBeNull();
      const runId = await start(proc, chain(2, 10));
      const events = await waitForEnd(engine.pool, runId, 30_000);
      expect(events.at(-1)!.eventType).toBe('RunCompleted');
      await proc.kill('SIGTERM');
      expect(proc.child.exitCode).toBe(0);
    } finally {
      await temporal.dispose();
    }
  });
});
