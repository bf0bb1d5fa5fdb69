/**
 * Engine throughput, printed as figures (not a test).
 *
 *   node --conditions=source packages/engine/bench/run-throughput.ts
 *
 * 1. A 500-step noop plan (one root, 498 parallel steps, one sink) at concurrency 20, end to
 *    end (POST /internal/v1/runs → RunCompleted in the store), against a bare Temporal workflow
 *    running 500 noop activities 20 at a time on the same server in the same process.
 * 2. 50 concurrent runs of 20 noop steps (concurrency 5 each): steps per second, and the p50 /
 *    p99 step latency (StepStarted → StepCompleted, as recorded in the store, so it includes the
 *    wait for a free activity slot), against 50 bare workflows of 20 activities at once.
 *
 * Uses the shared test servers (started here if they are not running).
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import setupTestServers from '../../testkit/src/global-setup.ts';
import { testTemporalAddress } from '@dvt/testkit';
import {
  executionPlan,
  listEvents,
  startEngine,
  startRun,
  waitFor,
  waitForEnd,
} from '../test/helpers.ts';

const STEPS = 500;
const CONCURRENCY = 20;

function fanOutFanIn(n: number) {
  const middle = Array.from({ length: n - 2 }, (_, i) => ({
    id: `m${i}`,
    kind: 'noop' as const,
    needs: ['root'],
  }));
  return executionPlan(
    [
      { id: 'root', kind: 'noop' },
      ...middle,
      { id: 'sink', kind: 'noop', needs: middle.map((s) => s.id) },
    ],
    { concurrency: CONCURRENCY, planId: 'bench-fan' },
  );
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Wall time of bare workflows: `runs` at once, each `n` noop activities `concurrency` at a time. */
async function bare(runs: number, n: number, concurrency: number): Promise<number> {
  const taskQueue = `bench-bare-${randomUUID()}`;
  const connection = await NativeConnection.connect({ address: testTemporalAddress });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./bare-workflow.ts', import.meta.url)),
    activities: { noop: async () => undefined },
    maxConcurrentActivityTaskExecutions: 50,
  });
  const client = new Client({
    connection: await Connection.connect({ address: testTemporalAddress }),
  });
  const ms = await worker.runUntil(async () => {
    // warm-up run, then the measured one
    await client.workflow.execute('bareWorkflow', {
      taskQueue,
      workflowId: randomUUID(),
      args: [20, CONCURRENCY],
    });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: runs }, () =>
        client.workflow.execute('bareWorkflow', {
          taskQueue,
          workflowId: randomUUID(),
          args: [n, concurrency],
        }),
      ),
    );
    return performance.now() - started;
  });
  await client.connection.close();
  await connection.close();
  return ms;
}

await setupTestServers();
const engine = await startEngine({
  LOG_LEVEL: 'error',
  WORKER_MAX_CONCURRENT_ACTIVITIES: process.env.BENCH_ACTIVITIES ?? '50',
});
try {
  // warm-up: bundles loaded, pools open, plan cache exercised
  await waitForEnd(
    engine.pool,
    (await startRun(engine, executionPlan([{ id: 'w', kind: 'noop' }]))).runId,
  );

  const plan = fanOutFanIn(STEPS);
  const t0 = performance.now();
  const { runId } = await startRun(engine, plan);
  const events = await waitForEnd(engine.pool, runId, 600_000);
  const engineMs = performance.now() - t0;
  if (events.at(-1)?.eventType !== 'RunCompleted')
    throw new Error('the 500-step run did not complete');
  const bareMs = await bare(1, STEPS, CONCURRENCY);

  const runs = 50;
  const steps = 20;
  const small = Array.from({ length: runs }, () =>
    executionPlan(
      Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, kind: 'noop' as const })),
      { concurrency: 5, planId: 'bench-small' },
    ),
  );
  const t1 = performance.now();
  const started = await Promise.all(small.map((p) => startRun(engine, p)));
  // one cheap query for all runs, so that polling does not compete with the engine for the CPU
  await waitFor(
    async () => {
      const { rows } = await engine.pool.query<{ n: number }>(
        `select count(*)::int as n from run_events
         where run_id = any($1) and event_type in ('RunCompleted', 'RunFailed', 'RunCancelled')`,
        [started.map((s) => s.runId)],
      );
      return rows[0]!.n === runs;
    },
    600_000,
    'the 50 runs to end',
    100,
  );
  const wallMs = performance.now() - t1;
  const ended = await Promise.all(started.map((s) => listEvents(engine.pool, s.runId)));
  const latencies: number[] = [];
  for (const runEvents of ended) {
    const startedAt = new Map(
      runEvents
        .filter((e) => e.eventType === 'StepStarted')
        .map((e) => [e.stepId, Date.parse(e.emittedAt)]),
    );
    for (const e of runEvents) {
      if (e.eventType === 'StepCompleted')
        latencies.push(Date.parse(e.emittedAt) - startedAt.get(e.stepId)!);
    }
  }
  const allEvents = await listEvents(engine.pool, runId);
  const bareManyMs = await bare(runs, steps, 5);

  process.stdout.write(
    [
      `500-step fan-out/fan-in, concurrency ${CONCURRENCY}:`,
      `  engine end to end      ${engineMs.toFixed(0)} ms  (${((STEPS / engineMs) * 1000).toFixed(0)} steps/s, ${allEvents.length} events)`,
      `  bare Temporal baseline ${bareMs.toFixed(0)} ms  (${((STEPS / bareMs) * 1000).toFixed(0)} activities/s)`,
      `  ratio engine / bare    ${(engineMs / bareMs).toFixed(2)}`,
      `${runs} concurrent runs of ${steps} steps:`,
      `  wall time              ${wallMs.toFixed(0)} ms`,
      `  throughput             ${(((runs * steps) / wallMs) * 1000).toFixed(0)} steps/s`,
      `  bare Temporal baseline ${bareManyMs.toFixed(0)} ms  (${(((runs * steps) / bareManyMs) * 1000).toFixed(0)} activities/s)`,
      `  ratio engine / bare    ${(wallMs / bareManyMs).toFixed(2)}`,
      `  step latency p50 / p99 ${percentile(latencies, 50)} / ${percentile(latencies, 99)} ms`,
      '',
    ].join('\n'),
  );
} finally {
  await engine.stop();
}
process.exit(0);
