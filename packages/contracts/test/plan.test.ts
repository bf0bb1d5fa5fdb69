import { describe, expect, it } from 'vitest';
import {
  EngineCapabilities,
  ExecutionPlan,
  PlanV1,
  STEP_ID_PATTERN,
  errorCodes,
  stepKinds,
  stepSchemaByKind,
} from '../src/index.ts';

describe('plan contract', () => {
  it('has a schema for every step kind', () => {
    expect(Object.keys(stepSchemaByKind)).toEqual([...stepKinds]);
    expect(stepKinds).toEqual(['noop', 'sql', 'http', 'approval', 'dbt.model', 'dbt.test']);
  });

  it('applies defaults: concurrency 4, failurePolicy stop, GET and 200 for http', () => {
    const plan = PlanV1.parse({
      schemaVersion: 'dvt.plan/v1',
      planId: 'p',
      planVersion: '1',
      steps: [
        { id: 'h', kind: 'http', with: { url: 'https://a.example/x' } },
        { id: 'n', kind: 'noop' },
      ],
    });
    expect(plan.concurrency).toBe(4);
    expect(plan.failurePolicy).toBe('stop');
    expect(plan.steps).toEqual([
      {
        id: 'h',
        kind: 'http',
        with: { method: 'GET', url: 'https://a.example/x', expectStatus: 200 },
      },
      { id: 'n', kind: 'noop', with: {} },
    ]);
  });

  it('accepts dbt unique ids, versions and package paths as step ids', () => {
    for (const id of [
      'model.shop.orders',
      'model.shop.orders.v2',
      'test.p.x@v1',
      'seed:a/b',
      '_x',
    ]) {
      expect(STEP_ID_PATTERN.test(id), id).toBe(true);
    }
    for (const id of ['', '-x', 'a b', 'a,b', '.x'])
      expect(STEP_ID_PATTERN.test(id), id).toBe(false);
  });

  it('rejects an http step with a non-http URL', () => {
    const result = PlanV1.safeParse({
      schemaVersion: 'dvt.plan/v1',
      planId: 'p',
      planVersion: '1',
      steps: [{ id: 'h', kind: 'http', with: { url: 'file:///etc/passwd' } }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('expected an absolute http:// or https:// URL');
  });

  it('describes the execution plan and the engine capabilities', () => {
    const capabilities = EngineCapabilities.parse({
      kinds: ['noop'],
      materializations: [],
      signals: ['PAUSE'],
      targets: [],
      limits: { maxSteps: 10, maxConcurrency: 2, maxPlanBytes: 1000 },
    });
    expect(capabilities.limits.maxSteps).toBe(10);
    expect(EngineCapabilities.safeParse({ ...capabilities, limits: {} }).success).toBe(false);
    const execution = ExecutionPlan.safeParse({
      schemaVersion: 'dvt.execution-plan/v1',
      planId: 'p',
      planVersion: '1',
      compiledAt: '2025-01-01T00:00:00.000Z',
      source: { kind: 'plan' },
      concurrency: 1,
      failurePolicy: 'stop',
      defaults: { retry: { maxAttempts: 1 }, timeoutMs: 1000 },
      steps: [{ id: 'a', kind: 'noop', with: {}, retry: { maxAttempts: 1 }, timeoutMs: 1000 }],
      order: { levels: [['a']], criticalPath: ['a'] },
      decisions: { a: { action: 'RUN', reason: 'run' } },
      requiredCapabilities: { kinds: ['noop'], materializations: [], targets: [] },
      estimate: { durationMs: 0, basis: 'default', defaultStepMs: 1000, criticalPathMs: 0 },
      requiresApproval: false,
      approvalReasons: [],
    });
    expect(execution.success).toBe(true);
  });

  it('documents the planner error codes it uses', () => {
    for (const code of [
      'PLAN_INVALID',
      'PLAN_DUPLICATE_STEP_ID',
      'PLAN_UNKNOWN_NEEDS',
      'PLAN_CYCLE',
      'PLAN_UNKNOWN_KIND',
      'PLAN_BAD_PARAMETERS',
      'PLAN_BAD_FIELD',
      'PLAN_LIMIT_EXCEEDED',
      'PLAN_CAPABILITY_MISSING',
    ] as const) {
      expect(errorCodes[code].status).toBe(422);
      expect(errorCodes[code].meaning.length).toBeGreaterThan(10);
    }
  });
});
