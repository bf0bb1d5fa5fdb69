import { PutObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '@dvt/contracts';
import { createS3Client, objectKey } from '@dvt/store';
import { testInfra, testMinioEndpoint } from '@dvt/testkit';
import {
  assertLedger,
  executionPlan,
  listEvents,
  signal,
  startEngine,
  startRun,
  storePlan,
  summary,
  waitForEnd,
  waitForEvent,
  type TestEngine,
} from './helpers.ts';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.stop();
});

const of = (events: RunEvent[], type: string, stepId?: string) =>
  events.filter((e) => e.eventType === type && (stepId === undefined || e.stepId === stepId));

describe('internal routes', () => {
  it('lists capabilities behind the internal token', async () => {
    const denied = await engine.service.app.inject({ url: '/internal/v1/capabilities' });
    expect(denied.statusCode).toBe(401);
    expect(denied.json().code).toBe('UNAUTHENTICATED');
    const res = await engine.inject({ url: '/internal/v1/capabilities' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      kinds: ['noop', 'sql', 'http', 'approval', 'dbt.model', 'dbt.test'],
      materializations: ['view', 'table'],
      signals: ['PAUSE', 'RESUME', 'CANCEL', 'RETRY_STEP', 'SKIP_STEP', 'APPROVE', 'RETRY_RUN'],
      targets: ['warehouse'],
      limits: { maxSteps: 10_000, maxConcurrency: 256, maxPlanBytes: 16 * 1024 * 1024 },
    });
  });

  it('rejects a run request without a valid planRef, naming the field', async () => {
    const res = await engine.inject({
      method: 'POST',
      url: '/internal/v1/runs',
      payload: {
        planRef: { uri: 'x' },
        context: { tenantId: 't', projectId: 'p', environment: 'dev', runId: 'r' },
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    expect(res.json().detail).toContain('planRef.sha256');
  });

  it('refuses an uncompiled plan reference and says to compile it', async () => {
    const plan = executionPlan([{ id: 'a', kind: 'noop' }]);
    const planRef = {
      ...(await storePlan(engine, 'tenant-a', plan)),
      schemaVersion: 'dvt.plan/v1',
    };
    const res = await engine.inject({
      method: 'POST',
      url: '/internal/v1/runs',
      payload: {
        planRef,
        context: { tenantId: 'tenant-a', projectId: 'p', environment: 'dev', runId: randomUUID() },
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toContain('compile the plan with the planner first');
  });

  it('answers 404 RUN_NOT_FOUND for an unknown run and its signals', async () => {
    const get = await engine.inject({ url: '/internal/v1/runs/nope' });
    expect(get.statusCode).toBe(404);
    expect(get.json().code).toBe('RUN_NOT_FOUND');
    const sig = await signal(engine, 'nope', { signalId: 's1', type: 'PAUSE' });
    expect(sig.status).toBe(404);
    expect(sig.body.code).toBe('RUN_NOT_FOUND');
  });

  it('starts a run once when asked twice, recording RunQueued once', async () => {
    const plan = executionPlan([{ id: 'a', kind: 'noop', with: { delayMs: 100 } }]);
    const first = await startRun(engine, plan);
    const again = await engine.inject({
      method: 'POST',
      url: '/internal/v1/runs',
      payload: {
        planRef: first.planRef,
        context: {
          tenantId: first.tenantId,
          projectId: 'proj-1',
          environment: 'dev',
          runId: first.runId,
        },
      },
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ runId: first.runId, created: false });
    const events = await waitForEnd(engine.pool, first.runId);
    expect(of(events, 'RunQueued')).toHaveLength(1);
    expect(of(events, 'RunStarted')).toHaveLength(1);
    expect(of(events, 'StepStarted')).toHaveLength(1);
    // after the end, a third start still starts nothing
    const late = await engine.inject({
      method: 'POST',
      url: '/internal/v1/runs',
      payload: {
        planRef: first.planRef,
        context: {
          tenantId: first.tenantId,
          projectId: 'proj-1',
          environment: 'dev',
          runId: first.runId,
        },
      },
    });
    expect(late.json()).toMatchObject({ created: false, status: 'COMPLETED' });
  });
});

describe('the run workflow', () => {
  it('runs a diamond in dependency order with its events in runSeq order', async () => {
    const plan = executionPlan([
      { id: 'a', kind: 'noop', with: { delayMs: 20 } },
      { id: 'b', kind: 'noop', needs: ['a'], with: { delayMs: 50 } },
      { id: 'c', kind: 'noop', needs: ['a'], with: { delayMs: 10 } },
      { id: 'd', kind: 'noop', needs: ['b', 'c'] },
    ]);
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    assertLedger(events);
    const s = summary(events);
    expect(s.slice(0, 6)).toEqual([
      'RunQueued',
      'RunStarted',
      'StepStarted(a)',
      'StepCompleted(a)',
      'StepStarted(b)',
      'StepStarted(c)',
    ]);
    expect(new Set(s.slice(6, 8))).toEqual(new Set(['StepCompleted(b)', 'StepCompleted(c)']));
    expect(s.slice(8)).toEqual(['StepStarted(d)', 'StepCompleted(d)', 'RunCompleted']);
    expect(events[1]!.payload).toEqual({ stepIds: ['a', 'b', 'c', 'd'] });

    const res = await engine.inject({ url: `/internal/v1/runs/${runId}` });
    expect(res.statusCode).toBe(200);
    const run = res.json();
    expect(run.status).toBe('COMPLETED');
    expect(run.stepCounts).toMatchObject({ total: 4, completed: 4, pending: 0, running: 0 });
    expect(
      run.steps.map((st: { stepId: string; status: string; attempts: number }) => [
        st.stepId,
        st.status,
        st.attempts,
      ]),
    ).toEqual([
      ['a', 'COMPLETED', 1],
      ['b', 'COMPLETED', 1],
      ['c', 'COMPLETED', 1],
      ['d', 'COMPLETED', 1],
    ]);
    const diagnostics = (
      await engine.inject({ url: `/internal/v1/runs/${runId}?diagnostics=true` })
    ).json().diagnostics;
    expect(diagnostics).toMatchObject({
      runId,
      phase: 'finishing',
      paused: false,
      segment: 0,
      steps: { completed: 4 },
    });
  });

  it('never runs more steps at once than the plan allows', async () => {
    const steps = Array.from({ length: 9 }, (_, i) => ({
      id: `s${i}`,
      kind: 'noop' as const,
      with: { delayMs: 250 },
    }));
    const { runId } = await startRun(engine, executionPlan(steps, { concurrency: 3 }));
    const events = await waitForEnd(engine.pool, runId);
    const intervals = of(events, 'StepCompleted').map((e) => ({
      start: Date.parse(String(e.payload.startedAt)),
      end: Date.parse(e.emittedAt),
    }));
    expect(intervals).toHaveLength(9);
    let peak = 0;
    for (const { start } of intervals) {
      const overlapping = intervals.filter((o) => o.start <= start && o.end > start).length;
      peak = Math.max(peak, overlapping);
    }
    expect(peak).toBe(3);
  });

  it('retries a failing step, then fails the run and skips its dependents', async () => {
    const plan = executionPlan([
      {
        id: 'a',
        kind: 'noop',
        with: { failTimes: 5 },
        retry: { maxAttempts: 3, initialIntervalMs: 50 },
      },
      { id: 'b', kind: 'noop', needs: ['a'] },
      { id: 'c', kind: 'noop', needs: ['b'] },
    ]);
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    assertLedger(events);
    expect(summary(events)).toEqual([
      'RunQueued',
      'RunStarted',
      'StepStarted(a)',
      'StepFailed(a)',
      'StepStarted(a)',
      'StepFailed(a)',
      'StepStarted(a)',
      'StepFailed(a)',
      'StepSkipped(b)',
      'StepSkipped(c)',
      'RunFailed',
    ]);
    expect(of(events, 'StepFailed').map((e) => [e.attempt, e.payload.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(of(events, 'StepSkipped').map((e) => e.payload.reason)).toEqual([
      'upstream_failed',
      'upstream_failed',
    ]);
    expect(events.at(-1)!.payload.error).toMatchObject({
      code: 'NOOP_PLANNED_FAILURE',
      stepId: 'a',
    });
    const run = (await engine.inject({ url: `/internal/v1/runs/${runId}` })).json();
    expect(run.status).toBe('FAILED');
    expect(run.stepCounts).toMatchObject({ failed: 1, skipped: 2 });
  });

  it('succeeds on a later attempt within the retry policy', async () => {
    const plan = executionPlan([
      {
        id: 'a',
        kind: 'noop',
        with: { failTimes: 2 },
        retry: { maxAttempts: 3, initialIntervalMs: 20 },
      },
    ]);
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    expect(of(events, 'StepCompleted', 'a').map((e) => e.attempt)).toEqual([3]);
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
  });

  it('under failure policy continue, runs the independent branch and still fails the run', async () => {
    const plan = executionPlan(
      [
        { id: 'a', kind: 'noop', with: { failTimes: 1 } },
        { id: 'b', kind: 'noop', needs: ['a'] },
        { id: 'x', kind: 'noop', with: { delayMs: 100 } },
        { id: 'y', kind: 'noop', needs: ['x'] },
      ],
      { failurePolicy: 'continue' },
    );
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    expect(of(events, 'StepSkipped').map((e) => [e.stepId, e.payload.reason])).toEqual([
      ['b', 'upstream_failed'],
    ]);
    expect(
      of(events, 'StepCompleted')
        .map((e) => e.stepId)
        .sort(),
    ).toEqual(['x', 'y']);
    expect(events.at(-1)!.eventType).toBe('RunFailed');
  });

  it('under failure policy stop, skips the pending independent steps too', async () => {
    const plan = executionPlan(
      [
        { id: 'a', kind: 'noop', with: { failTimes: 1 } },
        { id: 'b', kind: 'noop', needs: ['a'] },
        { id: 'x', kind: 'noop', with: { delayMs: 300 } },
        { id: 'y', kind: 'noop', needs: ['x'] },
      ],
      { failurePolicy: 'stop' },
    );
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    expect(of(events, 'StepSkipped').map((e) => [e.stepId, e.payload.reason])).toEqual([
      ['b', 'upstream_failed'],
      ['y', 'run_stopped'],
    ]);
    // x was already running: it finishes before the run ends
    expect(of(events, 'StepCompleted').map((e) => e.stepId)).toEqual(['x']);
    expect(events.at(-1)!.eventType).toBe('RunFailed');
  });

  it('records the plan’s SKIP decisions and runs the dependents', async () => {
    const plan = executionPlan(
      [
        { id: 'a', kind: 'noop' },
        { id: 'eph', kind: 'noop', needs: ['a'] },
        { id: 'c', kind: 'noop', needs: ['eph'] },
      ],
      { decisions: { eph: { action: 'SKIP', reason: 'ephemeral: compiled into dependents' } } },
    );
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    expect(summary(events)).toEqual([
      'RunQueued',
      'RunStarted',
      'StepSkipped(eph)',
      'StepStarted(a)',
      'StepCompleted(a)',
      'StepStarted(c)',
      'StepCompleted(c)',
      'RunCompleted',
    ]);
    expect(of(events, 'StepSkipped')[0]!.payload).toEqual({
      reason: 'ephemeral: compiled into dependents',
      decision: true,
    });
  });

  it('fails an http step to loopback when no allowlist names it, without retrying', async () => {
    const plan = executionPlan([
      {
        id: 'call',
        kind: 'http',
        with: { method: 'GET', url: 'http://127.0.0.1:9/x', expectStatus: 200 },
        retry: { maxAttempts: 3, initialIntervalMs: 10 },
      },
    ]);
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    const failed = of(events, 'StepFailed', 'call');
    expect(failed.map((e) => [e.attempt, e.payload.willRetry])).toEqual([[1, false]]);
    expect(failed[0]!.payload.error).toMatchObject({ code: 'HTTP_DESTINATION_FORBIDDEN' });
  });

  it('never starts a step of a tampered plan', async () => {
    const plan = executionPlan([{ id: 'a', kind: 'noop' }]);
    const planRef = await storePlan(engine, 'tenant-a', plan);
    const s3 = createS3Client({
      endpoint: testMinioEndpoint,
      region: 'us-east-1',
      accessKeyId: testInfra.minioAccessKey,
      secretAccessKey: testInfra.minioSecretKey,
    });
    const tampered = JSON.stringify({ ...plan, steps: [{ ...plan.steps[0], id: 'b' }] })
      .padEnd(planRef.sizeBytes, ' ')
      .slice(0, planRef.sizeBytes);
    await s3.send(
      new PutObjectCommand({
        Bucket: engine.bucket,
        Key: objectKey('tenant-a', planRef.sha256),
        Body: tampered,
      }),
    );
    s3.destroy();
    const { runId } = await startRun(engine, plan, { planRef });
    const events = await waitForEnd(engine.pool, runId);
    expect(summary(events)).toEqual(['RunQueued', 'RunStarted', 'RunFailed']);
    expect((events.at(-1)!.payload.error as { code: string }).code).toBe(
      'PLAN_INTEGRITY_VALIDATION_FAILED',
    );
  });
});

describe('approvals and step signals', () => {
  it('waits at an approval step until APPROVE, then goes on', async () => {
    const plan = executionPlan([
      { id: 'gate', kind: 'approval', with: { timeoutMs: 60_000, message: 'ok?' } },
      { id: 'after', kind: 'noop', needs: ['gate'] },
    ]);
    const { runId } = await startRun(engine, plan);
    await waitForEvent(engine.pool, runId, (e) => e.eventType === 'ApprovalRequested');
    const run = (await engine.inject({ url: `/internal/v1/runs/${runId}` })).json();
    expect([run.status, run.substatus]).toEqual(['RUNNING', 'WAITING_APPROVAL']);
    const early = await signal(engine, runId, {
      signalId: 'ap-x',
      type: 'APPROVE',
      stepId: 'after',
    });
    expect([early.status, early.body.code]).toEqual([409, 'SIGNAL_NOT_ALLOWED']);
    const ok = await signal(engine, runId, { signalId: 'ap-1', type: 'APPROVE', stepId: 'gate' });
    expect(ok).toEqual({
      status: 202,
      body: { signalId: 'ap-1', type: 'APPROVE', runId, stepId: 'gate', accepted: true },
    });
    const events = await waitForEnd(engine.pool, runId);
    expect(summary(events)).toEqual([
      'RunQueued',
      'RunStarted',
      'StepStarted(gate)',
      'ApprovalRequested(gate)',
      'ApprovalGranted(gate)',
      'StepCompleted(gate)',
      'StepStarted(after)',
      'StepCompleted(after)',
      'RunCompleted',
    ]);
  });

  it('fails an approval step that nobody approves in time', async () => {
    const plan = executionPlan([
      { id: 'gate', kind: 'approval', with: { timeoutMs: 300 } },
      { id: 'after', kind: 'noop', needs: ['gate'] },
    ]);
    const { runId } = await startRun(engine, plan);
    const events = await waitForEnd(engine.pool, runId);
    expect(summary(events).slice(-3)).toEqual([
      'StepFailed(gate)',
      'StepSkipped(after)',
      'RunFailed',
    ]);
    expect(of(events, 'StepFailed')[0]!.payload.error).toMatchObject({ code: 'APPROVAL_TIMEOUT' });
  });

  it('holds a plan that requires approval until the run is approved', async () => {
    const plan = executionPlan([{ id: 'a', kind: 'noop' }], { requiresApproval: true });
    const { runId } = await startRun(engine, plan);
    const requested = await waitForEvent(
      engine.pool,
      runId,
      (e) => e.eventType === 'ApprovalRequested',
    );
    expect(requested.stepId).toBeNull();
    expect(requested.payload).toEqual({ reasons: ['test approval'] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(of(await listEvents(engine.pool, runId), 'StepStarted')).toHaveLength(0);
    const ok = await signal(engine, runId, { signalId: 'run-ok', type: 'APPROVE' });
    expect(ok.status).toBe(202);
    const events = await waitForEnd(engine.pool, runId);
    expect(summary(events)).toEqual([
      'RunQueued',
      'RunStarted',
      'ApprovalRequested',
      'ApprovalGranted',
      'StepStarted(a)',
      'StepCompleted(a)',
      'RunCompleted',
    ]);
  });

  it('retries a failed step on RETRY_STEP and skips a pending one on SKIP_STEP', async () => {
    const plan = executionPlan(
      [
        { id: 'a', kind: 'noop', with: { failTimes: 1 } },
        { id: 'b', kind: 'noop', needs: ['a'] },
        { id: 'x', kind: 'noop', with: { delayMs: 2_500 } },
        { id: 'y', kind: 'noop', needs: ['x'] },
      ],
      { failurePolicy: 'continue' },
    );
    const { runId } = await startRun(engine, plan);
    await waitForEvent(
      engine.pool,
      runId,
      (e) => e.eventType === 'StepSkipped' && e.stepId === 'b',
    );
    const running = await signal(engine, runId, {
      signalId: 'rs-x',
      type: 'RETRY_STEP',
      stepId: 'x',
    });
    expect([running.status, running.body.code]).toEqual([409, 'STEP_NOT_TERMINAL']);
    const unknown = await signal(engine, runId, {
      signalId: 'rs-z',
      type: 'RETRY_STEP',
      stepId: 'zzz',
    });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'STEP_NOT_FOUND']);
    const skipDone = await signal(engine, runId, {
      signalId: 'sk-b',
      type: 'SKIP_STEP',
      stepId: 'b',
    });
    expect([skipDone.status, skipDone.body.code]).toEqual([409, 'STEP_TERMINAL']);
    const skipY = await signal(engine, runId, { signalId: 'sk-y', type: 'SKIP_STEP', stepId: 'y' });
    expect(skipY.status).toBe(202);
    const retry = await signal(engine, runId, {
      signalId: 'rs-a',
      type: 'RETRY_STEP',
      stepId: 'a',
    });
    expect(retry.status).toBe(202);
    const events = await waitForEnd(engine.pool, runId);
    assertLedger(events);
    expect(
      of(events, 'StepCompleted')
        .map((e) => `${e.stepId}#${e.attempt}`)
        .sort(),
    ).toEqual(['a#2', 'b#1', 'x#1']);
    expect(of(events, 'StepSkipped', 'y')[0]!.payload).toMatchObject({
      reason: 'skipped by signal',
      signalId: 'sk-y',
    });
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
  });

  it('starts a linked run on RETRY_RUN, once per signalId', async () => {
    const plan = executionPlan([{ id: 'a', kind: 'noop', with: { failTimes: 1 } }]);
    const { runId } = await startRun(engine, plan);
    await waitForEnd(engine.pool, runId);
    const first = await signal(engine, runId, { signalId: 'rr-1', type: 'RETRY_RUN' });
    expect(first.status).toBe(202);
    const newRunId = first.body.newRunId as string;
    expect(newRunId).toMatch(/^[0-9a-f-]{36}$/);
    const again = await signal(engine, runId, { signalId: 'rr-1', type: 'RETRY_RUN' });
    expect(again).toEqual(first);
    const events = await waitForEnd(engine.pool, newRunId);
    expect(events[0]!.payload).toMatchObject({ originalRunId: runId });
    const linked = (await engine.inject({ url: `/internal/v1/runs/${newRunId}` })).json();
    expect(linked.originalRunId).toBe(runId);
    const other = await signal(engine, runId, { signalId: 'rr-1', type: 'CANCEL' });
    expect([other.status, other.body.code]).toEqual([409, 'CONFLICT']);
  });
});
