import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent, StepInput } from '@dvt/contracts';
import { fixturePath } from '@dvt/testkit';
import {
  executionPlan,
  startEngine,
  startRun,
  summary,
  waitForEnd,
  type TestEngine,
} from './helpers.ts';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.stop();
});

const schema = JSON.parse(
  readFileSync(fixturePath('dbt', 'schemas', 'run-results-v6.json'), 'utf8'),
) as object;
const validateRunResults = new Ajv2020({ strict: false, allErrors: true }).compile(schema);

const of = (events: RunEvent[], type: string, stepId?: string) =>
  events.filter((e) => e.eventType === type && (stepId === undefined || e.stepId === stepId));

function model(
  name: string,
  materialization: 'view' | 'table',
  sql: string,
  needs: string[] = [],
  schemaName = 's',
): StepInput {
  return {
    id: `model.shop.${name}`,
    kind: 'dbt.model',
    needs,
    with: {
      uniqueId: `model.shop.${name}`,
      name,
      packageName: 'shop',
      materialization,
      schema: schemaName,
      identifier: name,
      compiledSql: sql,
    },
  };
}

function dbtTest(
  name: string,
  sql: string,
  severity: 'error' | 'warn',
  attached: string,
): StepInput {
  return {
    id: `test.shop.${name}`,
    kind: 'dbt.test',
    needs: [attached],
    with: {
      uniqueId: `test.shop.${name}`,
      name,
      packageName: 'shop',
      compiledSql: sql,
      severity,
      attachedNodes: [attached],
    },
  };
}

async function relations(schemaName: string): Promise<string[]> {
  const { rows } = await engine.warehousePool.query<{ r: string }>(
    `select c.relname || ':' || c.relkind::text as r from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relkind in ('r', 'v', 'm') order by c.relname`,
    [schemaName],
  );
  return rows.map((r) => r.r);
}

async function runResults(events: RunEvent[], tenantId: string) {
  const sha = events.at(-1)!.payload.runResultsSha256 as string;
  expect(sha).toMatch(/^[0-9a-f]{64}$/);
  const { stream } = await engine.artifacts.getVerified(tenantId, sha);
  return JSON.parse(await text(stream)) as {
    metadata: Record<string, unknown>;
    results: {
      unique_id: string;
      status: string;
      failures: number | null;
      relation_name: string | null;
      message: string | null;
    }[];
  };
}

