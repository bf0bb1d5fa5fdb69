/**
 * The CLI against the real api (packages/api) with the real planner and engine in process,
 * on the shared test PostgreSQL and Temporal: a plan is submitted into a project and an
 * environment the CLI creates, run and watched to its end over the real SSE stream.
 */
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiService, loadApiConfig } from '@dvt/api';
import { createLogger } from '@dvt/service-kit';
import { createTestDatabase, freePort, testTemporalAddress, type TestDatabase } from '@dvt/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.ts';
import { INTERNAL_TOKEN, startDependencies } from '../../api/test/helpers.ts';
import { captureIo, dbtManifest } from './helpers.ts';

const SECRET = 'cli-test-secret-0123456789abcdef-0123';
const quiet = createLogger({ service: 'cli-test', level: 'silent' });

let db: TestDatabase;
let services: { stop(): Promise<void> }[] = [];
let apiUrl: string;
let dir: string;

async function dvt(args: string[]) {
  const io = captureIo({
    env: {
      DVT_API_URL: apiUrl,
      DVT_JWT_SECRET: SECRET,
      DVT_TENANT: 'acme',
      DVT_PROJECT: 'cli-e2e',
    },
  });
  const code = await runCli(args, io);
  return { code, out: io.stdoutText(), err: io.stderrText() };
}

beforeAll(async () => {
  db = await createTestDatabase('cli_real_api');
  dir = await mkdtemp(join(tmpdir(), 'dvt-cli-real-'));
  // The real planner and engine, started the way the api's own tests start them.
  const dependencies = await startDependencies(db);
  const apiPort = await freePort();
  const api = createApiService(
    loadApiConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      DATABASE_URL: db.url,
      INTERNAL_API_TOKEN: INTERNAL_TOKEN,
      TEMPORAL_ADDRESS: testTemporalAddress,
      PORT: String(apiPort),
      PLANNER_URL: dependencies.plannerUrl,
      ENGINE_URL: dependencies.engineUrl,
      AUTH_JWT_SECRET: SECRET,
      PUBLIC_BASE_URL: `http://127.0.0.1:${apiPort}`,
    }),
    quiet,
  );
  services = [api, dependencies];
  await api.start();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  for (let i = 0; i < 300; i++) {
    const health = await fetch(`${apiUrl}/healthz`).catch(() => undefined);
    if (health?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}, 180_000);

afterAll(async () => {
  for (const service of services) await service.stop();
  await db?.drop();
});

describe('dvt against the real api', () => {
  it('plans, runs and watches a plan to COMPLETED, then shows it in status and runs', async () => {
    const file = join(dir, 'plan.json');
    await writeFile(
      file,
      JSON.stringify({
        schemaVersion: 'dvt.plan/v1',
        planId: 'cli-e2e',
        planVersion: '1.0.0',
        steps: [
          { id: 'a', kind: 'noop', with: { delayMs: 50 } },
          { id: 'b', kind: 'noop', needs: ['a'] },
          { id: 'c', kind: 'noop', needs: ['a'] },
          { id: 'd', kind: 'noop', needs: ['b', 'c'] },
        ],
      }),
    );
    const planned = await dvt(['plan', file]);
    expect(planned.err).toBe('');
    expect(planned.code).toBe(0);
    expect(planned.out).toContain('plan cli-e2e version 1.0.0\n');
    expect(planned.out).toContain('  steps    4 in 3 levels: 4 RUN, 0 SKIP\n');

    const watched = await dvt(['run', file, '--watch']);
    expect(watched.err).toBe('');
    const runId = /^run (\S+) /m.exec(watched.out)![1]!;
    const seqs = [...watched.out.matchAll(/^\[\s*\d+\/\d+\] #(\d+) /gm)].map((m) => Number(m[1]));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    for (const step of ['a', 'b', 'c', 'd']) {
      expect(watched.out.match(new RegExp(`#\\d+ StepCompleted ${step}\\b`, 'g'))?.length).toBe(1);
    }
    expect(watched.out.endsWith(`run ${runId} COMPLETED\n`)).toBe(true);
    expect(watched.code).toBe(0);

    const status = await dvt(['status', runId]);
    expect(status.out.split('\n')[0]).toBe(`run ${runId}  COMPLETED`);
    expect(status.out).toMatch(/^d +COMPLETED +1 /m);
    const runs = await dvt(['runs', '--status', 'COMPLETED', '--json']);
    expect(JSON.parse(runs.out).runs.map((r: { runId: string }) => r.runId)).toContain(runId);
  });

  it('exits 1 and names the step when the run fails', async () => {
    const file = join(dir, 'failing.json');
    await writeFile(
      file,
      JSON.stringify({
        schemaVersion: 'dvt.plan/v1',
        planId: 'cli-e2e-fail',
        planVersion: '1.0.0',
        defaults: { retry: { maxAttempts: 1 } },
        steps: [
          { id: 'ok', kind: 'noop' },
          { id: 'boom', kind: 'noop', needs: ['ok'], with: { failTimes: 5 } },
        ],
      }),
    );
    const watched = await dvt(['run', file, '--watch']);
    expect(watched.err).toMatch(/^dvt: step boom failed: .+\n$/);
    expect(watched.out).toMatch(/\nrun \S+ FAILED/);
    expect(watched.code).toBe(1);
  });

  it('compiles a real dbt manifest as a preview', async () => {
    const planned = await dvt([
      'plan',
      dbtManifest('jaffle-shop-duckdb-v8'),
      '--preview',
      '--select',
      'orders',
    ]);
    expect(planned.err).toBe('');
    expect(planned.code).toBe(0);
    expect(planned.out).toMatch(/^ {2}RUN +model\.jaffle_shop\.orders +dbt\.model/m);
  });
});
