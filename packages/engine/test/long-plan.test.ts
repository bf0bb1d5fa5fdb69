import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertLedger,
  executionPlan,
  signal,
  startEngine,
  startRun,
  waitForEnd,
  waitForEvent,
  type TestEngine,
} from './helpers.ts';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

const workflowsPath = fileURLToPath(new URL('../src/workflows/index.ts', import.meta.url));
const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));

let engine: TestEngine;
beforeAll(async () => {
  engine = await startEngine({ ENGINE_CONTINUE_AS_NEW_STEPS: '500' });
});
afterAll(async () => {
  await engine?.stop();
});

async function chainOf(runId: string): Promise<{ runId: string; history: History }[]> {
  const client = engine.service.temporal.client!;
  const runs: { runId: string; history: History }[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${runId}'` })) {
    const history = await client.workflow.getHandle(runId, execution.runId).fetchHistory();
    runs.push({ runId: execution.runId, history });
  }
  return runs;
}

describe('long plans', () => {
  it('runs 2,000 steps through several continue-as-new segments, each step exactly once', async () => {
    // 40 levels of 50 steps; each step needs one step of the level before
    const steps = [];
    for (let level = 0; level < 40; level++) {
      for (let i = 0; i < 50; i++) {
        const id = `l${level}-s${i}`;
        steps.push({
          id,
          kind: 'noop' as const,
          ...(level > 0 ? { needs: [`l${level - 1}-s${(i * 7) % 50}`] } : {}),
        });
      }
    }
    const { runId } = await startRun(engine, executionPlan(steps, { concurrency: 50 }));
    const events = await waitForEnd(engine.pool, runId, 240_000);
    assertLedger(events);
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
    const completed = events.filter((e) => e.eventType === 'StepCompleted').map((e) => e.stepId);
    expect(completed).toHaveLength(2_000);
    expect(new Set(completed).size).toBe(2_000);
    expect(events.filter((e) => e.eventType === 'StepStarted')).toHaveLength(2_000);
    const chain = await chainOf(runId);
    expect(chain.length).toBeGreaterThanOrEqual(4);
    // the recorded segments replay deterministically
    await Worker.runReplayHistories(
      { workflowsPath, replayName: 'long-plan' },
      chain.map(({ runId: id, history }) => ({ workflowId: runId, history, runId: id }) as never),
    );
  }, 300_000);
});

describe('replay', () => {
  it('replays histories recorded from runs with signals, retries, skips and approvals', async () => {
    const plan = executionPlan(
      [
        {
          id: 'a',
          kind: 'noop',
          with: { failTimes: 1 },
          retry: { maxAttempts: 2, initialIntervalMs: 10 },
        },
        { id: 'b', kind: 'noop', needs: ['a'], with: { delayMs: 300 } },
        { id: 'c', kind: 'noop', needs: ['a'] },
        { id: 'gate', kind: 'approval', needs: ['b', 'c'], with: { timeoutMs: 60_000 } },
        { id: 'skipme', kind: 'noop', needs: ['gate'] },
        { id: 'd', kind: 'noop', needs: ['gate'] },
      ],
      { decisions: { c: { action: 'SKIP', reason: 'not selected' } } },
    );
    const { runId } = await startRun(engine, plan);
    await waitForEvent(
      engine.pool,
      runId,
      (e) => e.eventType === 'StepStarted' && e.stepId === 'b',
    );
    expect((await signal(engine, runId, { signalId: 'p', type: 'PAUSE' })).status).toBe(202);
    expect((await signal(engine, runId, { signalId: 'r', type: 'RESUME' })).status).toBe(202);
    await waitForEvent(engine.pool, runId, (e) => e.eventType === 'ApprovalRequested');
    expect(
      (await signal(engine, runId, { signalId: 'sk', type: 'SKIP_STEP', stepId: 'skipme' })).status,
    ).toBe(202);
    expect(
      (await signal(engine, runId, { signalId: 'ap', type: 'APPROVE', stepId: 'gate' })).status,
    ).toBe(202);
    const events = await waitForEnd(engine.pool, runId);
    expect(events.at(-1)!.eventType).toBe('RunCompleted');
    const chain = await chainOf(runId);
    expect(chain).toHaveLength(1);
    await Worker.runReplayHistory(
      { workflowsPath, replayName: 'signals' },
      chain[0]!.history,
      runId,
    );
    const file = `${historiesDir}signals-retry-approval.json`;
    if (process.env.ENGINE_RECORD_HISTORIES === '1' || !existsSync(file)) {
      writeFileSync(
        file,
        JSON.stringify({
          workflowId: runId,
          history: JSON.parse(historyToJSON(chain[0]!.history)),
        }) + '\n',
      );
    }
  });

  it('replays every committed history under test/histories with the current workflow code', async () => {
    const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(1);
    for (const file of files) {
      const { workflowId, history } = JSON.parse(
        readFileSync(`${historiesDir}${file}`, 'utf8'),
      ) as {
        workflowId: string;
        history: unknown;
      };
      await Worker.runReplayHistory(
        { workflowsPath, replayName: file },
        historyFromJSON(history),
        workflowId,
      );
    }
  });
});
