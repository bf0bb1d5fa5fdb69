/**
 * Benchmark: GET /v1/runs/{runId} (authenticated, tenant-scoped, read from PostgreSQL) at
 * increasing request rates with autocannon on loopback, against a bare Fastify route that
 * returns a JSON body of the same size, measured in the same run. Prints p50/p99 of both and
 * their ratios. Not a test: it asserts nothing.
 *
 *   node --conditions=source packages/api/bench/run-status.ts [--duration 5] [--rates 100,250,500,1000,2000]
 *
 * Needs the shared test PostgreSQL (started by `pnpm test`'s global setup, 127.0.0.1:55432).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { createLogger } from '@dvt/service-kit';
import { createRunStateStore } from '@dvt/store';
import { createTestDatabase, testTemporalAddress } from '@dvt/testkit';
import { createApiService } from '../src/app.ts';
import { loadApiConfig } from '../src/config.ts';
import { mintDevToken } from '../src/mint-token.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rates: { type: 'string', default: '100,250,500,1000,2000' },
    connections: { type: 'string', default: '10' },
  },
});
const duration = Number(values.duration);
const rates = values.rates.split(',').map(Number);
const connections = Number(values.connections);
const SECRET = 'bench-secret-0123456789abcdef-0123456789';

async function main(): Promise<void> {
  const db = await createTestDatabase('apibench');
  const log = createLogger({ service: 'api-bench', level: 'silent' });
  const port = 18_000 + Math.floor(Math.random() * 1000);
  const config = loadApiConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    DATABASE_URL: db.url,
    INTERNAL_API_TOKEN: 'bench-internal-token-0123',
    TEMPORAL_ADDRESS: testTemporalAddress,
    PLANNER_URL: 'http://127.0.0.1:9',
    ENGINE_URL: 'http://127.0.0.1:9',
    AUTH_JWT_SECRET: SECRET,
    RATE_LIMIT_MAX: '100000000',
  });
  const api = createApiService(config, log);
  await api.start();
  while (!api.database.migrated) await new Promise((r) => setTimeout(r, 50));

  const runId = randomUUID();
  const pool = api.database.pool;
  await pool.query(
    `insert into api_projects (tenant_id, project_id, name, created_by) values ('bench', 'p', 'p', 'bench')`,
  );
  await pool.query(
    `insert into api_runs (run_id, tenant_id, project_id, environment, plan_id, plan_version, created_by)
     values ($1, 'bench', 'p', 'dev', 'plan', '1', 'bench')`,
    [runId],
  );
  const store = createRunStateStore({ pool, log });
  const base = {
    runId,
    tenantId: 'bench',
    projectId: 'p',
    environment: 'dev',
    planId: 'plan',
    planVersion: '1',
    emittedAt: new Date(),
  };
  await store.appendEvent({ ...base, eventType: 'RunQueued', logicalAttemptId: 'queued' });
  for (let i = 0; i < 10; i++) {
    await store.appendEvent({
      ...base,
      eventType: 'StepStarted',
      stepId: `step-${i}`,
      logicalAttemptId: `step-${i}#1`,
      attempt: 1,
    });
  }

  const token = await mintDevToken({
    secret: SECRET,
    tenant: 'bench',
    roles: ['viewer'],
    subject: 'bench',
    ttlSeconds: 3600,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
  });
  const apiUrl = `http://127.0.0.1:${port}/v1/runs/${runId}`;
  const sample = await (
    await fetch(apiUrl, { headers: { authorization: `Bearer ${token}` } })
  ).text();

  const bare = Fastify();
  bare.get('/status', async (_req, reply) =>
    reply.header('content-type', 'application/json').send(sample),
  );
  await bare.listen({ port: port + 1, host: '127.0.0.1' });
  const bareUrl = `http://127.0.0.1:${port + 1}/status`;

  const measure = (url: string, rate: number | null) =>
    autocannon({
      url,
      connections,
      duration,
      headers: { authorization: `Bearer ${token}` },
      ...(rate ? { overallRate: rate } : {}),
    });

  console.log(
    `GET run status (${sample.length}-byte body), ${duration}s per step, ${connections} connections, loopback`,
  );
  // autocannon reports percentiles in whole ms; the mean (fractional) is printed beside them.
  console.log(
    'rate req/s | api p50 | api p99 | api mean | bare p50 | bare p99 | bare mean | p50 ratio | p99 ratio | mean ratio | api req/s | api non-2xx',
  );
  for (const rate of [...rates, null]) {
    await measure(bareUrl, rate ? Math.min(rate, 200) : 200); // warm-up of both sides
    const bareResult = await measure(bareUrl, rate);
    const apiResult = await measure(apiUrl, rate);
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
    console.log(
      [
        rate ?? 'max',
        apiResult.latency.p50,
        apiResult.latency.p99,
        apiResult.latency.mean.toFixed(2),
        bareResult.latency.p50,
        bareResult.latency.p99,
        bareResult.latency.mean.toFixed(2),
        ratio(apiResult.latency.p50, bareResult.latency.p50),
        ratio(apiResult.latency.p99, bareResult.latency.p99),
        ratio(apiResult.latency.mean, bareResult.latency.mean),
        Math.round(apiResult.requests.average),
        apiResult.non2xx,
      ].join(' | '),
    );
  }

  await bare.close();
  await api.stop();
  await db.drop();
}

await main();
