/**
 * The native stack and the main job end to end, on ports and a folder of their own so they
 * run beside a developer's stack:
 * - `pnpm stack up` brings six processes up, every /healthz at 200, the Temporal UI answering;
 * - the example dbt project is planned and run through the public API with the `dvt` CLI, and
 *   its tables and views hold the same rows as those `dbt run` builds from the same project;
 * - the largest fixture manifest runs with its dbt steps simulated and completes;
 * - every started step has exactly one terminal event, a loopback webhook receives every event
 *   with a valid signature, and the run's Temporal UI page answers;
 * - `up` twice is safe, `down` stops exactly what `up` started, a taken port is reported.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../../testkit/src/fixtures.ts';
import { freePortBlock } from '../../testkit/src/ports.ts';
import { mintDevToken } from '../../api/src/mint-token.ts';
import { repoRoot } from '../src/paths.ts';
import { isAlive } from '../src/process.ts';
import { stackSettings } from '../src/stack.ts';

const run = promisify(execFile);
// Twenty ports of its own, below the range the kernel hands out to other tests' servers and
// connections; Temporal's HTTP and metrics ports are derived from its own (+10, +11).
const base = await freePortBlock(20);
const ports = {
  DVT_PG_PORT: base,
  DVT_TEMPORAL_PORT: base + 1,
  DVT_TEMPORAL_UI_PORT: base + 4,
  DVT_MINIO_PORT: base + 5,
  DVT_MINIO_CONSOLE_PORT: base + 6,
  DVT_API_PORT: base + 7,
  DVT_PLANNER_PORT: base + 8,
  DVT_ENGINE_PORT: base + 9,
};
const stackDir = mkdtempSync(path.join(tmpdir(), 'dvt-stack-test-'));
const apiUrl = `http://127.0.0.1:${ports.DVT_API_PORT}`;
const env = {
  ...process.env,
  DVT_STACK_DIR: stackDir,
  DVT_API_URL: apiUrl,
  ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
};
const warehouseUrl = `postgres://${stackSettings.warehouseUser}:${stackSettings.warehousePassword}@127.0.0.1:${ports.DVT_PG_PORT}/warehouse`;

function stack(...args: string[]) {
  return run(process.execPath, ['--conditions=source', 'scripts/stack.ts', ...args], {
    cwd: repoRoot,
    env,
    timeout: 240_000,
  });
}

function dvt(token: string, ...args: string[]) {
  return run('bash', ['scripts/dvt', ...args], {
    cwd: repoRoot,
    env: { ...env, DVT_TOKEN: token },
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

function pids(): number[] {
  const dir = path.join(stackDir, 'run');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { pid: number }).pid);
}

interface ApiEvent {
  eventId: string;
  runSeq: number;
  stepId: string | null;
  eventType: string;
  payload: Record<string, unknown>;
}

async function api<T>(token: string, method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(`${apiUrl}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok && res.status !== 409)
    throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function allEvents(token: string, runId: string): Promise<ApiEvent[]> {
  const events: ApiEvent[] = [];
  for (;;) {
    const after = events.at(-1)?.runSeq ?? 0;
    const page = await api<{ events: ApiEvent[] }>(
      token,
      'GET',
      `/v1/runs/${runId}/events?afterSeq=${after}&limit=500`,
    );
    if (page.events.length === 0) return events;
    events.push(...page.events);
  }
}

function runIdOf(output: string): string {
  const match = /^run ([0-9a-f-]{36}) COMPLETED$/m.exec(output);
  if (!match) throw new Error(`no completed run in the CLI output:\n${output.slice(-3000)}`);
  return match[1]!;
}

/** Each started step ends exactly once; no terminal event without a start unless skipped. */
function expectOneTerminalEventPerStartedStep(events: ApiEvent[]): void {
  const started = new Set(events.filter((e) => e.eventType === 'StepStarted').map((e) => e.stepId));
  const terminal = new Map<string, number>();
  for (const e of events) {
    if (['StepCompleted', 'StepFailed', 'StepSkipped'].includes(e.eventType)) {
      terminal.set(e.stepId!, (terminal.get(e.stepId!) ?? 0) + 1);
    }
  }
  for (const stepId of started)
    expect(terminal.get(stepId!), `terminal events of ${stepId}`).toBe(1);
  expect(events.map((e) => e.runSeq)).toEqual(events.map((_, i) => i + 1));
}

