/**
 * The api with the real planner and engine in-process (on free ports), the shared Temporal
 * and PostgreSQL: plans compiled and stored, runs started exactly once per Idempotency-Key,
 * signals, events, and dependencies that are down.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createLogger } from '@dvt/service-kit';
import { createEngineService, loadEngineConfig } from '@dvt/engine';
import { createPlannerService, loadPlannerConfig } from '@dvt/planner';
import {
  createTestDatabase,
  fixturePath,
  testTemporalAddress,
  type TestDatabase,
} from '@dvt/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, INTERNAL_TOKEN, startApi, type ApiHarness } from './helpers.ts';

let db: TestDatabase;
let planner: ReturnType<typeof createPlannerService>;
let engine: ReturnType<typeof createEngineService>;
let api: ApiHarness;
let admin: string;
const TENANT = 'acme';
const quiet = createLogger({ service: 'dep', level: 'silent' });

function plan(planId: string, steps: unknown[], version = '1.0.0') {
  return { schemaVersion: 'dvt.plan/v1', planId, planVersion: version, steps };
}

async function waitForRun(runId: string, statuses: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.call('GET', `/v1/runs/${runId}`, { token: admin });
    if (statuses.includes(res.body?.status)) return res.body;
    if (Date.now() > deadline) throw new Error(`run ${runId} stayed ${res.body?.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

beforeAll(async () => {
  db = await createTestDatabase('apie2e');
  const [plannerPort, enginePort] = [await freePort(), await freePort()];
  const common = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    INTERNAL_API_TOKEN: INTERNAL_TOKEN,
  };
  engine = createEngineService(
    loadEngineConfig({
      ...common,
      PORT: String(enginePort),
      TEMPORAL_ADDRESS: testTemporalAddress,
      TEMPORAL_TASK_QUEUE: `api-e2e-${randomUUID()}`,
    }),
    quiet,
  );
  planner = createPlannerService(
    loadPlannerConfig({
      ...common,
      PORT: String(plannerPort),
      ENGINE_URL: `http://127.0.0.1:${enginePort}`,
    }),
    quiet,
  );
  await engine.start();
  await planner.start();
  api = await startApi(
    {
      PLANNER_URL: `http://127.0.0.1:${plannerPort}`,
      ENGINE_URL: `http://127.0.0.1:${enginePort}`,
    },
    db,
  );
  for (let i = 0; i < 300; i++) {
    const health = await fetch(`http://127.0.0.1:${enginePort}/healthz`);
    if (health.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  admin = await api.token(TENANT, ['admin']);
  expect(
    (
      await api.call('POST', '/v1/projects', {
        token: admin,
        body: { projectId: 'shop', name: 'Shop' },
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await api.call('POST', '/v1/projects/shop/environments', {
        token: admin,
        body: { name: 'dev' },
      })
    ).status,
  ).toBe(201);
}, 180_000);

afterAll(async () => {
  await api?.close();
  await planner?.stop();
  await engine?.stop();
  await db?.drop();
});

describe('plans', () => {
  it('compiles a plan, stores the execution plan as an artifact and records its version', async () => {
    const submitted = await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: {
        plan: plan('nightly', [
          { id: 'a', kind: 'noop', with: {} },
          { id: 'b', kind: 'noop', needs: ['a'], with: {} },
        ]),
      },
    });
    expect(submitted.status).toBe(201);
    expect(submitted.body).toMatchObject({
      planId: 'nightly',
      planVersion: '1.0.0',
      stored: true,
      requiresApproval: false,
    });
    expect(submitted.body.order.levels).toEqual([['a'], ['b']]);
    expect(submitted.body.sha256).toMatch(/^[0-9a-f]{64}$/);

    const artifact = await fetch(`${api.baseUrl}/v1/artifacts/${submitted.body.sha256}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const bytes = Buffer.from(await artifact.arrayBuffer());
    expect(bytes.length).toBe(submitted.body.sizeBytes);
    expect(JSON.parse(bytes.toString()).planId).toBe('nightly');

    const again = await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: {
        plan: plan('nightly', [
          { id: 'a', kind: 'noop', with: {} },
          { id: 'b', kind: 'noop', needs: ['a'], with: {} },
        ]),
      },
    });
    expect(again.status).toBe(200);
    expect(again.body.sha256).toBe(submitted.body.sha256);

    const changed = await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: { plan: plan('nightly', [{ id: 'z', kind: 'noop', with: {} }]) },
    });
    expect(changed.status).toBe(409);
    expect(changed.body.code).toBe('CONFLICT');

    const read = await api.call('GET', '/v1/projects/shop/plans/nightly', { token: admin });
    expect(read.body.versions.map((v: { planVersion: string }) => v.planVersion)).toEqual([
      '1.0.0',
    ]);
    const version = await api.call('GET', '/v1/projects/shop/plans/nightly/versions/1.0.0', {
      token: admin,
    });
    expect(version.body.sha256).toBe(submitted.body.sha256);
    expect(version.body.executionPlan.steps.map((s: { id: string }) => s.id)).toEqual(['a', 'b']);
  });

  it('passes the planner’s validation problems through with their code', async () => {
    const res = await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: { plan: plan('bad', [{ id: 'a', kind: 'noop', needs: ['a'], with: {} }]) },
    });
    expect(res.status).toBe(422);
    expect(res.body.code).toMatch(/^PLAN_/);
  });

  it('accepts a 6 MB dbt manifest under the plans route limit', async () => {
    const manifest = JSON.parse(
      readFileSync(fixturePath('dbt', 'fivetran-ad-reporting-v7', 'manifest.json'), 'utf8'),
    );
    const compact = JSON.stringify({ dbt: { manifest, preview: true } }, null, 1);
    // Padding with JSON whitespace makes the body 6.5 MB without changing what it says.
    const body = compact + ' '.repeat(6.5 * 1024 * 1024 - compact.length);
    expect(body.length).toBeGreaterThan(6 * 1024 * 1024);
    const res = await api.call('POST', '/v1/projects/shop/plans', { token: admin, body });
    expect(res.status).toBe(200);
    expect(res.body.stored).toBe(false);
    expect(res.body.steps.length).toBeGreaterThan(10);
  });

  it('passes the dbt options on to the planner: indirectSelection empty plans no tests', async () => {
    const manifest = JSON.parse(
      readFileSync(fixturePath('dbt', 'jaffle-shop-versioned-v10', 'manifest.json'), 'utf8'),
    );
    const kinds = async (extra: Record<string, unknown>) => {
      const res = await api.call('POST', '/v1/projects/shop/plans', {
        token: admin,
        body: { dbt: { manifest, preview: true, select: ['+customers'], ...extra } },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return [...new Set(res.body.steps.map((s: { kind: string }) => s.kind))].sort();
    };
    expect(await kinds({})).toEqual(['dbt.model', 'dbt.test']);
    expect(await kinds({ indirectSelection: 'empty' })).toEqual(['dbt.model']);
    const bad = await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: { dbt: { manifest, indirectSelection: 'careful' } },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('indirectSelection');
  });

  it('answers a plan JSON over PLAN_MAX_BYTES with a prompt 413', async () => {
    const steps = Array.from({ length: 4000 }, (_, i) => ({
      id: `s${i}`,
      kind: 'noop',
      with: {},
      description: 'x'.repeat(500),
    }));
    const started = Date.now();
    const res = await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: { plan: plan('huge', steps) },
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.detail).toMatch(
      /^the plan is \d+ bytes; a plan document may be at most 1048576 bytes \(PLAN_MAX_BYTES\)/,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('runs', () => {
  it('starts exactly one run for 20 concurrent identical POSTs with one Idempotency-Key', async () => {
    await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: { plan: plan('once', [{ id: 'a', kind: 'noop', with: { delayMs: 50 } }]) },
    });
    const key = `key-${randomUUID()}`;
    const body = { planId: 'once', planVersion: '1.0.0', environment: 'dev' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call('POST', '/v1/projects/shop/runs', {
          token: admin,
          body,
          headers: { 'idempotency-key': key },
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    const runIds = new Set(answers.map((a) => a.body.runId));
    expect(runIds.size).toBe(1);
    const [runId] = [...runIds];
    const { rows } = await api.service.database.pool.query(
      `select (select count(*)::int from api_runs where tenant_id = $1 and plan_id = 'once') as api_runs,
              (select count(*)::int from runs where tenant_id = $1 and plan_id = 'once') as runs,
              (select count(*)::int from run_events where run_id = $2 and event_type = 'RunQueued') as queued`,
      [TENANT, runId],
    );
    expect(rows[0]).toEqual({ api_runs: 1, runs: 1, queued: 1 });
    expect(answers[0]!.body.links.temporalUi).toBe(
      `http://localhost:8088/namespaces/default/workflows/${runId}`,
    );

    const reused = await api.call('POST', '/v1/projects/shop/runs', {
      token: admin,
      body: { ...body, environment: 'prod' },
      headers: { 'idempotency-key': key },
    });
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');

    const done = await waitForRun(runId, ['COMPLETED']);
    expect(done.steps.map((s: { stepId: string; status: string }) => [s.stepId, s.status])).toEqual(
      [['a', 'COMPLETED']],
    );
    const events = await api.call('GET', `/v1/runs/${runId}/events?limit=2`, { token: admin });
    expect(events.body.events.map((e: { runSeq: number }) => e.runSeq)).toEqual([1, 2]);
    expect(events.body.hasMore).toBe(true);
    const list = await api.call('GET', '/v1/projects/shop/runs?status=COMPLETED&limit=1', {
      token: admin,
    });
    expect(list.body.runs.map((r: { runId: string }) => r.runId)).toContain(runId);
  });

  it('signals a run: approve, terminal cancel, retry-run', async () => {
    await api.call('POST', '/v1/projects/shop/plans', {
      token: admin,
      body: {
        plan: plan('gated', [
          { id: 'gate', kind: 'approval', with: {} },
          { id: 'after', kind: 'noop', needs: ['gate'], with: {} },
        ]),
      },
    });
    const started = await api.call('POST', '/v1/projects/shop/runs', {
      token: admin,
      body: { planId: 'gated', planVersion: '1.0.0', environment: 'dev' },
    });
    expect(started.status).toBe(202);
    const runId = started.body.runId;
    const operator = await api.token(TENANT, ['operator:shop']);
    // The plan needs approval to start (run level) and its gate step needs one too.
    const approved: (string | null)[] = [];
    const deadline = Date.now() + 30_000;
    while (
      (await api.call('GET', `/v1/runs/${runId}`, { token: admin })).body.status !== 'COMPLETED'
    ) {
      if (Date.now() > deadline) throw new Error('run did not complete');
      const { body } = await api.call('GET', `/v1/runs/${runId}/events?limit=1000`, {
        token: admin,
      });
      const requested = body.events.filter(
        (e: { eventType: string }) => e.eventType === 'ApprovalRequested',
      );
      const pending = requested.find(
        (e: { stepId: string | null }) => !approved.includes(e.stepId),
      );
      if (pending) {
        const signal = {
          signalId: `ok-${approved.length}`,
          type: 'APPROVE',
          ...(pending.stepId ? { stepId: pending.stepId } : {}),
        };
        const approve = await api.call('POST', `/v1/runs/${runId}/signals`, {
          token: operator,
          body: signal,
        });
        expect(approve.status).toBe(202);
        expect(approve.body).toEqual({
          runId,
          signalId: signal.signalId,
          type: 'APPROVE',
          accepted: true,
        });
        approved.push(pending.stepId);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(approved.includes('gate')).toBe(true);

    const cancel = await api.call('POST', `/v1/runs/${runId}/signals`, {
      token: operator,
      body: { signalId: 'c-1', type: 'CANCEL' },
    });
    expect(cancel.status).toBe(409);
    expect(cancel.body.code).toBe('RUN_TERMINAL');

    const retry = await api.call('POST', `/v1/runs/${runId}/signals`, {
      token: operator,
      body: { signalId: 'r-1', type: 'RETRY_RUN' },
    });
    expect(retry.status).toBe(202);
    const newRunId = retry.body.newRunId;
    expect(typeof newRunId).toBe('string');
    const retried = await api.call('GET', `/v1/runs/${newRunId}`, { token: admin });
    expect(retried.status).toBe(200);
    expect(retried.body.originalRunId).toBe(runId);

    const missingStep = await api.call('POST', `/v1/runs/${runId}/signals`, {
      token: operator,
      body: { signalId: 's-1', type: 'SKIP_STEP' },
    });
    expect(missingStep.status).toBe(400);
    expect(missingStep.body.detail).toBe('a SKIP_STEP signal needs stepId');
  });

  it('answers 404 for an unknown plan version or environment', async () => {
    const noPlan = await api.call('POST', '/v1/projects/shop/runs', {
      token: admin,
      body: { planId: 'nope', planVersion: '1', environment: 'dev' },
    });
    expect(noPlan.status).toBe(404);
    expect(noPlan.body.detail).toBe('no version 1 of plan nope in project shop; submit it first');
    const noEnv = await api.call('POST', '/v1/projects/shop/runs', {
      token: admin,
      body: { planId: 'once', planVersion: '1.0.0', environment: 'prod' },
    });
    expect(noEnv.status).toBe(404);
    expect(noEnv.body.detail).toBe('no environment prod in project shop; create it first');
  });
});

describe('dependencies down', () => {
  it('answers 503 naming the planner or the engine, promptly', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const down = await startApi({ PLANNER_URL: nobody, ENGINE_URL: nobody }, db);
    try {
      const started = Date.now();
      const compile = await down.call('POST', '/v1/projects/shop/plans', {
        token: admin,
        body: { plan: plan('x', [{ id: 'a', kind: 'noop', with: {} }]) },
      });
      expect(compile.status).toBe(503);
      expect(compile.body).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        dependency: 'planner',
        detail: 'the planner refused the connection; retry later',
      });
      const run = await down.call('POST', '/v1/projects/shop/runs', {
        token: admin,
        body: { planId: 'once', planVersion: '1.0.0', environment: 'dev' },
      });
      expect(run.status).toBe(503);
      expect(run.body).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        dependency: 'engine',
        detail: 'the engine refused the connection; retry later',
      });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await down.close();
    }
  });

  it('answers 503 within the timeout when a dependency accepts connections and never answers', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    const hung = await startApi(
      {
        PLANNER_URL: `http://127.0.0.1:${port}`,
        ENGINE_URL: `http://127.0.0.1:${port}`,
        INTERNAL_CALL_TIMEOUT_MS: '300',
        PLANNER_COMPILE_TIMEOUT_MS: '300',
      },
      db,
    );
    try {
      const started = Date.now();
      const run = await hung.call('POST', '/v1/projects/shop/runs', {
        token: admin,
        body: { planId: 'once', planVersion: '1.0.0', environment: 'dev' },
      });
      expect(run.status).toBe(503);
      expect(run.body.detail).toBe('the engine did not answer within 300 ms; retry later');
      const compile = await hung.call('POST', '/v1/projects/shop/plans', {
        token: admin,
        body: { plan: plan('x', [{ id: 'a', kind: 'noop', with: {} }]) },
      });
      expect(compile.body.detail).toBe('the planner did not answer within 300 ms; retry later');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await hung.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
