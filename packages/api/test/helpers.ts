/**
 * Test harness: a real api service on a free loopback port, on its own fresh database (the
 * shared test PostgreSQL), with its log lines captured so tests can read them back.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '@dvt/service-kit';
import { createRunStateStore } from '@dvt/store';
import { createTestDatabase, freePort, testTemporalAddress, type TestDatabase } from '@dvt/testkit';
import { createApiService, type ApiService, type ApiServiceOptions } from '../src/app.ts';
import { loadApiConfig, type ApiConfig } from '../src/config.ts';
import { mintDevToken } from '../src/mint-token.ts';

export const TEST_SECRET = 'test-secret-for-api-tests-0123456789abcdef';
export const INTERNAL_TOKEN = 'internal-token-for-tests-0123';
export const ALLOWED_ORIGIN = 'https://app.dvt.test';

export { freePort };

export interface ApiHarness {
  service: ApiService;
  config: ApiConfig;
  db: TestDatabase;
  baseUrl: string;
  port: number;
  logLines: string[];
  token(
    tenant: string,
    roles: string[],
    options?: { sub?: string; ttlSeconds?: number },
  ): Promise<string>;
  /** fetch against the api with a bearer token. */
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read answers of many shapes
  ): Promise<{ status: number; body: any; headers: Headers }>;
  runs: ReturnType<typeof createRunStateStore>;
  close(): Promise<void>;
}

export async function startApi(
  env: Record<string, string> = {},
  existingDb?: TestDatabase,
  options: ApiServiceOptions = {},
): Promise<ApiHarness> {
  const db = existingDb ?? (await createTestDatabase('api'));
  const port = await freePort();
  const config = loadApiConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    INTERNAL_API_TOKEN: INTERNAL_TOKEN,
    TEMPORAL_ADDRESS: testTemporalAddress,
    PLANNER_URL: 'http://127.0.0.1:1',
    ENGINE_URL: 'http://127.0.0.1:1',
    AUTH_JWT_SECRET: TEST_SECRET,
    ALLOWED_ORIGINS: ALLOWED_ORIGIN,
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    INTERNAL_CALL_TIMEOUT_MS: '2000',
    ...env,
  });
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ service: 'api-test', level: 'info', destination });
  const service = createApiService(config, log, options);
  await service.start();
  for (let i = 0; i < 200 && !service.database.migrated; i++)
    await new Promise((r) => setTimeout(r, 50));
  if (!service.database.migrated) throw new Error('migrations did not finish');
  const baseUrl = `http://127.0.0.1:${port}`;
  const runs = createRunStateStore({ pool: service.database.pool, log });
  return {
    service,
    config,
    db,
    baseUrl,
    port,
    logLines,
    runs,
    token: (tenant, roles, options = {}) =>
      mintDevToken({
        secret: TEST_SECRET,
        tenant,
        roles,
        subject: options.sub ?? `user-${tenant}`,
        ttlSeconds: options.ttlSeconds ?? 600,
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
      }),
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      }
      const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON; keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async close() {
      await service.stop();
      if (!existingDb) await db.drop();
    },
  };
}

/** A run the api knows (api_runs) with events appended through the store, as the engine would. */
export async function seedRun(
  api: ApiHarness,
  input: {
    tenantId: string;
    projectId: string;
    runId: string;
    events: number;
    terminal?: boolean;
    payloadBytes?: number;
  },
): Promise<void> {
  const pool = api.service.database.pool;
  await pool.query(
    `insert into api_projects (tenant_id, project_id, name, created_by) values ($1, $2, $2, 'seed') on conflict do nothing`,
    [input.tenantId, input.projectId],
  );
  await pool.query(
    `insert into api_runs (run_id, tenant_id, project_id, environment, plan_id, plan_version, created_by)
     values ($1, $2, $3, 'dev', 'p', '1', 'seed') on conflict do nothing`,
    [input.runId, input.tenantId, input.projectId],
  );
  await appendEvents(api, input, 1, input.events, input.terminal ?? false, input.payloadBytes ?? 0);
}

export async function appendEvents(
  api: ApiHarness,
  input: { tenantId: string; projectId: string; runId: string },
  from: number,
  count: number,
  terminal: boolean,
  payloadBytes = 0,
): Promise<void> {
  const filler = 'x'.repeat(payloadBytes);
  const base = {
    runId: input.runId,
    tenantId: input.tenantId,
    projectId: input.projectId,
    environment: 'dev',
    planId: 'p',
    planVersion: '1',
  };
  const batch = [];
  for (let i = from; i < from + count; i++) {
    const isLast = terminal && i === from + count - 1;
    batch.push({
      ...base,
      ...(i === 1
        ? { eventType: 'RunQueued' as const, logicalAttemptId: 'run' }
        : isLast
          ? { eventType: 'RunCompleted' as const, logicalAttemptId: 'run' }
          : {
              eventType: 'StepStarted' as const,
              stepId: `s${i}`,
              logicalAttemptId: `s${i}#1`,
              attempt: 1,
            }),
      payload: payloadBytes ? { n: i, filler } : { n: i },
      emittedAt: new Date(),
    });
  }
  for (let i = 0; i < batch.length; i += 500) await api.runs.appendEvents(batch.slice(i, i + 500));
}

/** The real planner and engine, in-process on free ports, on `db` and the shared Temporal. */
export async function startDependencies(
  db: TestDatabase,
): Promise<{ plannerUrl: string; engineUrl: string; stop(): Promise<void> }> {
  const { createEngineService, loadEngineConfig } = await import('@dvt/engine');
  const { createPlannerService, loadPlannerConfig } = await import('@dvt/planner');
  const quiet = createLogger({ service: 'dep', level: 'silent' });
  const [plannerPort, enginePort] = [await freePort(), await freePort()];
  const common = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    INTERNAL_API_TOKEN: INTERNAL_TOKEN,
  };
  const engine = createEngineService(
    loadEngineConfig({
      ...common,
      PORT: String(enginePort),
      TEMPORAL_ADDRESS: testTemporalAddress,
      TEMPORAL_TASK_QUEUE: `api-${randomUUID()}`,
    }),
    quiet,
  );
  const planner = createPlannerService(
    loadPlannerConfig({
      ...common,
      PORT: String(plannerPort),
      ENGINE_URL: `http://127.0.0.1:${enginePort}`,
    }),
    quiet,
  );
  await engine.start();
  await planner.start();
  for (let i = 0; i < 300; i++) {
    const health = await fetch(`http://127.0.0.1:${enginePort}/healthz`);
    if (health.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    plannerUrl: `http://127.0.0.1:${plannerPort}`,
    engineUrl: `http://127.0.0.1:${enginePort}`,
    async stop() {
      await planner.stop();
      await engine.stop();
    },
  };
}