/** Every row of every relation in `schema`, sorted, so two schemas can be compared. */
async function relationRows(client: pg.Client, schema: string): Promise<Record<string, string[]>> {
  const { rows } = await client.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = $1 order by 1`,
    [schema],
  );
  const out: Record<string, string[]> = {};
  for (const { name } of rows) {
    const data = await client.query(
      `select * from ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`,
    );
    out[name] = data.rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

describe('native stack and main job', () => {
  let token: string;

  beforeAll(async () => {
    await stack('up', '--no-build');
    token = await mintDevToken({
      secret: stackSettings.jwtSecret,
      tenant: 'e2e',
      roles: ['admin'],
      subject: 'e2e-test',
      ttlSeconds: 3600,
      issuer: 'dvt-dev',
      audience: 'dvt-api',
    });
  }, 300_000);

  afterAll(async () => {
    await stack('down').catch(() => undefined);
    rmSync(stackDir, { recursive: true, force: true });
  }, 120_000);

  it('brings up six processes with every /healthz at 200 and the Temporal UI answering', async () => {
    expect(pids()).toHaveLength(6);
    for (const port of [ports.DVT_API_PORT, ports.DVT_PLANNER_PORT, ports.DVT_ENGINE_PORT]) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    }
    const ui = await fetch(`http://127.0.0.1:${ports.DVT_TEMPORAL_UI_PORT}/`);
    expect(ui.status).toBe(200);
    const { stdout } = await stack('status');
    expect(stdout.match(/\/healthz 200/g)).toHaveLength(3);
  });

  it('runs the services unprivileged when started as root', async () => {
    if (process.getuid?.() !== 0) return;
    const nobody = Number((await run('id', ['-u', 'nobody'])).stdout.trim());
    const readable = await run('test', ['-r', path.join(repoRoot, 'packages/api/dist/index.js')], {
      uid: nobody,
    }).then(
      () => true,
      () => false,
    );
    const dir = path.join(stackDir, 'run');
    for (const name of ['api', 'planner', 'engine']) {
      const { pid } = JSON.parse(readFileSync(path.join(dir, `${name}.pid`), 'utf8')) as {
        pid: number;
      };
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      expect(uid, name).toBe(readable ? nobody : 0);
    }
  });

  it('keeps the warehouse role out of the control-plane database', async () => {
    const url = warehouseUrl.replace(/\/warehouse$/, '/dvt');
    const client = new pg.Client({ connectionString: url });
    const error = await client.connect().then(
      () => undefined,
      (e: Error) => e,
    );
    await client.end().catch(() => undefined);
    expect(error?.message).toMatch(/permission denied for database "dvt"/);
  });

  it('is safe to bring up twice: nothing new is started', async () => {
    const before = pids().sort();
    const { stdout } = await stack('up', '--no-build');
    expect(stdout.match(/already running/g)).toHaveLength(6);
    expect(pids().sort()).toEqual(before);
  });

  it('runs the example dbt project: same rows as dbt run, every event to a webhook, one terminal event per step', async () => {
    const received: { body: ApiEvent; raw: string; signature: string; timestamp: string }[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({
          body: JSON.parse(body) as ApiEvent,
          raw: body,
          signature: String(req.headers['x-dvt-signature']),
          timestamp: String(req.headers['x-dvt-timestamp']),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hookPort = (receiver.address() as net.AddressInfo).port;
    try {
      await api(token, 'POST', '/v1/projects', { projectId: 'shop', name: 'shop' });
      const hook = await api<{ secret: string }>(token, 'POST', '/v1/projects/shop/webhooks', {
        url: `http://127.0.0.1:${hookPort}/hook`,
      });

      // Reference: dbt itself builds the project into schema dbt_ref.
      const dbtEnv = { ...env, DBT_PORT: String(ports.DVT_PG_PORT) };
      const refWork = mkdtempSync(path.join(tmpdir(), 'dvt-dbt-ref-'));
      await run('bash', ['scripts/example-dbt.sh'], {
        cwd: repoRoot,
        env: { ...dbtEnv, DBT_SCHEMA: 'dbt_ref', DVT_DBT_WORK: refWork },
      });
      await run(
        path.join(repoRoot, '.tools/dbt/bin/dbt'),
        [
          '--quiet',
          'run',
          '--exclude',
          'source:legacy+',
          '--profiles-dir',
          refWork,
          '--project-dir',
          refWork,
        ],
        {
          cwd: refWork,
          env: {
            ...dbtEnv,
            DBT_SCHEMA: 'dbt_ref',
            DBT_HOST: '127.0.0.1',
            DBT_USER: stackSettings.warehouseUser,
            DBT_PASSWORD: stackSettings.warehousePassword,
            DBT_DBNAME: 'warehouse',
            DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
          },
        },
      );

      // DVT+: the same project compiled into schema dbt_e2e, run through the public API.
      const work = mkdtempSync(path.join(tmpdir(), 'dvt-dbt-e2e-'));
      const prepared = await run('bash', ['scripts/example-dbt.sh'], {
        cwd: repoRoot,
        env: { ...dbtEnv, DBT_SCHEMA: 'dbt_e2e', DVT_DBT_WORK: work },
      });
      const manifest = prepared.stdout.trim().split('\n').at(-1)!;
      const result = await dvt(
        token,
        'run',
        manifest,
        '--project',
        'shop',
        '--environment',
        'dev',
        '--exclude',
        'source:legacy+',
        '--watch',
      );
      const runId = runIdOf(result.stdout);

      const client = new pg.Client({ connectionString: warehouseUrl });
      await client.connect();
      try {
        const expected = await relationRows(client, 'dbt_ref');
        const actual = await relationRows(client, 'dbt_e2e');
        expect(Object.keys(expected).length).toBeGreaterThanOrEqual(8);
        expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
        for (const name of Object.keys(expected))
          expect(actual[name], name).toEqual(expected[name]);
        const { rows } = await client.query<{ n: string }>(
          `select count(*) as n from dbt_e2e.fct_orders`,
        );
        expect(Number(rows[0]!.n)).toBeGreaterThan(0);
      } finally {
        await client.end();
      }

      const events = await allEvents(token, runId);
      expect(events.at(-1)?.eventType).toBe('RunCompleted');
      expectOneTerminalEventPerStartedStep(events);
      expect(typeof events.at(-1)?.payload.runResultsSha256).toBe('string');
      const runResults = await fetch(
        `${apiUrl}/v1/artifacts/${String(events.at(-1)!.payload.runResultsSha256)}`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      );
      expect(runResults.status).toBe(200);
      const results = (await runResults.json()) as {
        metadata: { dbt_schema_version: string };
        results: unknown[];
      };
      expect(results.metadata.dbt_schema_version).toContain('run-results');
      expect(results.results.length).toBe(
        events.filter((e) => e.eventType === 'StepStarted').length,
      );

      const deadline = Date.now() + 20_000;
      while (received.length < events.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(new Set(received.map((r) => r.body.eventId))).toEqual(
        new Set(events.map((e) => e.eventId)),
      );
      for (const r of received) {
        const expectedSig = `v1=${createHmac('sha256', hook.secret).update(`${r.timestamp}.${r.raw}`).digest('hex')}`;
        expect(r.signature).toBe(expectedSig);
      }

      const page = await fetch(
        `http://127.0.0.1:${ports.DVT_TEMPORAL_UI_PORT}/namespaces/default/workflows/${runId}`,
      );
      expect(page.status).toBe(200);
    } finally {
      receiver.close();
    }
  }, 420_000);

  it('runs the largest fixture manifest with its dbt steps simulated, to completion', async () => {
    const manifest = path.join(fixturesDir, 'dbt', 'fivetran-ad-reporting-v7', 'manifest.json');
    const result = await dvt(
      token,
      'run',
      manifest,
      '--project',
      'ads',
      '--environment',
      'dev',
      '--simulate',
      '--watch',
    );
    const runId = runIdOf(result.stdout);
    const events = await allEvents(token, runId);
    expect(events.at(-1)?.eventType).toBe('RunCompleted');
    expectOneTerminalEventPerStartedStep(events);
    expect(events.filter((e) => e.eventType === 'StepCompleted').length).toBeGreaterThan(200);
  }, 420_000);

  it('stops exactly the processes it started, and reports a taken port on the next up', async () => {
    const started = pids();
    await stack('down');
    expect(started.filter(isAlive)).toEqual([]);
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(ports.DVT_PG_PORT, '127.0.0.1', resolve);
    });
    try {
      const failure = await stack('up', '--no-build').then(
        () => undefined,
        (error: { stderr: string; code: number }) => error,
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain(
        `port ${ports.DVT_PG_PORT} (for postgres) is already in use`,
      );
      expect(failure?.stderr).toContain('DVT_PG_PORT');
    } finally {
      squatter.close();
    }
  }, 120_000);
});