describe('dbt steps on the real warehouse', () => {
  it('field case B10: builds view s.stg and table s.mart through a skipped ephemeral model, and no eph', async () => {
    const plan = executionPlan(
      [
        model('stg', 'view', 'select 1 as id, 10 as amount union all select 2, 20'),
        model('eph', 'view', 'select id, amount * 2 as amount from "s"."stg"', ['model.shop.stg']),
        model(
          'mart',
          'table',
          'with __dbt__cte__eph as (select id, amount * 2 as amount from "s"."stg") select id, amount from __dbt__cte__eph',
          ['model.shop.stg', 'model.shop.eph'],
        ),
      ],
      {
        decisions: {
          'model.shop.eph': { action: 'SKIP', reason: 'ephemeral: compiled into dependents' },
        },
        source: { kind: 'dbt', dbtVersion: '1.10.15', projectName: 'shop' },
      },
    );
    const { runId, tenantId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
    expect(of(events, 'StepSkipped').map((e) => [e.stepId, e.payload.reason])).toEqual([
      ['model.shop.eph', 'ephemeral: compiled into dependents'],
    ]);
    expect(await relations('s')).toEqual(['mart:r', 'stg:v']);
    const { rows } = await engine.warehousePool.query('select id, amount from s.mart order by id');
    expect(rows).toEqual([
      { id: 1, amount: 20 },
      { id: 2, amount: 40 },
    ]);
    const { rows: eph } = await engine.warehousePool.query(
      "select relname from pg_class where relname like '%eph%'",
    );
    expect(eph).toEqual([]);
    const mart = of(events, 'StepCompleted', 'model.shop.mart')[0]!;
    expect(mart.payload.output).toEqual({
      relation: '"s"."mart"',
      materialization: 'table',
      rows: 2,
    });
    expect(mart.payload.outputSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(mart.payload.logSha256).toMatch(/^[0-9a-f]{64}$/);
    const output = await engine.artifacts.getVerified(
      tenantId,
      mart.payload.outputSha256 as string,
    );
    expect(JSON.parse(await text(output.stream))).toEqual(mart.payload.output);
    const stepLog = await engine.artifacts.getVerified(tenantId, mart.payload.logSha256 as string);
    expect(await text(stepLog.stream)).toContain('dbt model built {"uniqueId":"model.shop.mart"');

    const results = await runResults(events, tenantId);
    expect(validateRunResults(results), JSON.stringify(validateRunResults.errors)).toBe(true);
    expect(results.metadata).toMatchObject({
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/run-results/v6.json',
      dbt_version: '1.10.15',
      invocation_id: runId,
    });
    expect(results.results.map((r) => [r.unique_id, r.status, r.relation_name])).toEqual([
      ['model.shop.stg', 'success', '"s"."stg"'],
      ['model.shop.mart', 'success', '"s"."mart"'],
    ]);
  });

  it('swaps a rebuilt table in atomically and replaces a view whose columns changed', async () => {
    const first = executionPlan([
      model('orders', 'table', 'select 1 as id', [], 'swap'),
      model('orders_v', 'view', 'select 1 as id', [], 'swap'),
    ]);
    await waitForEnd(engine.pool, (await startRun(engine, first)).runId);
    // a reader during the rebuild sees the old rows or the new ones, never an error or none
    const second = executionPlan([
      model('orders', 'table', 'select g as id from generate_series(1, 5) g', [], 'swap'),
      model('orders_v', 'view', "select 1 as id, 'x'::text as label", [], 'swap'),
      model('orders_t', 'view', 'select 2 as id', [], 'swap'),
    ]);
    const seen = new Set<string>();
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const result = await engine.warehousePool
          .query<{ n: number }>('select count(*)::int as n from swap.orders')
          .then(
            (r) => String(r.rows[0]!.n),
            (error: Error) => `error: ${error.message}`,
          );
        seen.add(result);
      }
    })();
    const { runId } = await startRun(engine, second);
    const events = await waitForEnd(engine.pool, runId);
    reading = false;
    await reader;
    expect([...seen].sort()).toEqual(['1', '5']);
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
    expect(await relations('swap')).toEqual(['orders:r', 'orders_t:v', 'orders_v:v']);
    const { rows } = await engine.warehousePool.query('select count(*)::int as n from swap.orders');
    expect(rows).toEqual([{ n: 5 }]);
    const { rows: view } = await engine.warehousePool.query('select * from swap.orders_v');
    expect(view).toEqual([{ id: 1, label: 'x' }]);
    // a table turned into a view
    const third = executionPlan([model('orders', 'view', 'select 7 as id', [], 'swap')]);
    await waitForEnd(engine.pool, (await startRun(engine, third)).runId);
    expect(await relations('swap')).toEqual(['orders:v', 'orders_t:v', 'orders_v:v']);
  });

  it('gives a warning for a failing warn test and fails the run for a failing error test', async () => {
    const plan = executionPlan(
      [
        model('vals', 'table', 'select 1 as id union all select null', [], 't'),
        dbtTest(
          'not_null_warn',
          'select * from "t"."vals" where id is null',
          'warn',
          'model.shop.vals',
        ),
        dbtTest(
          'unique_ok',
          'select id from "t"."vals" group by id having count(*) > 1',
          'error',
          'model.shop.vals',
        ),
        dbtTest(
          'not_null_err',
          'select * from "t"."vals" where id is null',
          'error',
          'model.shop.vals',
        ),
      ],
      { retry: { maxAttempts: 3, initialIntervalMs: 10 }, failurePolicy: 'continue' },
    );
    const { runId, tenantId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    const warn = of(events, 'StepCompleted', 'test.shop.not_null_warn')[0]!;
    expect(warn.payload.warning).toBe('Got 1 result, configured to warn if != 0');
    const failed = of(events, 'StepFailed', 'test.shop.not_null_err');
    expect(failed.map((e) => [e.attempt, e.payload.willRetry])).toEqual([[1, false]]);
    expect(failed[0]!.payload.error).toMatchObject({ code: 'DBT_TEST_FAILED' });
    expect(events.at(-1)!.eventType).toBe('RunFailed');
    const results = await runResults(events, tenantId);
    expect(validateRunResults(results), JSON.stringify(validateRunResults.errors)).toBe(true);
    expect(results.results.map((r) => [r.unique_id, r.status, r.failures])).toEqual([
      ['model.shop.vals', 'success', null],
      ['test.shop.not_null_warn', 'warn', 1],
      ['test.shop.unique_ok', 'pass', 0],
      ['test.shop.not_null_err', 'fail', 1],
    ]);
  });

  it('runs simulated models as noops and builds nothing', async () => {
    const step = model('ghost', 'table', 'select 1 as id', [], 'ghost');
    (step.with as { simulate?: boolean }).simulate = true;
    const { runId } = await startRun(engine, executionPlan([step]));
    const events = await waitForEnd(engine.pool, runId);
    expect(summary(events).at(-1)).toBe('RunCompleted');
    expect(of(events, 'StepCompleted')[0]!.payload.output).toEqual({
      simulated: true,
      relation: '"ghost"."ghost"',
    });
    expect(await relations('ghost')).toEqual([]);
  });

  it('fails a model without compiled SQL, saying to compile the manifest', async () => {
    const step = model('raw', 'view', 'x');
    (step.with as { compiledSql: string | null }).compiledSql = null;
    const { runId } = await startRun(engine, executionPlan([step]));
    const events = await waitForEnd(engine.pool, runId);
    expect(of(events, 'StepFailed')[0]!.payload.error).toMatchObject({
      code: 'DBT_NOT_COMPILED',
      message:
        'model model.shop.raw has no compiled SQL; compile the manifest (dbt compile) and plan again',
    });
  });
});
