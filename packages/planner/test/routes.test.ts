import { copyFile, mkdtemp } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHttpServer, createLogger, createMetrics, HealthRegistry } from '@dvt/service-kit';
import { migrate } from '@dvt/store';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordStepOutcomes } from '../src/plan/index.ts';
import { registerPlannerRoutes } from '../src/routes.ts';
import { allCapabilities, noop, planOf } from './helpers.ts';

const TOKEN = 'internal-token-for-tests-0123456789';
const log = createLogger({ service: 'planner-test', level: 'silent' });
let db: TestDatabase;
let pool: pg.Pool;
let engine: FastifyInstance;
let engineUrl: string;
let engineCalls: { token: string | undefined }[] = [];

function buildApp(config: { ENGINE_URL?: string; APPROVAL_BUDGET_MS?: number } = {}) {
  const app = createHttpServer({
    log,
    health: new HealthRegistry({ timeoutMs: 500 }),
    metrics: createMetrics('planner'),
  });
  registerPlannerRoutes(app, {
    pool,
    log,
    config: {
      INTERNAL_API_TOKEN: TOKEN,
      APPROVAL_BUDGET_MS: config.APPROVAL_BUDGET_MS ?? 3_600_000,
      ...config,
    },
    engineTimeoutMs: 300,
    now: () => new Date('2025-03-01T00:00:00Z'),
  });
  return app;
}

const post = (app: FastifyInstance, url: string, payload: unknown, token: string | null = TOKEN) =>
  app.inject({
    method: 'POST',
    url,
    payload: payload as object,
    headers: token === null ? {} : { 'x-internal-token': token },
  });

