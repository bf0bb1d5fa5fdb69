import { describe, expect, it } from 'vitest';
import { RunMachine, retryDelay } from '../src/workflows/machine.ts';
import type { PlanSkeleton, SkeletonStep } from '../src/workflows/types.ts';

function skeleton(
  steps: Partial<SkeletonStep>[],
  options: Partial<PlanSkeleton> = {},
): PlanSkeleton {
  return {
    planId: 'p',
    planVersion: '1',
    concurrency: 2,
    failurePolicy: 'stop',
    requiresApproval: false,
    approvalReasons: [],
    hasDbt: false,
    ...options,
    steps: steps.map((s, i) => ({
      id: `s${i}`,
      kind: 'noop',
      needs: [],
      retry: { maxAttempts: 1 },
      timeoutMs: 1000,
      ...s,
    })),
  };
}

const started = (m: RunMachine, running = 0) => m.startReady(running, 0).starts.map((s) => s.index);

describe('RunMachine', () => {
  it('starts ready steps in plan order up to the concurrency', () => {
    const m = new RunMachine('r');
    m.load(skeleton([{}, {}, {}, { needs: [0] }]));
    expect(started(m)).toEqual([0, 1]);
    expect(started(m, 2)).toEqual([]);
    m.stepEnded(0, { ok: true, retryable: false }, 0);
    expect(started(m, 1)).toEqual([2]);
  });

  it('lets a skipped step pass through only once its own needs are done', () => {
    const m = new RunMachine('r');
    m.load(skeleton([{}, { needs: [0], skip: 'ephemeral' }, { needs: [1] }]));
    expect(started(m)).toEqual([0]);
    m.stepEnded(0, { ok: true, retryable: false }, 0);
    expect(started(m)).toEqual([2]);
  });

  it('under stop, skips dependents as upstream_failed and the rest as run_stopped', () => {
    const m = new RunMachine('r');
    m.load(skeleton([{}, { needs: [0] }, { needs: [1] }, {}, { needs: [3] }], { concurrency: 1 }));
    started(m);
    const events = m.stepEnded(
      0,
      { ok: false, retryable: false, error: { code: 'X', message: 'boom' } },
      0,
    );
    expect(events.map((e) => [e.stepId, e.payload?.reason])).toEqual([
      ['s1', 'upstream_failed'],
      ['s2', 'upstream_failed'],
      ['s3', 'run_stopped'],
      ['s4', 'run_stopped'],
    ]);
    expect(m.isDone()).toBe(true);
    expect(m.outcome()).toBe('FAILED');
    expect(m.firstError).toEqual({ code: 'X', message: 'boom', stepId: 's0' });
  });

  it('waits out the retry delay before the next attempt', () => {
    const m = new RunMachine('r');
    m.load(
      skeleton([{ retry: { maxAttempts: 3, initialIntervalMs: 100, backoffCoefficient: 2 } }]),
    );
    expect(m.startReady(0, 0).starts).toEqual([{ index: 0, attempt: 1 }]);
    m.stepEnded(0, { ok: false, retryable: true }, 1_000);
    expect(m.nextWake()).toBe(1_100);
    expect(m.startReady(0, 1_050).starts).toEqual([]);
    expect(m.startReady(0, 1_100).starts).toEqual([{ index: 0, attempt: 2 }]);
    expect(
      retryDelay(
        { maxAttempts: 5, initialIntervalMs: 100, backoffCoefficient: 2, maxIntervalMs: 250 },
        3,
      ),
    ).toBe(250);
  });

  it('applies the signal rules of DESIGN §5', () => {
    const m = new RunMachine('r');
    m.load(skeleton([{}, { needs: [0] }]));
    started(m);
    expect(m.check({ signalId: 'a', type: 'RETRY_STEP', stepId: 's0' })?.code).toBe(
      'STEP_NOT_TERMINAL',
    );
    expect(m.check({ signalId: 'a', type: 'SKIP_STEP', stepId: 's0' })?.code).toBe(
      'SIGNAL_NOT_ALLOWED',
    );
    expect(m.check({ signalId: 'a', type: 'SKIP_STEP', stepId: 's1' })).toBeUndefined();
    expect(m.check({ signalId: 'a', type: 'RESUME' })?.code).toBe('SIGNAL_NOT_ALLOWED');
    expect(m.check({ signalId: 'a', type: 'APPROVE' })?.code).toBe('SIGNAL_NOT_ALLOWED');
    expect(m.check({ signalId: 'a', type: 'SKIP_STEP', stepId: 'zz' })?.code).toBe(
      'STEP_NOT_FOUND',
    );
    m.stepEnded(0, { ok: true, retryable: false }, 0);
    expect(m.check({ signalId: 'a', type: 'SKIP_STEP', stepId: 's0' })?.code).toBe('STEP_TERMINAL');
    m.apply({ signalId: 'c', type: 'CANCEL' }, 0);
    expect(m.check({ signalId: 'd', type: 'PAUSE' })?.code).toBe('RUN_TERMINAL');
    expect(m.answerFor('c')).toEqual({ signalId: 'c', type: 'CANCEL', runId: 'r', accepted: true });
  });

  it('carries its whole state through continue-as-new', () => {
    const m = new RunMachine('r', undefined, () => '2026-01-01T00:00:00.000Z');
    const plan = skeleton([{}, { needs: [0] }, { kind: 'approval', approvalTimeoutMs: 500 }]);
    m.load(plan);
    m.startReady(0, 10);
    m.stepEnded(0, { ok: true, retryable: false }, 20);
    m.apply({ signalId: 'p-1', type: 'PAUSE' }, 30);
    const carried = m.carry(40);
    const next = new RunMachine('r', carried);
    next.load(plan);
    expect(next.segment).toBe(1);
    expect(next.paused).toBe(true);
    expect(next.answerFor('p-1')).toEqual({
      signalId: 'p-1',
      type: 'PAUSE',
      runId: 'r',
      accepted: true,
    });
    expect(next.carry(50)).toEqual({ ...carried, segment: 1 });
    expect(carried.codes).toBe('CPW');
    expect(carried.approvalDeadlines).toEqual({ '2': 510 });
  });
});
