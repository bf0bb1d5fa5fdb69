import { createHttpServer, createLogger, createMetrics, HealthRegistry } from '@dvt/service-kit';
import { migrate } from '@dvt/store';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import type { FastifyInstance } from 'fastify';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordStepOutcomes } from '../src/plan/index.ts';
import { loadPlannerConfig } from '../src/config.ts';
import { registerPlannerRoutes } from '../src/routes.ts';
import { readFixtureManifestText } from './fixtures/dbt-fixtures.ts';
import { allCapabilities } from './helpers.ts';

const TOKEN = 'internal-token-for-tests-0123456789';
const log = createLogger({ service: 'planner-test', level: 'silent' });
const scope = { tenantId: 'tenant-d', projectId: 'proj-d' };
let db: TestDatabase;
let pool: pg.Pool;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase('planner_dbt_route');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const dir = await mkdtemp(join(tmpdir(), 'planner-mig-'));
  await copyFile(
    new URL('../../store/migrations/0100_planner_history.sql', import.meta.url),
    join(dir, '0100_planner_history.sql'),
  );
  await migrate(pool, log, { dir: pathToFileURL(`${dir}/`) });
  app = createHttpServer({
    log,
    health: new HealthRegistry({ timeoutMs: 500 }),
    metrics: createMetrics('planner'),
  });
  registerPlannerRoutes(app, {
    pool,
    log,
    config: { INTERNAL_API_TOKEN: TOKEN, APPROVAL_BUDGET_MS: 24 * 3_600_000 },
    now: () => new Date('2025-03-01T00:00:00Z'),
  });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** The body as text, so the manifest's bytes go in as they are on disk. */
function compileDbt(manifestText: string, dbt: Record<string, unknown> = {}) {
  const options = JSON.stringify(dbt);
  const dbtPart =
    options === '{}'
      ? `{"manifest":${manifestText}}`
      : `{"manifest":${manifestText},${options.slice(1)}`;
  const payload = `{"tenantId":"${scope.tenantId}","projectId":"${scope.projectId}","capabilities":${JSON.stringify(allCapabilities)},"dbt":${dbtPart}}`;
  return app.inject({
    method: 'POST',
    url: '/internal/v1/compile',
    payload,
    headers: { 'x-internal-token': TOKEN, 'content-type': 'application/json' },
  });
}

describe('POST /internal/v1/compile with a dbt manifest', () => {
  it('compiles a 4 MB real manifest under the route limit, every step after its needs', async () => {
    const text = readFixtureManifestText('fivetran-ad-reporting-v7');
    expect(text.length).toBeGreaterThan(4_000_000);
    const res = await compileDbt(text, { preview: true, simulate: true });
    expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
    const plan = res.json();
    expect(plan.source).toMatchObject({ kind: 'dbt', manifestSchemaVersion: 'v7' });
    expect(plan.steps.length).toBeGreaterThan(0);
    const level = new Map<string, number>();
    plan.order.levels.forEach((ids: string[], k: number) => ids.forEach((id) => level.set(id, k)));
    for (const step of plan.steps as { id: string; needs?: string[] }[]) {
      for (const need of step.needs ?? [])
        expect(level.get(need)).toBeLessThan(level.get(step.id)!);
    }
    expect(Object.keys(plan.decisions).length).toBe(plan.steps.length);
    expect(plan.report).toMatchObject({ skipped: expect.any(Array), warnings: expect.any(Array) });
  });

  it('skips a model whose checksum equals its last successful run, unless fullRefresh', async () => {
    const text = readFixtureManifestText('fivetran-ad-reporting-v7');
    const first = (await compileDbt(text, { preview: true, simulate: true })).json();
    const model = (
      first.steps as { id: string; kind: string; with: { checksum?: string | null } }[]
    ).find((s) => s.kind === 'dbt.model' && s.with.checksum)!;
    await recordStepOutcomes(pool, [
      {
        ...scope,
        planId: first.planId,
        stepId: model.id,
        status: 'COMPLETED',
        durationMs: 10,
        checksum: model.with.checksum!,
      },
    ]);
    const second = (await compileDbt(text, { preview: true, simulate: true })).json();
    expect(second.decisions[model.id]).toEqual({
      action: 'SKIP',
      reason: `unchanged: checksum ${model.with.checksum} equals last successful run`,
    });
    const refreshed = (
      await compileDbt(text, { preview: true, simulate: true, fullRefresh: true })
    ).json();
    expect(refreshed.decisions[model.id].action).toBe('RUN');
  });

  it('takes indirectSelection: empty brings no tests, a new plan version; a bad mode is a 400', async () => {
    const text = readFixtureManifestText('jaffle-shop-versioned-v10');
    const kinds = (plan: { steps: { kind: string }[] }) =>
      [...new Set(plan.steps.map((s) => s.kind))].sort();
    const eager = (await compileDbt(text, { preview: true, select: ['+customers'] })).json();
    const empty = (
      await compileDbt(text, { preview: true, select: ['+customers'], indirectSelection: 'empty' })
    ).json();
    expect(kinds(eager)).toEqual(['dbt.model', 'dbt.test']);
    expect(kinds(empty)).toEqual(['dbt.model']);
    expect(empty.steps.length).toBe(
      eager.steps.filter((s: { kind: string }) => s.kind === 'dbt.model').length,
    );
    expect(empty.planVersion).not.toBe(eager.planVersion);

    const bad = await compileDbt(text, { preview: true, indirectSelection: 'careful' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('indirectSelection');
  });

  it('holds compile requests to COMPILE_BODY_LIMIT_BYTES from the environment', async () => {
    const config = loadPlannerConfig({
      DATABASE_URL: db.url,
      INTERNAL_API_TOKEN: TOKEN,
      COMPILE_BODY_LIMIT_BYTES: '4096',
    });
    expect(config.COMPILE_BODY_LIMIT_BYTES).toBe(4096);
    const small = createHttpServer({
      log,
      health: new HealthRegistry({ timeoutMs: 500 }),
      metrics: createMetrics('planner'),
    });
    registerPlannerRoutes(small, { pool, log, config });
    const res = await small.inject({
      method: 'POST',
      url: '/internal/v1/compile',
      payload: JSON.stringify({ ...scope, dbt: { manifest: { pad: 'x'.repeat(5000) } } }),
      headers: { 'x-internal-token': TOKEN, 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().detail).toContain('4096 bytes');
    await small.close();
  });

  it('answers 422 MANIFEST_INVALID for something that is not a manifest', async () => {
    const res = await compileDbt('{"nodes": 3}');
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('MANIFEST_INVALID');
  });
});
