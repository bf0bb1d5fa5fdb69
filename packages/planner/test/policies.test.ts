import type { StepInput } from '@dvt/contracts';
import { isProblemError } from '@dvt/service-kit';
import { describe, expect, it } from 'vitest';
import { compilePlan, type StepHistoryRecord } from '../src/plan/index.ts';
import { allCapabilities, noop, planOf } from './helpers.ts';

function model(id: string, extra: Record<string, unknown> = {}, needs: string[] = []): StepInput {
  return {
    id,
    kind: 'dbt.model',
    ...(needs.length ? { needs } : {}),
    with: {
      uniqueId: id,
      name: id.split('.').pop()!,
      packageName: 'shop',
      materialization: 'table',
      schema: 'analytics',
      identifier: id.split('.').pop()!,
      compiledSql: 'select 1',
      ...extra,
    },
  } as StepInput;
}

function record(stepId: string, checksum: string | null, durationMs = 2000): StepHistoryRecord {
  return {
    stepId,
    lastStatus: 'COMPLETED',
    lastDurationMs: durationMs,
    lastSuccessfulChecksum: checksum,
    lastSuccessAt: new Date('2025-01-01T00:00:00Z'),
    updatedAt: new Date('2025-01-01T00:00:00Z'),
  };
}

function thrown(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (isProblemError(error)) return error;
    throw error;
  }
  throw new Error('expected a ProblemError');
}

const now = new Date('2025-02-01T12:00:00Z');

describe('skip unchanged', () => {
  const plan = planOf([
    model('model.shop.a', { checksum: 'aaa' }),
    model('model.shop.b', { checksum: 'bbb-new' }, ['model.shop.a']),
    model('model.shop.c', { checksum: 'ccc' }, ['model.shop.a']),
    noop('after', ['model.shop.b']),
  ]);
  const history = new Map([
    ['model.shop.a', record('model.shop.a', 'aaa')],
    ['model.shop.b', record('model.shop.b', 'bbb-old')],
  ]);

  it('skips a step whose checksum equals its last successful run', () => {
    const compiled = compilePlan(plan, { capabilities: allCapabilities, history, now });
    expect(compiled.decisions).toEqual({
      'model.shop.a': {
        action: 'SKIP',
        reason: 'unchanged: checksum aaa equals last successful run',
      },
      'model.shop.b': {
        action: 'RUN',
        reason: 'run: checksum bbb-new differs from last successful run (bbb-old)',
      },
      'model.shop.c': { action: 'RUN', reason: 'run: no earlier successful run recorded' },
      after: { action: 'RUN', reason: 'run: the step has no checksum to compare' },
    });
    // The skipped step costs nothing in the estimate: b (history 2000) and c (default 1000).
    expect(compiled.estimate).toEqual({
      durationMs: 2000,
      basis: 'mixed',
      defaultStepMs: 1000,
      criticalPathMs: 2000,
    });
  });

  it('runs everything on a full refresh', () => {
    const compiled = compilePlan(plan, {
      capabilities: allCapabilities,
      history,
      fullRefresh: true,
      now,
    });
    expect(compiled.decisions['model.shop.a']).toEqual({
      action: 'RUN',
      reason: 'run: full refresh requested',
    });
    expect(Object.values(compiled.decisions).every((d) => d.action === 'RUN')).toBe(true);
  });

  it('keeps the importer’s preset decisions and passes its report through', () => {
    const report = {
      skipped: [{ uniqueId: 'seed.shop.s', resourceType: 'seed', reason: 'seeds are not run' }],
      warnings: [],
    };
    const compiled = compilePlan(plan, {
      capabilities: allCapabilities,
      history,
      fullRefresh: true,
      now,
      presetDecisions: {
        'model.shop.c': { action: 'SKIP', reason: 'ephemeral: inlined into its dependents' },
        'model.shop.b': { action: 'RUN', reason: 'incremental treated as a full rebuild' },
        'seed.shop.s': { action: 'SKIP', reason: 'not a step' },
      },
      report,
      source: { kind: 'dbt', manifestSchemaVersion: 'v12' },
    });
    expect(compiled.decisions['model.shop.c']).toEqual({
      action: 'SKIP',
      reason: 'ephemeral: inlined into its dependents',
    });
    expect(compiled.decisions['model.shop.b']).toEqual({
      action: 'RUN',
      reason: 'incremental treated as a full rebuild',
    });
    expect(Object.keys(compiled.decisions)).toEqual([
      'model.shop.a',
      'model.shop.b',
      'model.shop.c',
      'after',
    ]);
    expect(compiled.report).toEqual(report);
    expect(compiled.source).toEqual({ kind: 'dbt', manifestSchemaVersion: 'v12' });
  });
});

describe('approval', () => {
  it('is required when the estimate exceeds the budget, with the reason', () => {
    const plan = planOf([noop('a', [], 3000), noop('b', ['a'], 3000)]);
    const under = compilePlan(plan, { capabilities: allCapabilities, approvalBudgetMs: 6000, now });
    expect(under).toMatchObject({ requiresApproval: false, approvalReasons: [] });
    const over = compilePlan(plan, { capabilities: allCapabilities, approvalBudgetMs: 5999, now });
    expect(over.requiresApproval).toBe(true);
    expect(over.approvalReasons).toEqual([
      'estimated duration 6000 ms exceeds the approval budget of 5999 ms',
    ]);
  });

  it('is required when a step asks for it or is an approval step, each listed', () => {
    const compiled = compilePlan(
      planOf([
        {
          id: 'drop',
          kind: 'sql',
          with: { target: 'warehouse', sql: 'drop table x' },
          approval: { required: true, reason: 'destructive' },
        },
        { id: 'gate', kind: 'approval', needs: ['drop'] },
        { id: 'quiet', kind: 'noop', approval: { required: false } },
      ]),
      { capabilities: allCapabilities, now },
    );
    expect(compiled.requiresApproval).toBe(true);
    expect(compiled.approvalReasons).toEqual([
      'step "drop" requires approval: destructive',
      'step "gate" is an approval step',
    ]);
  });
});

