import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTemporalAddress } from '@dvt/testkit';
import {
  assertLedger,
  executionPlan,
  listEvents,
  signal,
  startEngine,
  startRun,
  summary,
  waitFor,
  waitForEvent,
  type TestEngine,
} from './helpers.ts';

let engine: TestEngine;
let connection: NativeConnection | undefined;
let broken: { worker: Worker; running: Promise<void> } | undefined;
beforeAll(async () => {
  engine = await startEngine({ ENGINE_STICKY_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  if (broken) {
    broken.worker.shutdown();
    await broken.running.catch(() => undefined);
  }
  await connection?.close();
  await engine?.stop();
});

describe('a run whose workflow task keeps failing (nondeterminism after a deploy)', () => {
  it('shows the failing task in diagnostics, and CANCEL terminates it and ends the run CANCELLED', async () => {
    const plan = executionPlan(
      [
        { id: 'long', kind: 'noop', with: { delayMs: 120_000 } },
        { id: 'after', kind: 'noop', needs: ['long'] },
      ],
      { concurrency: 1 },
    );
    const { runId } = await startRun(engine, plan);
    await waitForEvent(engine.pool, runId, (e) => e.eventType === 'StepStarted');
    await engine.service.worker.stop();

    // The same task queue now served by incompatible workflow code.
    connection = await NativeConnection.connect({ address: testTemporalAddress });
    const worker = await Worker.create({
      connection,
      namespace: 'default',
      taskQueue: engine.taskQueue,
      workflowsPath: fileURLToPath(
        new URL('./fixtures/incompatible-workflows.ts', import.meta.url),
      ),
      activities: { somethingElse: async () => 'other' },
    });
    broken = { worker, running: worker.run() };
    const client = engine.service.temporal.client!;
    // Anything that gives the workflow a new task makes the new code replay the history.
    await client.workflow.getHandle(runId).signal('nudge');

    let diagnostics: Record<string, unknown> | undefined;
    await waitFor(
      async () => {
        const res = await engine.inject({ url: `/internal/v1/runs/${runId}` });
        diagnostics = res.json().diagnostics;
        const task = diagnostics?.workflowTask as { attempt?: number } | undefined;
        return (task?.attempt ?? 0) > 1;
      },
      60_000,
      'the workflow task to fail repeatedly',
      250,
    );
    const task = diagnostics!.workflowTask as {
      failing: boolean;
      attempt: number;
      lastFailure: { message: string; cause: string };
    };
    expect(task.failing).toBe(true);
    expect(task.lastFailure.cause).toBe('NON_DETERMINISTIC_ERROR');
    expect(task.lastFailure.message).toContain('TMPRL1100');
    expect((await engine.inject({ url: `/internal/v1/runs/${runId}` })).json().status).toBe(
      'RUNNING',
    );

    const cancel = await signal(engine, runId, {
      signalId: 'c-stuck',
      type: 'CANCEL',
      reason: 'broken deploy',
    });
    expect(cancel).toEqual({
      status: 202,
      body: { signalId: 'c-stuck', type: 'CANCEL', runId, accepted: true },
    });
    const run = (await engine.inject({ url: `/internal/v1/runs/${runId}` })).json();
    expect(run.status).toBe('CANCELLED');
    expect(run.diagnostics).toBeUndefined();
    expect(
      Object.fromEntries(
        (run.steps as { stepId: string; status: string }[]).map((s) => [s.stepId, s.status]),
      ),
    ).toEqual({ long: 'FAILED', after: 'SKIPPED' });

    const events = await listEvents(engine.pool, runId);
    assertLedger(events);
    expect(summary(events)).toEqual([
      'RunQueued',
      'RunStarted',
      'StepStarted(long)',
      'StepFailed(long)',
      'StepSkipped(after)',
      'RunCancelled',
    ]);
    const cancelled = events.filter((e) => e.eventType === 'RunCancelled');
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]!.logicalAttemptId).toBe('c-stuck');
    expect(cancelled[0]!.payload).toEqual({
      signalId: 'c-stuck',
      terminated: true,
      reason:
        'CANCEL c-stuck: its workflow task is failing; terminated by the engine (broken deploy)',
      requestedReason: 'broken deploy',
    });
    expect(events.find((e) => e.eventType === 'StepFailed')!.payload).toEqual({
      error: { code: 'CANCELLED', message: 'the run was terminated while the step ran' },
      willRetry: false,
    });
    const described = await client.workflow.getHandle(runId).describe();
    expect(described.status.name).toBe('TERMINATED');

    // The same signalId again: the same answer, nothing recorded.
    expect(
      await signal(engine, runId, { signalId: 'c-stuck', type: 'CANCEL', reason: 'broken deploy' }),
    ).toEqual(cancel);
    const other = await signal(engine, runId, { signalId: 'c-other', type: 'CANCEL' });
    expect([other.status, other.body.code]).toEqual([409, 'RUN_TERMINAL']);
    expect((await listEvents(engine.pool, runId)).length).toBe(events.length);
  }, 120_000);
});
