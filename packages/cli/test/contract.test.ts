/**
 * Contract test of the client: the CLI (in process, through runCli) against a small Fastify
 * server on 127.0.0.1 that answers the public routes it calls the way DESIGN §10 says the api
 * does (see fake-api.ts). It proves what the CLI sends, how it reads the answers, the exit
 * codes, and that `--watch` survives a dropped event stream without losing or repeating events.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { XMLValidator } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, STACK_DEV_JWT_SECRET } from '../src/index.ts';
import { captureIo, dbtManifest, fixture, repoRoot } from './helpers.ts';
import { startFakeApi, type FakeApi, type FakeApiOptions } from './fake-api.ts';

const planFile = fixture('nightly-plan.json');
let api: FakeApi;
let dir: string;

async function start(options: Partial<FakeApiOptions> = {}) {
  api = await startFakeApi({ secret: STACK_DEV_JWT_SECRET, ...options });
}

async function dvt(args: string[], env: Record<string, string> = {}) {
  const io = captureIo({ env: { DVT_API_URL: api.url, ...env } });
  const code = await runCli(args, io);
  return { code, out: io.stdoutText(), err: io.stderrText() };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dvt-cli-'));
});

afterEach(async () => {
  await api?.close();
});

/** The runSeq of each event line (`[d/t] #N Type …`) of line output, in order. */
function seqsOf(out: string): number[] {
  return [...out.matchAll(/^(?:\[\s*\d+\/\d+\] )?#(\d+) /gm)].map((m) => Number(m[1]));
}

describe('dvt plan (contract)', () => {
  it('creates the missing project, then prints the ordered plan with decisions and estimate', async () => {
    await start();
    const { code, out, err } = await dvt(['plan', planFile, '--project', 'shop']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(api.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/projects/shop/plans',
      'POST /v1/projects',
      'POST /v1/projects/shop/plans',
    ]);
    expect(api.requests[1]!.body).toEqual({ projectId: 'shop', name: 'shop' });
    const plan = JSON.parse(await readFile(planFile, 'utf8'));
    expect(api.requests[2]!.body).toEqual({ plan });
    const lines = out.split('\n');
    expect(lines[0]).toBe('plan nightly-orders version 1.4.0');
    expect(lines[1]).toMatch(/^ {2}sha256 {3}[0-9a-f]{64}$/);
    expect(lines.slice(2)).toEqual([
      '  steps    5 in 4 levels: 4 RUN, 1 SKIP',
      '  estimate 12.3s, critical path 9.0s, basis default',
      '  requires approval: no',
      '',
      'level 1 (1 step)',
      '  RUN  extract  noop  selected',
      '',
      'level 2 (2 steps)',
      '  RUN  load     noop  selected',
      '  SKIP report   noop  unchanged since the last run',
      '',
      'level 3 (1 step)',
      '  RUN  check    noop  selected',
      '',
      'level 4 (1 step)',
      '  RUN  publish  noop  selected',
      '',
    ]);
  });

  it('sends a dbt manifest with the selection and writes the DAG as SVG and Mermaid', async () => {
    await start();
    api.projects.add('default');
    const svg = join(dir, 'dag.svg');
    const mmd = join(dir, 'dag.mmd');
    const manifest = dbtManifest('jaffle-shop-duckdb-v8');
    const args = [
      'plan',
      manifest,
      '--select',
      'orders',
      '--select',
      'customers',
      '--exclude',
      'tag:slow',
      '--simulate',
    ];
    const first = await dvt([...args, '--graph', svg]);
    expect(first.err).toBe(`dvt: wrote the plan graph (2 steps) to ${svg}\n`);
    expect(first.code).toBe(0);
    const body = api.requests[0]!.body as { dbt: Record<string, unknown> };
    const { manifest: sent, ...rest } = body.dbt;
    expect(rest).toEqual({
      select: ['orders', 'customers'],
      exclude: ['tag:slow'],
      fullRefresh: false,
      preview: false,
      simulate: true,
    });
    expect(sent).toEqual(JSON.parse(await readFile(manifest, 'utf8')));
    expect(first.out).toContain('  source   dbt (project jaffle_shop, manifest v8)\n');
    const picture = await readFile(svg, 'utf8');
    expect(XMLValidator.validate(picture)).toBe(true);
    expect(picture).toContain('data-step-id="model.jaffle_shop.orders"');
    expect(picture).toContain('data-step-id="model.jaffle_shop.customers"');

    const second = await dvt([...args, '--graph', mmd]);
    expect(second.code).toBe(0);
    const mermaid = await readFile(mmd, 'utf8');
    expect(mermaid.split('\n').slice(1, 2)).toEqual(['flowchart LR']);
    expect(mermaid).toContain('["model.jaffle_shop.orders<br/>dbt.model"]');
  });

  it('--json prints the api answer as it came', async () => {
    await start();
    api.projects.add('default');
    const { code, out } = await dvt(['plan', planFile, '--json']);
    expect(code).toBe(0);
    const answer = JSON.parse(out);
    expect(answer.schemaVersion).toBe('dvt.execution-plan/v1');
    expect(answer.order.levels).toEqual([['extract'], ['load', 'report'], ['check'], ['publish']]);
  });

  it('prints PLAN_INVALID as one line plus the list of problems, exit 3', async () => {
    await start();
    api.projects.add('default');
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        schemaVersion: 'dvt.plan/v1',
        planId: 'p',
        planVersion: '1',
        steps: [
          { id: 'a', kind: 'teleport' },
          { id: 'b', kind: 'noop' },
          { id: 'c', kind: 'warp' },
        ],
      }),
    );
    const { code, out, err } = await dvt(['plan', bad]);
    expect(out).toBe('');
    expect(err).toBe(
      'dvt: PLAN_INVALID: the plan has 2 problems\n' +
        '  - $.steps[0].kind: unknown kind teleport [PLAN_UNKNOWN_KIND]\n' +
        '  - $.steps[2].kind: unknown kind warp [PLAN_UNKNOWN_KIND]\n',
    );
    expect(code).toBe(3);
  });

  it('rejects dbt-only options for a plan file before calling the api, exit 2', async () => {
    await start();
    const { code, err } = await dvt(['plan', planFile, '--select', 'orders']);
    expect(err).toBe(
      'dvt: --select apply to dbt manifests only; a dvt.plan/v1 plan runs as written (see: dvt plan --help)\n',
    );
    expect(code).toBe(2);
    expect(api.requests).toEqual([]);
  });
});