describe('capability check', () => {
  const plan = planOf([
    { id: 'q', kind: 'sql', with: { target: 'lake', sql: 'select 1' } },
    model('model.shop.t'),
    model('model.shop.v', { materialization: 'view', target: 'warehouse' }),
    model('model.shop.sim', { simulate: true, target: 'nowhere' }),
    { id: 'h', kind: 'http', with: { url: 'https://a.example' } },
  ]);
  const engine = {
    ...allCapabilities,
    kinds: ['noop', 'sql', 'dbt.model'],
    materializations: ['view'],
    targets: ['warehouse'],
  };

  it('rejects a plan the engine cannot run, naming each step and what it lacks', () => {
    const problem = thrown(() => compilePlan(plan, { capabilities: engine, now }));
    expect(problem.code).toBe('PLAN_CAPABILITY_MISSING');
    expect(problem.status).toBe(422);
    expect(problem.message).toBe(
      'the engine cannot run 3 steps of this plan: "q", "model.shop.t", "h"; see errors for what each needs',
    );
    expect(problem.extensions.errors).toEqual([
      {
        code: 'PLAN_CAPABILITY_MISSING',
        path: '$.steps[0]',
        message:
          'step "q" needs target "lake" (the engine has warehouse), which the engine does not offer',
      },
      {
        code: 'PLAN_CAPABILITY_MISSING',
        path: '$.steps[1]',
        message:
          'step "model.shop.t" needs materialization "table" (the engine builds view), which the engine does not offer',
      },
      {
        code: 'PLAN_CAPABILITY_MISSING',
        path: '$.steps[4]',
        message:
          'step "h" needs kind "http" (the engine runs dbt.model, noop, sql), which the engine does not offer',
      },
    ]);
  });

  it('lists the required capabilities of a plan the engine can run', () => {
    const compiled = compilePlan(plan, {
      capabilities: { ...allCapabilities, targets: ['lake', 'warehouse'] },
      now,
    });
    expect(compiled.requiredCapabilities).toEqual({
      kinds: ['dbt.model', 'http', 'sql'],
      materializations: ['table', 'view'],
      targets: ['lake', 'warehouse'],
    });
  });

  it('applies the engine limits to steps and concurrency', () => {
    const problem = thrown(() =>
      compilePlan(planOf([noop('a'), noop('b')], { concurrency: 16 }), {
        capabilities: {
          ...allCapabilities,
          limits: { maxSteps: 1, maxConcurrency: 8, maxPlanBytes: 10_000 },
        },
        now,
      }),
    );
    expect(problem.code).toBe('PLAN_INVALID');
    expect(problem.extensions.errors).toEqual([
      {
        code: 'PLAN_LIMIT_EXCEEDED',
        path: '$.steps',
        message: 'the plan has 2 steps; the limit is 1 — split it into smaller plans',
      },
      {
        code: 'PLAN_LIMIT_EXCEEDED',
        path: '$.concurrency',
        message: "concurrency 16 exceeds the engine's limit of 8; lower it",
      },
    ]);
  });
});

describe('execution plan', () => {
  it('resolves retry and timeout from the plan defaults and the stated defaults', () => {
    const compiled = compilePlan(
      planOf([noop('a'), { ...noop('b', ['a', 'a']), retry: { maxAttempts: 5 }, timeoutMs: 10 }], {
        defaults: { retry: { maxAttempts: 3, initialIntervalMs: 500 } },
      }),
      { capabilities: allCapabilities, now },
    );
    expect(compiled.compiledAt).toBe('2025-02-01T12:00:00.000Z');
    expect(compiled.defaults).toEqual({
      retry: {
        maxAttempts: 3,
        initialIntervalMs: 500,
        backoffCoefficient: 2,
        maxIntervalMs: 60_000,
      },
      timeoutMs: 3_600_000,
    });
    expect(compiled.steps).toEqual([
      { id: 'a', kind: 'noop', with: {}, retry: compiled.defaults.retry, timeoutMs: 3_600_000 },
      {
        id: 'b',
        kind: 'noop',
        needs: ['a'],
        with: {},
        retry: {
          maxAttempts: 5,
          initialIntervalMs: 500,
          backoffCoefficient: 2,
          maxIntervalMs: 60_000,
        },
        timeoutMs: 10,
      },
    ]);
  });

  it('throws PLAN_INVALID with every problem for an invalid plan', () => {
    const problem = thrown(() =>
      compilePlan(planOf([noop('a', ['a']), noop('a')]), { capabilities: allCapabilities }),
    );
    expect(problem.code).toBe('PLAN_INVALID');
    expect(problem.message).toBe(
      'the plan has 2 problems; first: $.steps[1].id: step id "a" is already used by $.steps[0]; step ids must be unique',
    );
    expect((problem.extensions.errors as { code: string }[]).map((e) => e.code)).toEqual([
      'PLAN_DUPLICATE_STEP_ID',
      'PLAN_CYCLE',
    ]);
  });
});
