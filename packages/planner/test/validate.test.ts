import { describe, expect, it } from 'vitest';
import { validatePlan } from '../src/plan/index.ts';
import { noop, planOf } from './helpers.ts';

function errorsOf(input: unknown, limits = {}) {
  const result = validatePlan(input, limits);
  if (result.ok) throw new Error('expected the plan to be invalid');
  return result.errors;
}

describe('validatePlan', () => {
  it('accepts the plan of DESIGN §4 and applies the schema defaults', () => {
    const result = validatePlan(
      planOf([
        { id: 'extract', kind: 'http', with: { method: 'POST', url: 'https://etl.example/run' } },
        {
          id: 'load',
          kind: 'sql',
          needs: ['extract'],
          with: { target: 'warehouse', sql: 'call x()' },
        },
        { id: 'sign-off', kind: 'approval', needs: ['load'], with: { timeoutMs: 3_600_000 } },
        { id: 'publish', kind: 'noop', needs: ['sign-off'], with: { delayMs: 10 } },
      ]),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.plan.concurrency).toBe(4);
    expect(result.plan.failurePolicy).toBe('stop');
    expect(result.plan.steps[0]).toEqual({
      id: 'extract',
      kind: 'http',
      with: { method: 'POST', url: 'https://etl.example/run', expectStatus: 200 },
    });
  });

  it('reports a duplicate step id at the second occurrence', () => {
    expect(errorsOf(planOf([noop('a'), noop('b'), noop('a')]))).toEqual([
      {
        code: 'PLAN_DUPLICATE_STEP_ID',
        path: '$.steps[2].id',
        message: 'step id "a" is already used by $.steps[0]; step ids must be unique',
      },
    ]);
  });

  it('reports each unknown need at its own path', () => {
    expect(errorsOf(planOf([noop('a'), noop('b', ['a', 'x', 'y'])]))).toEqual([
      {
        code: 'PLAN_UNKNOWN_NEEDS',
        path: '$.steps[1].needs[1]',
        message: 'step "b" needs "x", but no step has that id',
      },
      {
        code: 'PLAN_UNKNOWN_NEEDS',
        path: '$.steps[1].needs[2]',
        message: 'step "b" needs "y", but no step has that id',
      },
    ]);
  });

  it('spells out a cycle, starting from its smallest id', () => {
    const errors = errorsOf(
      planOf([noop('c', ['a']), noop('b', ['c']), noop('a', ['b']), noop('d', ['a'])]),
    );
    expect(errors).toEqual([
      {
        code: 'PLAN_CYCLE',
        path: '$.steps[2].needs[0]',
        message:
          "the steps' needs form a cycle: a → b → c → a (each step needs the next); remove one of these needs",
      },
    ]);
  });

  it('reports a self-dependency as the cycle a → a', () => {
    expect(errorsOf(planOf([noop('z'), noop('a', ['z', 'a'])]))).toEqual([
      {
        code: 'PLAN_CYCLE',
        path: '$.steps[1].needs[1]',
        message: 'step "a" needs itself: a → a; remove it from its own needs',
      },
    ]);
  });

  it('reports one cycle per strongly connected group', () => {
    const errors = errorsOf(
      planOf([noop('a', ['b']), noop('b', ['a']), noop('x', ['y']), noop('y', ['x'])]),
    );
    expect(errors.map((e) => e.message.split(' (')[0])).toEqual([
      "the steps' needs form a cycle: a → b → a",
      "the steps' needs form a cycle: x → y → x",
    ]);
  });

  it('reports an unknown kind as that, not as a mismatch of every kind', () => {
    expect(errorsOf(planOf([{ id: 'a', kind: 'dbt_model', with: { x: 1 } }]))).toEqual([
      {
        code: 'PLAN_UNKNOWN_KIND',
        path: '$.steps[0].kind',
        message:
          'unknown step kind "dbt_model": expected one of noop, sql, http, approval, dbt.model, dbt.test; did you mean "dbt.model"?',
      },
    ]);
  });

  it('reports a missing kind as bad parameters', () => {
    expect(errorsOf(planOf([{ id: 'a' }]))).toEqual([
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].kind',
        message:
          'missing or not a string: expected a step kind (one of noop, sql, http, approval, dbt.model, dbt.test), got nothing',
      },
    ]);
  });

  it('maps bad parameters to their paths with what was expected', () => {
    const errors = errorsOf(
      planOf([
        {
          id: 'h',
          kind: 'http',
          with: { url: 'ftp://files.example/x', method: 'FETCH', hdrs: {} },
        },
        { id: 's', kind: 'sql', with: { target: '', sql: 1 } },
        { id: 'n', kind: 'noop', with: { delayMs: -5 } },
        { id: 'e', kind: 'http', with: { url: 'https://x.example', expectStatus: 'ok' } },
        { id: 'bad id!', kind: 'noop' },
        { id: 'r', kind: 'noop', retry: { maxAttempts: 0 } },
      ]),
    );
    expect(errors).toEqual([
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].with.method',
        message:
          'expected one of "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", got the string "FETCH"',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].with.url',
        message:
          'expected an absolute http:// or https:// URL, got the string "ftp://files.example/x"',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].with.hdrs',
        message:
          'unknown field "hdrs"; allowed fields here: method, url, headers, body, expectStatus, timeoutMs',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[1].with.target',
        message: 'expected a non-empty string, got 0 characters',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[1].with.sql',
        message: 'expected string, got number 1',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[2].with.delayMs',
        message: 'expected a number >= 0, got number -5',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[3].with.expectStatus',
        message:
          'expected an HTTP status (an integer 100..599) or a non-empty list of them, got the string "ok"',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[4].id',
        message:
          'a step id starts with [A-Za-z0-9_], then [A-Za-z0-9_.:@/-], got the string "bad id!"',
      },
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[5].retry.maxAttempts',
        message: 'expected a number >= 1, got number 0',
      },
    ]);
  });

  it('reports a missing required parameter', () => {
    expect(errorsOf(planOf([{ id: 's', kind: 'sql', with: { target: 'warehouse' } }]))).toEqual([
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].with.sql',
        message: 'missing required field: expected string',
      },
    ]);
  });

  it('reports plan-level fields with PLAN_BAD_FIELD', () => {
    const errors = errorsOf({
      schemaVersion: 'dvt.plan/v2',
      planId: '-bad',
      planVersion: '1',
      concurrency: 0,
      failurePolicy: 'retry',
      steps: [],
      owner: 'me',
    });
    expect(errors).toEqual([
      {
        code: 'PLAN_BAD_FIELD',
        path: '$.schemaVersion',
        message: 'expected "dvt.plan/v1", got the string "dvt.plan/v2"',
      },
      {
        code: 'PLAN_BAD_FIELD',
        path: '$.planId',
        message:
          'a plan id starts with a letter or digit, then [A-Za-z0-9._-], got the string "-bad"',
      },
      {
        code: 'PLAN_BAD_FIELD',
        path: '$.concurrency',
        message: 'expected a number >= 1, got number 0',
      },
      {
        code: 'PLAN_BAD_FIELD',
        path: '$.failurePolicy',
        message: 'expected one of "stop", "continue", got the string "retry"',
      },
      {
        code: 'PLAN_BAD_FIELD',
        path: '$.owner',
        message:
          'unknown field "owner"; allowed fields here: schemaVersion, planId, planVersion, concurrency, failurePolicy, defaults, steps, metadata',
      },
    ]);
  });

  it('rejects a document that is not an object', () => {
    expect(errorsOf([1, 2])).toEqual([
      {
        code: 'PLAN_BAD_FIELD',
        path: '$',
        message:
          'expected a plan object { "schemaVersion": "dvt.plan/v1", "planId", "planVersion", "steps": [...] }, got an array',
      },
    ]);
  });

  it('reports the steps limit', () => {
    expect(errorsOf(planOf([noop('a'), noop('b'), noop('c')]), { maxSteps: 2 })).toEqual([
      {
        code: 'PLAN_LIMIT_EXCEEDED',
        path: '$.steps',
        message: 'the plan has 3 steps; the limit is 2 — split it into smaller plans',
      },
    ]);
  });

  it('reports the depth limit as the longest chain of needs', () => {
    const chain = planOf([noop('a'), noop('b', ['a']), noop('c', ['b']), noop('x', ['a'])]);
    expect(validatePlan(chain, { maxDepth: 3 }).ok).toBe(true);
    expect(errorsOf(chain, { maxDepth: 2 })).toEqual([
      {
        code: 'PLAN_LIMIT_EXCEEDED',
        path: '$.steps',
        message:
          'the longest chain of needs is 3 steps; the limit is 2 — shorten the chain or split the plan',
      },
    ]);
  });

  it('reports the payload size limit in bytes of the JSON text', () => {
    const plan = planOf([noop('a')]);
    const bytes = Buffer.byteLength(JSON.stringify(plan));
    expect(validatePlan(plan, { maxPlanBytes: bytes }).ok).toBe(true);
    expect(errorsOf(plan, { maxPlanBytes: bytes - 1 })).toEqual([
      {
        code: 'PLAN_LIMIT_EXCEEDED',
        path: '$',
        message: `the plan is ${bytes} bytes; the limit is ${bytes - 1} bytes — split it into smaller plans`,
      },
    ]);
  });

  it('reports concurrency above the engine limit', () => {
    expect(errorsOf(planOf([noop('a')], { concurrency: 64 }), { maxConcurrency: 32 })).toEqual([
      {
        code: 'PLAN_LIMIT_EXCEEDED',
        path: '$.concurrency',
        message: "concurrency 64 exceeds the engine's limit of 32; lower it",
      },
    ]);
  });

  it('reports every kind of problem in one pass', () => {
    const errors = errorsOf(
      planOf([
        noop('a', ['b']),
        noop('b', ['a']),
        noop('a'),
        { id: 'k', kind: 'shell' },
        { id: 'p', kind: 'sql', needs: ['ghost'], with: {} },
      ]),
      { maxSteps: 4 },
    );
    expect(errors.map((e) => [e.code, e.path])).toEqual([
      ['PLAN_LIMIT_EXCEEDED', '$.steps'],
      ['PLAN_DUPLICATE_STEP_ID', '$.steps[2].id'],
      ['PLAN_UNKNOWN_KIND', '$.steps[3].kind'],
      ['PLAN_BAD_PARAMETERS', '$.steps[4].with.target'],
      ['PLAN_BAD_PARAMETERS', '$.steps[4].with.sql'],
      ['PLAN_UNKNOWN_NEEDS', '$.steps[4].needs[0]'],
      ['PLAN_CYCLE', '$.steps[0].needs[0]'],
    ]);
  });

  it('caps the list of issues and counts the rest', () => {
    const steps = Array.from({ length: 30 }, (_, i) => noop(`s${i}`, ['missing']));
    const result = validatePlan(planOf(steps), {}, { maxIssues: 10 });
    expect(result).toMatchObject({ ok: false, omitted: 20 });
    expect(result.ok ? 0 : result.errors.length).toBe(10);
  });

  it('quotes odd keys in paths', () => {
    expect(
      errorsOf(
        planOf([
          { id: 'h', kind: 'http', with: { url: 'https://a.example', headers: { 'x-a': 1 } } },
        ]),
      ),
    ).toEqual([
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].with.headers["x-a"]',
        message: 'expected string, got number 1',
      },
    ]);
  });

  it('accepts dbt unique ids as step ids and dbt steps with their parameters', () => {
    const result = validatePlan(
      planOf([
        {
          id: 'model.shop.orders',
          kind: 'dbt.model',
          with: {
            uniqueId: 'model.shop.orders',
            name: 'orders',
            packageName: 'shop',
            materialization: 'table',
            schema: 'analytics',
            identifier: 'orders',
            compiledSql: 'select 1',
            checksum: 'abc',
          },
        },
        {
          id: 'test.shop.not_null_orders_id.5f3a@v2',
          kind: 'dbt.test',
          needs: ['model.shop.orders'],
          with: {
            uniqueId: 'test.shop.not_null_orders_id.5f3a',
            name: 'not_null_orders_id',
            packageName: 'shop',
            compiledSql: null,
            severity: 'warn',
            attachedNodes: ['model.shop.orders'],
          },
        },
      ]),
    );
    expect(result.ok).toBe(true);
  });

  it('rejects a dbt model with an unsupported materialization', () => {
    const errors = errorsOf(
      planOf([
        {
          id: 'm',
          kind: 'dbt.model',
          with: {
            uniqueId: 'm',
            name: 'm',
            packageName: 'p',
            materialization: 'incremental',
            schema: 's',
            identifier: 'm',
            compiledSql: 'select 1',
          },
        },
      ]),
    );
    expect(errors).toEqual([
      {
        code: 'PLAN_BAD_PARAMETERS',
        path: '$.steps[0].with.materialization',
        message: 'expected one of "view", "table", got the string "incremental"',
      },
    ]);
  });
});
