/**
 * Test harness: an engine service on the shared test servers (its own database, warehouse
 * database, bucket and task queue), plans stored in the artifact store, and event polling.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pg from 'pg';
import {
  EXECUTION_PLAN_SCHEMA_VERSION,
  type ExecutionPlan,
  type PlanRef,
  type RunEvent,
  type StepInput,
} from '@dvt/contracts';
import { freePort } from '@dvt/devstack';
import { createLogger } from '@dvt/service-kit';
import { createArtifactStore, createRunStateStore, type ArtifactStore } from '@dvt/store';
import {
  createTestDatabase,
  testInfra,
  testMinioEndpoint,
  testTemporalAddress,
  type TestDatabase,
} from '@dvt/testkit';
import { createEngineService, loadEngineConfig, type EngineConfig } from '../src/index.ts';
import type { EngineService } from '../src/app.ts';

// Keep the SDK's own INFO lines (worker state changes, bundle sizes) out of test output.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this process
}

export const TOKEN = 'test-internal-token-0123456789';

export interface TestEngine {
  service: EngineService;
  config: EngineConfig;
  env: Record<string, string>;
  db: TestDatabase;
  warehouse: TestDatabase;
  pool: pg.Pool;
  warehousePool: pg.Pool;
  artifacts: ArtifactStore;
  taskQueue: string;
  bucket: string;
  inject(options: InjectOptions): Promise<LightMyRequestResponse>;
  stop(): Promise<void>;
}

export function baseEnv(
  db: TestDatabase,
  warehouse: TestDatabase,
  extra: Record<string, string> = {},
) {
  const suffix = randomBytes(4).toString('hex');
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.ENGINE_TEST_LOG ?? 'warn',
    DATABASE_URL: db.url,
    INTERNAL_API_TOKEN: TOKEN,
    TEMPORAL_ADDRESS: testTemporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: `engine-test-${suffix}`,
    ARTIFACT_S3_ENDPOINT: testMinioEndpoint,
    ARTIFACT_S3_ACCESS_KEY: testInfra.minioAccessKey,
    ARTIFACT_S3_SECRET_KEY: testInfra.minioSecretKey,
    ARTIFACT_S3_BUCKET: `engine-test-${suffix}`,
    WAREHOUSE_DATABASE_URL: warehouse.url,
    SHUTDOWN_GRACE_MS: '2000',
    ...extra,
  };
}

/** Starts an engine and waits until /healthz is 200. */
export async function startEngine(extra: Record<string, string> = {}): Promise<TestEngine> {
  const db = await createTestDatabase('engine');
  const warehouse = await createTestDatabase('wh');
  const port = await freePort();
  const env = baseEnv(db, warehouse, { PORT: String(port), ...extra });
  const config = loadEngineConfig(env);
  const log = createLogger({ service: 'engine-test', level: config.LOG_LEVEL });
  const service = createEngineService(config, log);
  await service.start();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const warehousePool = new pg.Pool({ connectionString: warehouse.url, max: 4 });
  const artifacts = createArtifactStore(config, { pool, log });
  await waitFor(
    async () => (await service.app.inject({ url: '/healthz' })).statusCode === 200,
    60_000,
    'engine ready',
  );
  await artifacts.init();
  return {
    service,
    config,
    env,
    db,
    warehouse,
    pool,
    warehousePool,
    artifacts,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    bucket: config.ARTIFACT_S3_BUCKET,
    inject: (options) =>
      service.app.inject({
        ...options,
        headers: { 'x-internal-token': TOKEN, ...options.headers },
      }),
    async stop() {
      await service.stop();
      await artifacts.close();
      await pool.end();
      await warehousePool.end();
      await db.drop();
      await warehouse.drop();
    },
  };
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

type PlanStep = StepInput & { retry?: ExecutionPlan['defaults']['retry']; timeoutMs?: number };

export interface PlanOptions {
  planId?: string;
  concurrency?: number;
  failurePolicy?: 'stop' | 'continue';
  decisions?: Record<string, { action: 'RUN' | 'SKIP'; reason: string }>;
  requiresApproval?: boolean;
  source?: ExecutionPlan['source'];
  retry?: ExecutionPlan['defaults']['retry'];
}

/** An execution plan as the planner would compile it (levels by depth, ties by id). */
export function executionPlan(steps: PlanStep[], options: PlanOptions = {}): ExecutionPlan {
  const defaults = { retry: options.retry ?? { maxAttempts: 1 }, timeoutMs: 60_000 };
  const depth = new Map<string, number>();
  const byId = new Map(steps.map((s) => [s.id, s]));
  const depthOf = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const needs = byId.get(id)?.needs ?? [];
    const d = needs.length === 0 ? 0 : 1 + Math.max(...needs.map(depthOf));
    depth.set(id, d);
    return d;
  };
  const levels: string[][] = [];
  for (const step of steps) {
    const d = depthOf(step.id);
    (levels[d] ??= []).push(step.id);
  }
  for (const level of levels) level.sort();
  const resolved = steps.map((step) => {
    const withDefaults =
      step.kind === 'noop' || step.kind === 'approval' ? { with: {}, ...step } : step;
    return {
      ...withDefaults,
      retry: step.retry ?? defaults.retry,
      timeoutMs: step.timeoutMs ?? defaults.timeoutMs,
    };
  });
  const kinds = [...new Set(steps.map((s) => s.kind))].sort();
  return {
    schemaVersion: EXECUTION_PLAN_SCHEMA_VERSION,
    planId: options.planId ?? `plan-${randomBytes(3).toString('hex')}`,
    planVersion: '1.0.0',
    compiledAt: new Date().toISOString(),
    source: options.source ?? { kind: 'plan' },
    concurrency: options.concurrency ?? 4,
    failurePolicy: options.failurePolicy ?? 'stop',
    defaults,
    steps: resolved as ExecutionPlan['steps'],
    order: { levels, criticalPath: [] },
    decisions: Object.fromEntries(
      steps.map((s) => [s.id, options.decisions?.[s.id] ?? { action: 'RUN', reason: 'selected' }]),
    ),
    requiredCapabilities: { kinds, materializations: [], targets: [] },
    estimate: { durationMs: 0, basis: 'default', defaultStepMs: 0, criticalPathMs: 0 },
    requiresApproval: options.requiresApproval ?? false,
    approvalReasons: options.requiresApproval ? ['test approval'] : [],
  };
}