describe('dvt run (contract)', () => {
  it('submits the plan, starts the run with an Idempotency-Key and prints the links', async () => {
    await start();
    api.projects.add('default');
    const { code, out } = await dvt(['run', planFile, '--idempotency-key', 'key-1']);
    expect(code).toBe(0);
    const startCall = api.requests.find((r) => r.url === '/v1/projects/default/runs')!;
    expect(startCall.idempotencyKey).toBe('key-1');
    expect(startCall.body).toEqual({
      planId: 'nightly-orders',
      planVersion: '1.4.0',
      environment: 'dev',
    });
    const runId = [...api.runs.keys()][0]!;
    expect(out).toBe(
      [
        'plan nightly-orders version 1.4.0: 5 steps in 4 levels',
        `run ${runId} QUEUED (project default, environment dev)`,
        `  self         http://127.0.0.1/v1/runs/${runId}`,
        `  events       http://127.0.0.1/v1/runs/${runId}/events`,
        `  temporal ui  http://localhost:8088/namespaces/default/workflows/run-${runId}`,
        '',
      ].join('\n'),
    );
    // The same key again is the same run; without --idempotency-key every invocation is new.
    await dvt(['run', planFile, '--idempotency-key', 'key-1']);
    expect(api.runs.size).toBe(1);
    await dvt(['run', planFile]);
    await dvt(['run', planFile]);
    const keys = api.requests
      .filter((r) => r.url === '/v1/projects/default/runs')
      .map((r) => r.idempotencyKey);
    expect(keys.length).toBe(4);
    expect(new Set(keys).size).toBe(3);
    expect(keys[2]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('creates a missing environment and retries the start with the same key', async () => {
    await start();
    api.projects.add('default');
    const { code } = await dvt(['run', planFile, '--environment', 'staging']);
    expect(code).toBe(0);
    const calls = api.requests.filter(
      (r) => r.url.includes('/runs') || r.url.includes('/environments'),
    );
    expect(calls.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v1/projects/default/runs',
      'POST /v1/projects/default/environments',
      'POST /v1/projects/default/runs',
    ]);
    expect(calls[1]!.body).toEqual({ name: 'staging' });
    expect(calls[2]!.idempotencyKey).toBe(calls[0]!.idempotencyKey);
  });

  it('--watch resumes a dropped stream with afterSeq: every event once, in order, exit 0', async () => {
    await start({ dropStreamAfter: 5 });
    api.projects.add('default');
    const { code, out } = await dvt(['run', planFile, '--watch']);
    const run = [...api.runs.values()][0]!;
    expect(api.streamConnections).toEqual([0, 5]);
    expect(seqsOf(out)).toEqual(run.events.map((e) => e.runSeq));
    expect(run.events.length).toBe(13);
    expect(out).toContain('dvt: event stream dropped; reconnecting after runSeq 5\n');
    expect(out).toContain('[0/5] #3 StepStarted extract (attempt 1)\n');
    expect(out).toContain('[1/5] #4 StepCompleted extract in 250ms\n');
    expect(out).toContain('[5/5] #13 RunCompleted\n');
    expect(out.endsWith(`run ${run.runId} COMPLETED\n`)).toBe(true);
    expect(code).toBe(0);
  });

  it('--watch shows failures as they happen and exits 1 when the run fails', async () => {
    await start({ failStep: 'load' });
    api.projects.add('default');
    const { code, out, err } = await dvt(['run', planFile, '--watch']);
    expect(out).toContain(
      '#6 StepFailed load (attempt 1): SQL_ERROR: relation "orders" does not exist — will retry\n',
    );
    expect(out).toContain(
      '#8 StepFailed load (attempt 2): SQL_ERROR: relation "orders" does not exist\n',
    );
    expect(err).toBe('dvt: step load failed: SQL_ERROR: relation "orders" does not exist\n');
    const run = [...api.runs.values()][0]!;
    expect(out.endsWith(`run ${run.runId} FAILED: STEP_FAILED: step load failed\n`)).toBe(true);
    expect(code).toBe(1);
  });

  it('--watch falls back to polling when the stream route fails', async () => {
    await start({ streamBroken: true });
    api.projects.add('default');
    const { code, out } = await dvt(['run', planFile, '--watch']);
    const run = [...api.runs.values()][0]!;
    expect(out).toContain(
      `dvt: the event stream answered INTERNAL_ERROR; polling /v1/runs/${run.runId}/events instead\n`,
    );
    expect(seqsOf(out)).toEqual(run.events.map((e) => e.runSeq));
    expect(
      api.requests.filter((r) => r.url.startsWith(`/v1/runs/${run.runId}/events?`)).length,
    ).toBe(1);
    expect(code).toBe(0);
  });

  it('run --plan-id without --plan-version is a usage error, exit 2', async () => {
    await start();
    const { code, err } = await dvt(['run', '--plan-id', 'nightly-orders']);
    expect(err).toBe(
      'dvt: give a manifest or plan file, or both --plan-id and --plan-version of a submitted plan (see: dvt run --help)\n',
    );
    expect(code).toBe(2);
  });
});

describe('read commands and signals (contract)', () => {
  async function finishedRun(options: Partial<FakeApiOptions> = {}) {
    await start(options);
    api.projects.add('default');
    await dvt(['run', planFile]);
    return [...api.runs.values()][0]!;
  }

  it('dvt status prints the run and a table of step states', async () => {
    const run = await finishedRun({ failStep: 'check' });
    const { code, out } = await dvt(['status', run.runId]);
    expect(code).toBe(0);
    expect(out.split('\n')).toEqual([
      `run ${run.runId}  FAILED`,
      '  project default  environment dev  plan nightly-orders version 1.4.0',
      '  created 2025-06-01T10:00:00.100Z  started 2025-06-01T10:00:00.100Z  ended 2025-06-01T10:00:01.400Z',
      '  steps 5: 3 completed, 1 failed, 1 skipped',
      '  error STEP_FAILED: step check failed',
      '',
      'STEP     STATUS     ATTEMPTS  TIME  DETAIL',
      'extract  COMPLETED  1         1.3s',
      'load     COMPLETED  1         1.3s',
      'report   COMPLETED  1         1.3s',
      'check    FAILED     2         1.3s  SQL_ERROR: relation "orders" does not exist',
      'publish  SKIPPED    0         1.3s  an upstream step failed',
      '',
    ]);
  });

  it('dvt runs lists runs; --json prints the raw answer; a bad --status is exit 2', async () => {
    const run = await finishedRun();
    const { code, out } = await dvt(['runs', '--status', 'completed']);
    expect(code).toBe(0);
    expect(api.requests.at(-1)!.url).toBe('/v1/projects/default/runs?status=COMPLETED&limit=20');
    expect(out.split('\n')).toEqual([
      'RUN                                   STATUS     PLAN                  ENV  STEPS  CREATED',
      `${run.runId}  COMPLETED  nightly-orders@1.4.0  dev  5/5    2025-06-01T10:00:00.100Z`,
      '',
    ]);
    const json = await dvt(['runs', '--json']);
    expect(JSON.parse(json.out).runs[0].runId).toBe(run.runId);
    const bad = await dvt(['runs', '--status', 'DONE']);
    expect(bad.err).toBe(
      'dvt: --status "DONE" is not a run status; use one of QUEUED, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED (see: dvt runs --help)\n',
    );
    expect(bad.code).toBe(2);
  });

  it('dvt events prints events after a runSeq; --json gives one JSON object per line', async () => {
    const run = await finishedRun();
    const { code, out } = await dvt(['events', run.runId, '--after-seq', '10']);
    expect(code).toBe(0);
    expect(out).toBe(
      [
        '2025-06-01T10:00:01.100Z #11 StepStarted publish (attempt 1)',
        '2025-06-01T10:00:01.200Z #12 StepCompleted publish in 250ms',
        '2025-06-01T10:00:01.300Z #13 RunCompleted',
        '',
      ].join('\n'),
    );
    const json = await dvt(['events', run.runId, '--after-seq', '11', '--json']);
    expect(
      json.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).runSeq),
    ).toEqual([12, 13]);
  });

  it('dvt events --follow streams to the end and exits by the run outcome', async () => {
    const run = await finishedRun({ failStep: 'publish', dropStreamAfter: 2 });
    const { code, out } = await dvt(['events', run.runId, '--follow', '--after-seq', '4']);
    expect(api.streamConnections).toEqual([4, 6]);
    expect(seqsOf(out)).toEqual(run.events.filter((e) => e.runSeq > 4).map((e) => e.runSeq));
    expect(code).toBe(1);
  });

  it('signals carry a random signalId (or --signal-id), the type, step and reason', async () => {
    await start();
    api.projects.add('default');
    await dvt(['run', planFile]);
    const run = [...api.runs.values()][0]!;
    run.events.pop(); // the run is still going
    const a = await dvt(['pause', run.runId, '--reason', 'maintenance']);
    const b = await dvt(['retry-step', run.runId, '--step', 'load', '--signal-id', 'sig-7']);
    const c = await dvt(['approve', run.runId, '--step', 'sign-off']);
    expect([a.code, b.code, c.code]).toEqual([0, 0, 0]);
    expect(api.signals[0]).toEqual({
      signalId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'PAUSE',
      reason: 'maintenance',
    });
    expect(api.signals[1]).toEqual({ signalId: 'sig-7', type: 'RETRY_STEP', stepId: 'load' });
    expect(api.signals[2]).toMatchObject({ type: 'APPROVE', stepId: 'sign-off' });
    expect(b.out).toBe(`RETRY_STEP step load sent to run ${run.runId} (signalId sig-7)\n`);
  });

  it('a signal the run state refuses prints its code and detail, exit 3', async () => {
    const run = await finishedRun();
    const { code, err } = await dvt(['cancel', run.runId]);
    expect(err).toBe(
      `dvt: RUN_TERMINAL: run ${run.runId} has ended (COMPLETED); the signal is not allowed\n`,
    );
    expect(code).toBe(3);
  });

  it('skip-step without --step is a usage error and sends nothing, exit 2', async () => {
    await start();
    const { code, err } = await dvt(['skip-step', 'r-1']);
    expect(err).toBe(
      'dvt: skip-step needs --step with the id of the step (see: dvt skip-step --help)\n',
    );
    expect(code).toBe(2);
    expect(api.requests).toEqual([]);
  });
});

