/**
 * The foundation's promises, checked on real processes: services start while dependencies are
 * down, answer 503 naming them, recover without a restart, drain on SIGTERM, refuse bad
 * configuration with one clear line, and migrate safely when started together.
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, toolPath } from '@dvt/devstack';
import {
  createTestDatabase,
  spawnService,
  startPrivatePostgres,
  startPrivateTemporal,
  testTemporalAddress,
  type ServiceProcess,
  type TestDatabase,
} from '@dvt/testkit';

const token = 'test-internal-token-0123456789';
const checks = (body: Record<string, unknown>) =>
  body.checks as Record<string, { ok: boolean; error?: string }>;

function plannerEnv(databaseUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    INTERNAL_API_TOKEN: token,
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_MS: '3000',
  };
}

function engineEnv(
  databaseUrl: string,
  temporalAddress: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...plannerEnv(databaseUrl),
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: `resilience-${Math.random().toString(36).slice(2)}`,
    ...extra,
  };
}

const running: ServiceProcess[] = [];
async function start(
  name: 'api' | 'planner' | 'engine',
  env: Record<string, string>,
): Promise<ServiceProcess> {
  const service = spawnService(name, env, await freePort());
  running.push(service);
  return service;
}

afterAll(async () => {
  for (const service of running) if (service.child.exitCode === null) service.kill('SIGKILL');
});

describe('a service whose PostgreSQL goes away', () => {
  let server: Awaited<ReturnType<typeof startPrivatePostgres>>;
  beforeAll(async () => {
    server = await startPrivatePostgres();
  });
  afterAll(async () => server?.dispose());

  it('turns 503 naming postgres, then 200 again after a restart, with the same pid', async () => {
    const planner = await start('planner', plannerEnv(server.adminUrl));
    await planner.waitForHealth((status) => status === 200);

    await server.stop();
    const down = await planner.waitForHealth((status) => status === 503);
    expect(checks(down.body).postgres?.ok).toBe(false);
    expect(checks(down.body).postgres?.error).toBeTruthy();

    await server.start();
    await planner.waitForHealth((status) => status === 200, 30_000);
    expect(planner.child.exitCode).toBeNull();
    expect(planner.child.pid).toBe(planner.pid);
  });
});

describe('a service started before its dependencies', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('resil');
  });
  afterAll(async () => db?.drop());

  it('stays up with 503 naming temporal while nothing listens, and turns ready when the server and namespace appear (B16)', async () => {
    const temporal = await startPrivateTemporal({ start: false, namespaces: ['default'] });
    try {
      const engine = await start(
        'engine',
        engineEnv(db.url, temporal.address, { TEMPORAL_NAMESPACE: 'dvt-test' }),
      );
      const noServer = await engine.waitForHealth(
        (status, body) => status === 503 && checks(body).postgres?.ok === true,
      );
      expect(checks(noServer.body).temporal?.ok).toBe(false);
      expect(checks(noServer.body).worker?.ok).toBe(false);

      await temporal.start();
      const noNamespace = await engine.waitForHealth(
        (status, body) =>
          status === 503 && /namespace dvt-test not found/.test(checks(body).temporal?.error ?? ''),
        30_000,
      );
      expect(checks(noNamespace.body).temporal?.error).toContain('namespace dvt-test not found');

      execFileSync(
        toolPath('temporal'),
        [
          'operator',
          'namespace',
          'create',
          '--namespace',
          'dvt-test',
          '--address',
          temporal.address,
        ],
        { stdio: 'pipe' },
      );
      const ready = await engine.waitForHealth((status) => status === 200, 45_000);
      expect(checks(ready.body).worker?.ok).toBe(true);
      expect(engine.child.exitCode).toBeNull();
    } finally {
      await temporal.dispose();
    }
  });

  it('reports a wrong database password as a postgres error without printing the password', async () => {
    const url = new URL(db.url);
    url.password = 'definitely-wrong-pw';
    const planner = await start('planner', plannerEnv(url.toString()));
    const down = await planner.waitForHealth((status) => status === 503);
    expect(checks(down.body).postgres?.error).toMatch(/password authentication failed/);
    expect(JSON.stringify(down.body)).not.toContain('definitely-wrong-pw');
    expect(planner.output()).not.toContain('definitely-wrong-pw');
    expect(planner.child.exitCode).toBeNull();
  });
});

describe('a service whose Temporal server goes away', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('resil');
  });
  afterAll(async () => db?.drop());

  it('turns 503 naming temporal, then 200 again after the server restarts', async () => {
    const temporal = await startPrivateTemporal();
    try {
      const engine = await start('engine', engineEnv(db.url, temporal.address));
      await engine.waitForHealth((status) => status === 200);
      await temporal.stop();
      const down = await engine.waitForHealth((status) => status === 503);
      expect(checks(down.body).temporal?.ok).toBe(false);
      await temporal.start();
      await engine.waitForHealth((status) => status === 200, 60_000);
      expect(engine.child.exitCode).toBeNull();
    } finally {
      await temporal.dispose();
    }
  });
});

describe('lifecycle', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('resil');
  });
  afterAll(async () => db?.drop());

  it.each(['planner', 'engine'] as const)(
    '%s exits 0 within the grace period on SIGTERM',
    async (name) => {
      const service = await start(name, engineEnv(db.url, testTemporalAddress));
      await service.waitForHealth((status) => status === 200);
      const sent = Date.now();
      service.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      expect(Date.now() - sent).toBeLessThan(3_000 + 5_000);
      expect(service.output()).toContain('"msg":"stopped"');
    },
  );

  it.each([
    [
      'planner',
      { DATABASE_URL: 'mysql://nope' },
      'DATABASE_URL: must be a postgres:// or postgresql:// URL',
    ],
    ['engine', { TEMPORAL_ADDRESS: 'not an address' }, 'TEMPORAL_ADDRESS: must be host:port'],
    ['engine', { INTERNAL_API_TOKEN: '' }, 'INTERNAL_API_TOKEN: is required but not set'],
    ['api', { PLANNER_URL: 'ftp://x' }, 'PLANNER_URL: must be an http:// or https:// URL'],
  ] as const)(
    '%s refuses a bad variable with one line naming it (%o)',
    async (name, override, expected) => {
      const env = {
        ...engineEnv(db.url, testTemporalAddress),
        PLANNER_URL: 'http://127.0.0.1:1',
        ENGINE_URL: 'http://127.0.0.1:1',
        AUTH_JWT_SECRET: 'a-test-secret-that-is-long-enough-123',
        ...override,
      };
      const service = await start(name, env);
      expect(await service.exited).toBe(1);
      const lines = service.output().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(expected);
      expect(lines[0]).not.toContain('mysql://nope');
    },
  );

  it('two services starting at once against an empty database both migrate, each file once', async () => {
    const fresh = await createTestDatabase('resil');
    try {
      const [a, b] = await Promise.all([
        start('planner', plannerEnv(fresh.url)),
        start('engine', engineEnv(fresh.url, testTemporalAddress)),
      ]);
      await Promise.all([a.waitForHealth((s) => s === 200), b.waitForHealth((s) => s === 200)]);
      const client = new pg.Client({ connectionString: fresh.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string; n: string }>(
          'select name, count(*) as n from schema_migrations group by name',
        );
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      } finally {
        await client.end();
      }
      a.kill('SIGKILL');
      b.kill('SIGKILL');
      await Promise.all([a.exited, b.exited]);
    } finally {
      await fresh.drop();
    }
  });
});