beforeAll(async () => {
  db = await createTestDatabase('planner_routes');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const dir = await mkdtemp(join(tmpdir(), 'planner-mig-'));
  await copyFile(
    new URL('../../store/migrations/0100_planner_history.sql', import.meta.url),
    join(dir, '0100_planner_history.sql'),
  );
  await migrate(pool, log, { dir: pathToFileURL(`${dir}/`) });

  // Stands in for the engine's capability endpoint, which the engine team builds.
  engine = Fastify();
  engine.get('/internal/v1/capabilities', async (req, reply) => {
    engineCalls.push({ token: req.headers['x-internal-token'] as string | undefined });
    if (req.headers['x-internal-token'] !== TOKEN) return reply.code(401).send({});
    return { ...allCapabilities, kinds: ['noop', 'sql'] };
  });
  engine.get('/hang/internal/v1/capabilities', () => new Promise(() => undefined));
  await engine.listen({ host: '127.0.0.1', port: 0 });
  engineUrl = `http://127.0.0.1:${(engine.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await engine?.close();
  await pool?.end();
  await db?.drop();
});

describe('internal token', () => {
  for (const [name, token] of [
    ['missing', null],
    ['wrong', 'not-the-token-0123456789abcdef'],
  ] as const) {
    for (const url of [
      '/internal/v1/validate',
      '/internal/v1/compile',
      '/internal/v1/capabilities/check',
    ]) {
      it(`rejects a ${name} token on ${url} with 401 problem+json`, async () => {
        const res = await post(buildApp(), url, { plan: planOf([noop('a')]) }, token);
        expect(res.statusCode).toBe(401);
        expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        expect(res.json()).toMatchObject({
          code: 'UNAUTHENTICATED',
          detail: 'internal routes need a valid X-Internal-Token header',
        });
      });
    }
  }
});

describe('POST /internal/v1/validate', () => {
  it('answers 200 for a valid plan', async () => {
    const res = await post(buildApp(), '/internal/v1/validate', {
      plan: planOf([noop('a'), noop('b', ['a'])]),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      valid: true,
      planId: 'p1',
      planVersion: '1',
      steps: 2,
      requiredCapabilities: { kinds: ['noop'], materializations: [], targets: [] },
    });
  });

  it('answers 422 PLAN_INVALID listing every problem', async () => {
    const res = await post(buildApp(), '/internal/v1/validate', {
      plan: planOf([
        noop('a', ['b']),
        noop('b', ['c']),
        noop('c', ['a']),
        { id: 'x', kind: 'bash' },
      ]),
    });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const body = res.json();
    expect(body.code).toBe('PLAN_INVALID');
    expect(body.errors).toEqual([
      {
        code: 'PLAN_UNKNOWN_KIND',
        path: '$.steps[3].kind',
        message:
          'unknown step kind "bash": expected one of noop, sql, http, approval, dbt.model, dbt.test',
      },
      {
        code: 'PLAN_CYCLE',
        path: '$.steps[0].needs[0]',
        message:
          "the steps' needs form a cycle: a → b → c → a (each step needs the next); remove one of these needs",
      },
    ]);
  });

  it('answers 400 when the body has no plan', async () => {
    const res = await post(buildApp(), '/internal/v1/validate', { plan2: {} });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: 'the request body is invalid: $.plan: missing required field: expected a plan',
    });
  });

  it('answers 413 problem+json for a plan of more than 1 MiB', async () => {
    const big = planOf(
      Array.from({ length: 20_000 }, (_, i) => noop(`step_${i}_${'x'.repeat(80)}`)),
    );
    const payload = JSON.stringify({ plan: big });
    expect(payload.length).toBeGreaterThan(2 * 1024 * 1024);
    const res = await buildApp().inject({
      method: 'POST',
      url: '/internal/v1/validate',
      payload,
      headers: { 'x-internal-token': TOKEN, 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      detail: "the body exceeds this route's limit of 1048576 bytes",
    });
  });

  it('answers 413 before the body is sent, from the declared length', async () => {
    const app = buildApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (app.server.address() as AddressInfo).port;
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/internal/v1/validate',
          headers: {
            'content-type': 'application/json',
            'content-length': String(2 * 1024 * 1024 + 1),
            'x-internal-token': TOKEN,
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.flushHeaders(); // headers only: the body never comes
        setTimeout(() => reject(new Error('no prompt answer')), 3000).unref();
      });
      expect(status).toBe(413);
    } finally {
      await app.close();
    }
  });
});

describe('POST /internal/v1/compile', () => {
  const scope = { tenantId: 'tenant-a', projectId: 'proj-a' };

  it('compiles with the capabilities in the body and the history in Postgres', async () => {
    await recordStepOutcomes(pool, [
      { ...scope, planId: 'p1', stepId: 'a', status: 'COMPLETED', durationMs: 700 },
    ]);
    const res = await post(buildApp(), '/internal/v1/compile', {
      ...scope,
      plan: planOf([noop('b', ['a']), noop('a')]),
      capabilities: allCapabilities,
    });
    expect(res.statusCode).toBe(200);
    const plan = res.json();
    expect(plan).toMatchObject({
      schemaVersion: 'dvt.execution-plan/v1',
      planId: 'p1',
      compiledAt: '2025-03-01T00:00:00.000Z',
      order: { levels: [['a'], ['b']], criticalPath: ['a', 'b'] },
      decisions: { a: { action: 'RUN' }, b: { action: 'RUN' } },
      estimate: { durationMs: 700, basis: 'mixed', defaultStepMs: 1000, criticalPathMs: 700 },
      requiresApproval: false,
    });
  });

  it('asks the engine for its capabilities when the body has none', async () => {
    engineCalls = [];
    const app = buildApp({ ENGINE_URL: engineUrl });
    const ok = await post(app, '/internal/v1/compile', { ...scope, plan: planOf([noop('a')]) });
    expect(ok.statusCode).toBe(200);
    expect(engineCalls).toEqual([{ token: TOKEN }]);

    const missing = await post(app, '/internal/v1/compile', {
      ...scope,
      plan: planOf([{ id: 'h', kind: 'http', with: { url: 'https://x.example' } }]),
    });
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({
      code: 'PLAN_CAPABILITY_MISSING',
      errors: [
        {
          code: 'PLAN_CAPABILITY_MISSING',
          path: '$.steps[0]',
          message:
            'step "h" needs kind "http" (the engine runs noop, sql), which the engine does not offer',
        },
      ],
    });
  });

  it('answers 503 naming the engine when it does not answer', async () => {
    const closed = Fastify();
    await closed.listen({ host: '127.0.0.1', port: 0 });
    const deadUrl = `http://127.0.0.1:${(closed.server.address() as AddressInfo).port}`;
    await closed.close();
    for (const [url, reason] of [
      [deadUrl, 'connection failed'],
      [`${engineUrl}/hang`, 'no answer within 300 ms'],
    ] as const) {
      const started = Date.now();
      const res = await post(buildApp({ ENGINE_URL: url }), '/internal/v1/compile', {
        ...scope,
        plan: planOf([noop('a')]),
      });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        dependency: 'engine',
        detail: `the engine did not provide its capabilities (GET /internal/v1/capabilities): ${reason}; retry later, or send "capabilities" in the request`,
      });
    }
  });

  it('answers 503 when no engine is configured and the body has no capabilities', async () => {
    const res = await post(buildApp(), '/internal/v1/compile', {
      ...scope,
      plan: planOf([noop('a')]),
    });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', dependency: 'engine' });
  });

  it('applies the configured approval budget', async () => {
    const res = await post(buildApp({ APPROVAL_BUDGET_MS: 50 }), '/internal/v1/compile', {
      ...scope,
      plan: planOf([noop('a', [], 100)], { planId: 'budget' }),
      capabilities: allCapabilities,
    });
    expect(res.json()).toMatchObject({
      requiresApproval: true,
      approvalReasons: ['estimated duration 100 ms exceeds the approval budget of 50 ms'],
    });
  });

  it('accepts a 6 MB plan under its 16 MiB limit', async () => {
    const steps = Array.from({ length: 20_000 }, (_, i) => ({
      id: `s${i}`,
      kind: 'sql',
      needs: i === 0 ? [] : [`s${i - 1}`].slice(0, i % 3),
      with: { target: 'warehouse', sql: `select ${'1,'.repeat(120)}1` },
    }));
    const payload = JSON.stringify({
      ...scope,
      plan: planOf(steps),
      capabilities: allCapabilities,
    });
    expect(payload.length).toBeGreaterThan(6_000_000);
    const res = await buildApp().inject({
      method: 'POST',
      url: '/internal/v1/compile',
      payload,
      headers: { 'x-internal-token': TOKEN, 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().steps.length).toBe(20_000);
  });

  it('answers 400 when both plan and dbt are given, or the scope is missing', async () => {
    const both = await post(buildApp(), '/internal/v1/compile', {
      ...scope,
      plan: planOf([]),
      dbt: { manifest: {} },
    });
    expect(both.statusCode).toBe(400);
    expect(both.json().detail).toBe(
      'the request body is invalid: $.plan: expected exactly one of "plan" and "dbt"',
    );
    const noScope = await post(buildApp(), '/internal/v1/compile', { plan: planOf([]) });
    expect(noScope.statusCode).toBe(400);
    expect(noScope.json().errors.map((e: { path: string }) => e.path)).toEqual([
      '$.tenantId',
      '$.projectId',
    ]);
  });
});

describe('POST /internal/v1/capabilities/check', () => {
  it('answers 200 with the requirements when the engine can run the plan', async () => {
    const res = await post(buildApp(), '/internal/v1/capabilities/check', {
      plan: planOf([{ id: 'q', kind: 'sql', with: { target: 'warehouse', sql: 'select 1' } }]),
      capabilities: allCapabilities,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ok: true,
      requiredCapabilities: { kinds: ['sql'], materializations: [], targets: ['warehouse'] },
    });
  });

  it('answers 422 naming the steps the engine cannot run', async () => {
    const res = await post(buildApp(), '/internal/v1/capabilities/check', {
      plan: planOf([
        { id: 'q', kind: 'sql', with: { target: 'lake', sql: 'select 1' } },
        noop('n'),
      ]),
      capabilities: allCapabilities,
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      code: 'PLAN_CAPABILITY_MISSING',
      detail: 'the engine cannot run 1 step of this plan: "q"; see errors for what each needs',
      errors: [
        {
          code: 'PLAN_CAPABILITY_MISSING',
          path: '$.steps[0]',
          message:
            'step "q" needs target "lake" (the engine has warehouse), which the engine does not offer',
        },
      ],
    });
  });
});
