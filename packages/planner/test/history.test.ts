import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger } from '@dvt/service-kit';
import { migrate } from '@dvt/store';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compilePlan,
  PlannerHistory,
  recordStepOutcome,
  recordStepOutcomes,
} from '../src/plan/index.ts';
import { allCapabilities, noop, planOf } from './helpers.ts';

const scope = { tenantId: 't1', projectId: 'proj', planId: 'p1' };
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('planner_history');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // Only the planner's migration: the other teams' files are not this test's subject.
  const dir = await mkdtemp(join(tmpdir(), 'planner-mig-'));
  await copyFile(
    new URL('../../store/migrations/0100_planner_history.sql', import.meta.url),
    join(dir, '0100_planner_history.sql'),
  );
  await migrate(pool, createLogger({ service: 'test', level: 'silent' }), {
    dir: pathToFileURL(`${dir}/`),
  });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('step history', () => {
  it('records outcomes and reads them back in one query', async () => {
    await recordStepOutcomes(pool, [
      { ...scope, stepId: 'a', status: 'COMPLETED', durationMs: 1200, checksum: 'c-a' },
      { ...scope, stepId: 'b', status: 'COMPLETED', durationMs: 300 },
      { ...scope, planId: 'other', stepId: 'a', status: 'COMPLETED', durationMs: 9 },
    ]);
    const history = await new PlannerHistory(pool).load(scope, ['a', 'b', 'c']);
    expect([...history.keys()].sort()).toEqual(['a', 'b']);
    expect(history.get('a')).toMatchObject({
      stepId: 'a',
      lastStatus: 'COMPLETED',
      lastDurationMs: 1200,
      lastSuccessfulChecksum: 'c-a',
    });
    expect(history.get('b')?.lastSuccessfulChecksum).toBeNull();
  });

  it('keeps the last successful duration and checksum when a later attempt fails', async () => {
    await recordStepOutcome(pool, {
      ...scope,
      stepId: 'f',
      status: 'COMPLETED',
      durationMs: 500,
      checksum: 'v1',
    });
    await recordStepOutcome(pool, {
      ...scope,
      stepId: 'f',
      status: 'FAILED',
      durationMs: 5,
      checksum: 'v2',
    });
    const { rows } = await pool.query(
      `select last_status, last_duration_ms::int as ms, last_successful_checksum as checksum
         from step_history where plan_id = $1 and step_id = 'f'`,
      [scope.planId],
    );
    expect(rows).toEqual([{ last_status: 'FAILED', ms: 500, checksum: 'v1' }]);
    await recordStepOutcome(pool, {
      ...scope,
      stepId: 'f',
      status: 'COMPLETED',
      durationMs: 700,
      checksum: 'v2',
    });
    const after = await new PlannerHistory(pool).load(scope, ['f']);
    expect(after.get('f')).toMatchObject({
      lastStatus: 'COMPLETED',
      lastDurationMs: 700,
      lastSuccessfulChecksum: 'v2',
    });
  });

  it('rejects a negative duration with a message naming the step', async () => {
    await expect(
      recordStepOutcome(pool, { ...scope, stepId: 'x', status: 'COMPLETED', durationMs: -1 }),
    ).rejects.toThrow('step x: durationMs must be a non-negative integer, got -1');
  });

  it('estimates with history where there is some, and the default elsewhere', async () => {
    const planScope = { ...scope, planId: 'estimate' };
    const plan = planOf(
      [
        noop('a'),
        { id: 'b', kind: 'sql', needs: ['a'], with: { target: 'warehouse', sql: 'select 1' } },
        { id: 'c', kind: 'sql', needs: ['a'], with: { target: 'warehouse', sql: 'select 2' } },
      ],
      { planId: 'estimate', concurrency: 1 },
    );
    const ids = ['a', 'b', 'c'];
    const now = new Date('2025-01-01T00:00:00Z');

    const none = compilePlan(plan, {
      capabilities: allCapabilities,
      history: await new PlannerHistory(pool).load(planScope, ids),
      now,
    });
    // noop without delay 0 ms; each sql step the stated default of 1000 ms; one slot.
    expect(none.estimate).toEqual({
      durationMs: 2000,
      basis: 'default',
      defaultStepMs: 1000,
      criticalPathMs: 1000,
    });

    await recordStepOutcomes(pool, [
      { ...planScope, stepId: 'a', status: 'COMPLETED', durationMs: 100 },
      { ...planScope, stepId: 'b', status: 'COMPLETED', durationMs: 4000 },
    ]);
    const mixed = compilePlan(plan, {
      capabilities: allCapabilities,
      history: await new PlannerHistory(pool).load(planScope, ids),
      now,
    });
    expect(mixed.estimate).toEqual({
      durationMs: 5100,
      basis: 'mixed',
      defaultStepMs: 1000,
      criticalPathMs: 4100,
    });
    expect(mixed.order.criticalPath).toEqual(['a', 'b']);

    await recordStepOutcome(pool, {
      ...planScope,
      stepId: 'c',
      status: 'COMPLETED',
      durationMs: 2500,
    });
    const full = compilePlan(
      { ...plan, concurrency: 2 },
      {
        capabilities: allCapabilities,
        history: await new PlannerHistory(pool).load(planScope, ids),
        now,
      },
    );
    expect(full.estimate).toEqual({
      durationMs: 4100,
      basis: 'history',
      defaultStepMs: 1000,
      criticalPathMs: 4100,
    });
  });

  it('loads history for 20,000 steps in one query', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({
      ...scope,
      planId: 'big',
      stepId: `s${i}`,
      status: 'COMPLETED' as const,
      durationMs: i,
    }));
    await recordStepOutcomes(pool, many);
    const history = await new PlannerHistory(pool).load(
      { ...scope, planId: 'big' },
      many.map((m) => m.stepId),
    );
    expect(history.size).toBe(20_000);
    expect(history.get('s19999')?.lastDurationMs).toBe(19_999);
  });
});