export async function storePlan(
  engine: TestEngine,
  tenantId: string,
  plan: ExecutionPlan,
): Promise<PlanRef> {
  const bytes = Buffer.from(JSON.stringify(plan));
  const stored = await engine.artifacts.put(tenantId, bytes, {
    kind: 'plan',
    contentType: 'application/json',
    createdBy: 'engine-test',
  });
  return {
    uri: stored.uri,
    sha256: stored.sha256,
    schemaVersion: plan.schemaVersion,
    planId: plan.planId,
    planVersion: plan.planVersion,
    sizeBytes: stored.sizeBytes,
  };
}

export interface Started {
  runId: string;
  planRef: PlanRef;
  tenantId: string;
}

export async function startRun(
  engine: TestEngine,
  plan: ExecutionPlan,
  options: { runId?: string; tenantId?: string; planRef?: PlanRef } = {},
): Promise<Started> {
  const tenantId = options.tenantId ?? 'tenant-a';
  const planRef = options.planRef ?? (await storePlan(engine, tenantId, plan));
  const runId = options.runId ?? randomUUID();
  const res = await engine.inject({
    method: 'POST',
    url: '/internal/v1/runs',
    payload: { planRef, context: { tenantId, projectId: 'proj-1', environment: 'dev', runId } },
  });
  if (res.statusCode !== 202 && res.statusCode !== 200)
    throw new Error(`start failed: ${res.statusCode} ${res.body}`);
  return { runId, planRef, tenantId };
}

export async function signal(
  engine: TestEngine,
  runId: string,
  body: { signalId: string; type: string; stepId?: string; reason?: string },
) {
  const res = await engine.inject({
    method: 'POST',
    url: `/internal/v1/runs/${runId}/signals`,
    payload: body,
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

export async function listEvents(pool: pg.Pool, runId: string): Promise<RunEvent[]> {
  const store = createRunStateStore({ pool, log: createLogger({ service: 't', level: 'silent' }) });
  const all: RunEvent[] = [];
  for (let afterSeq = 0; ;) {
    const page = await store.listEvents(runId, { afterSeq, limit: 1000 });
    all.push(...page);
    if (page.length < 1000) return all;
    afterSeq = page.at(-1)!.runSeq;
  }
}

export async function waitForEvent(
  pool: pg.Pool,
  runId: string,
  match: (event: RunEvent) => boolean,
  timeoutMs = 30_000,
): Promise<RunEvent> {
  let found: RunEvent | undefined;
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ max: string | null }>(
        'select 1 from run_events where run_id = $1 limit 1',
        [runId],
      );
      if (rows.length === 0) return false;
      found = (await listEvents(pool, runId)).find(match);
      return found !== undefined;
    },
    timeoutMs,
    `an event of run ${runId}`,
    40,
  );
  return found!;
}

const TERMINAL = new Set(['RunCompleted', 'RunFailed', 'RunCancelled']);

export async function waitForEnd(
  pool: pg.Pool,
  runId: string,
  timeoutMs = 60_000,
): Promise<RunEvent[]> {
  await waitFor(
    async () => {
      const { rows } = await pool.query(
        `select 1 from run_events where run_id = $1 and event_type = any($2::text[]) limit 1`,
        [runId, [...TERMINAL]],
      );
      return rows.length > 0;
    },
    timeoutMs,
    `the end of run ${runId}`,
    50,
  );
  return listEvents(pool, runId);
}

/** `type(step)` strings of the events, for compact assertions. */
export function summary(events: RunEvent[]): string[] {
  return events.map((e) => (e.stepId ? `${e.eventType}(${e.stepId})` : e.eventType));
}

/** Checks the invariants every run must keep: gapless runSeq from 1 and unique keys. */
export function assertLedger(events: RunEvent[]): void {
  events.forEach((e, i) => {
    if (e.runSeq !== i + 1) throw new Error(`runSeq gap: event ${i} has runSeq ${e.runSeq}`);
  });
  const keys = new Set(events.map((e) => e.idempotencyKey));
  if (keys.size !== events.length) throw new Error('duplicate idempotency keys');
}