describe('credentials and connection errors (contract)', () => {
  it('mints a dev token with DVT_JWT_SECRET when no token is given; a wrong one is UNAUTHENTICATED', async () => {
    await start({ secret: 'a-test-secret-of-more-than-thirty-two-chars' });
    const ok = await dvt(['runs'], {
      DVT_JWT_SECRET: 'a-test-secret-of-more-than-thirty-two-chars',
    });
    expect(ok.err).toBe('');
    expect(ok.out).toBe('no runs in project default\n');
    const wrong = await dvt(['runs']);
    expect(wrong.err).toBe('dvt: UNAUTHENTICATED: the token signature does not verify\n');
    expect(wrong.code).toBe(3);
    // --token wins over DVT_JWT_SECRET: a good token passes although the secret is wrong.
    const minted = await dvt(['token', '--sub', 'alice'], {
      DVT_JWT_SECRET: 'a-test-secret-of-more-than-thirty-two-chars',
    });
    const given = await dvt(['runs', '--token', minted.out.trim()], { DVT_JWT_SECRET: 'wrong' });
    expect(given.err).toBe('');
    expect(given.code).toBe(0);
    expect(api.requests.at(-1)!.authorization).toBe(`Bearer ${minted.out.trim()}`);
  });

  it('warns when dvt token mints a token the default api refuses for its lifetime', async () => {
    const env = { DVT_JWT_SECRET: 'a-test-secret-of-more-than-thirty-two-chars' };
    const long = await dvt(['token', '--ttl', '48h'], env);
    expect(long.code).toBe(0);
    expect(long.out.trim().split('.')).toHaveLength(3);
    expect(long.err).toBe(
      'dvt token: warning: a token living 172800 s is refused by an api with the default AUTH_MAX_TOKEN_TTL_SECONDS (86400); use --ttl 24h or less, or raise that setting\n',
    );
    expect((await dvt(['token', '--ttl', '24h'], env)).err).toBe('');
  });

  it('says the api cannot be reached when nothing listens, exit 3', async () => {
    const port = await freePort();
    const io = captureIo({ env: { DVT_API_URL: `http://127.0.0.1:${port}` } });
    const code = await runCli(['status', 'r-1'], io);
    expect(io.stderrText()).toBe(
      `dvt: cannot reach the api at http://127.0.0.1:${port} — is the stack up? (pnpm stack up)\n`,
    );
    expect(code).toBe(3);
  });
});

describe('scripts/dvt as a process (contract)', () => {
  const run = promisify(execFile);
  async function spawnDvt(args: string[]) {
    try {
      const { stdout, stderr } = await run('bash', [join(repoRoot, 'scripts/dvt'), ...args], {
        env: { PATH: process.env.PATH ?? '', DVT_API_URL: api.url },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('exits 0 for a completed run, 1 for a failed one, 2 for a usage error', async () => {
    await start({ failStep: 'publish' });
    api.projects.add('default');
    const failed = await spawnDvt(['run', planFile, '--watch']);
    expect(failed.stderr).toBe(
      'dvt: step publish failed: SQL_ERROR: relation "orders" does not exist\n',
    );
    expect(failed.code).toBe(1);
    const usage = await spawnDvt(['run', planFile, '--wacth']);
    expect(usage.stderr).toBe("dvt: unknown option '--wacth' (see: dvt run --help)\n");
    expect(usage.code).toBe(2);
    await api.close();
    await start();
    api.projects.add('default');
    const ok = await spawnDvt(['run', planFile, '--watch']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/\nrun [0-9a-f-]{36} COMPLETED\n$/);
    expect(ok.code).toBe(0);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
