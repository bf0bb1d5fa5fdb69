import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createLogger } from '@dvt/service-kit';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import { loadEngineConfig, sqlTargetUrls } from '../src/config.ts';
import { runHttp } from '../src/executors/http.ts';
import { runSql } from '../src/executors/sql.ts';
import {
  Allowlist,
  forbiddenReason,
  resolveGuarded,
  type Resolver,
} from '../src/executors/ssrf.ts';
import { TargetRegistry } from '../src/executors/targets.ts';
import { createStepLog, type ExecutorContext } from '../src/executors/types.ts';

const ctx = (signal = new AbortController().signal): ExecutorContext => ({
  signal,
  log: createStepLog(),
});
const log = createLogger({ service: 't', level: 'silent' });

describe('SSRF guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.10.10', 'link-local'],
    ['100.100.100.200', 'carrier-grade NAT (cloud metadata)'],
    ['0.0.0.0', 'unspecified'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fe80::1', 'IPv6 link-local'],
    ['fd00:ec2::254', 'IPv6 unique local (AWS metadata)'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata in hex'],
    ['64:ff9b::a00:1', 'NAT64 of a private address'],
  ])('refuses %s (%s)', (address) => {
    expect(forbiddenReason(address)).toBeDefined();
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111'])(
    'lets public %s through',
    (address) => {
      expect(forbiddenReason(address)).toBeUndefined();
    },
  );

  it('refuses a name that resolves to a private address, naming host, address and the fix', async () => {
    const resolver: Resolver = async () => [{ address: '10.0.0.5', family: 4 }];
    await expect(
      resolveGuarded('internal.example', new Allowlist([]), resolver),
    ).rejects.toMatchObject({
      code: 'HTTP_DESTINATION_FORBIDDEN',
      retryable: false,
      message:
        'refusing to connect to internal.example (10.0.0.5): it is a loopback, private, link-local or reserved IPv4 address; add the host or address to HTTP_ALLOWLIST if this is intended',
    });
  });

  it('refuses when any of several answers is private', async () => {
    const resolver: Resolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    await expect(
      resolveGuarded('mixed.example', new Allowlist([]), resolver),
    ).rejects.toMatchObject({
      code: 'HTTP_DESTINATION_FORBIDDEN',
    });
  });

  it('allows what the allowlist names: a host, an address, a range', async () => {
    const resolver: Resolver = async () => [{ address: '10.9.8.7', family: 4 }];
    expect(await resolveGuarded('db.internal', new Allowlist(['db.internal']), resolver)).toEqual({
      address: '10.9.8.7',
      family: 4,
    });
    expect(await resolveGuarded('x.internal', new Allowlist(['10.9.8.7']), resolver)).toEqual({
      address: '10.9.8.7',
      family: 4,
    });
    expect(await resolveGuarded('y.internal', new Allowlist(['10.0.0.0/8']), resolver)).toEqual({
      address: '10.9.8.7',
      family: 4,
    });
    await expect(
      resolveGuarded('z.internal', new Allowlist(['192.168.0.0/16']), resolver),
    ).rejects.toMatchObject({
      code: 'HTTP_DESTINATION_FORBIDDEN',
    });
  });
});

describe('http executor', () => {
  let server: http.Server;
  let port: number;
  const hits: { url: string; host: string | undefined; body: string }[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        hits.push({ url: req.url ?? '', host: req.headers.host, body });
        if (req.url === '/slow') return; // never answers
        res.statusCode = req.url === '/fail' ? 503 : 200;
        res.end(JSON.stringify({ ok: true }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const allowed = { allowlist: new Allowlist(['127.0.0.1']), maxResponseBytes: 1024 };

  it('refuses loopback without the allowlist, before sending anything', async () => {
    const before = hits.length;
    await expect(
      runHttp(
        { method: 'GET', url: `http://127.0.0.1:${port}/x`, expectStatus: 200 },
        { allowlist: new Allowlist([]), maxResponseBytes: 1024 },
        ctx(),
      ),
    ).rejects.toMatchObject({ code: 'HTTP_DESTINATION_FORBIDDEN' });
    await expect(
      runHttp(
        { method: 'GET', url: `http://localhost:${port}/x`, expectStatus: 200 },
        { allowlist: new Allowlist([]), maxResponseBytes: 1024 },
        ctx(),
      ),
    ).rejects.toMatchObject({ code: 'HTTP_DESTINATION_FORBIDDEN' });
    expect(hits.length).toBe(before);
  });

  it('posts to an allowlisted server and checks the status', async () => {
    const result = await runHttp(
      {
        method: 'POST',
        url: `http://127.0.0.1:${port}/ok?token=secret`,
        body: { a: 1 },
        expectStatus: [200, 201],
      },
      allowed,
      ctx(),
    );
    expect(result.output).toMatchObject({
      method: 'POST',
      url: `http://127.0.0.1:${port}/ok`,
      status: 200,
      body: '{"ok":true}',
    });
    expect(hits.at(-1)).toMatchObject({ url: '/ok?token=secret', body: '{"a":1}' });
  });

  it('fails on an unexpected status, retryable for 5xx', async () => {
    await expect(
      runHttp(
        { method: 'GET', url: `http://127.0.0.1:${port}/fail`, expectStatus: 200 },
        allowed,
        ctx(),
      ),
    ).rejects.toMatchObject({
      code: 'HTTP_UNEXPECTED_STATUS',
      retryable: true,
      message: `GET http://127.0.0.1:${port}/fail answered 503; the step expects 200`,
    });
  });

  it('times out a server that never answers', async () => {
    await expect(
      runHttp(
        { method: 'GET', url: `http://127.0.0.1:${port}/slow`, expectStatus: 200, timeoutMs: 300 },
        allowed,
        ctx(),
      ),
    ).rejects.toMatchObject({ code: 'HTTP_TIMEOUT' });
  });

  it('connects to the address it checked, resolving the name once (no DNS rebinding)', async () => {
    let calls = 0;
    // a rebinding resolver: the first answer is the allowed one, later answers would differ
    const resolver: Resolver = async () =>
      calls++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.0.0.1', family: 4 }];
    const result = await runHttp(
      { method: 'GET', url: `http://rebind.test:${port}/pinned`, expectStatus: 200 },
      { ...allowed, resolver },
      ctx(),
    );
    expect(result.output.status).toBe(200);
    expect(calls).toBe(1);
    expect(hits.at(-1)).toMatchObject({ url: '/pinned', host: `rebind.test:${port}` });
  });
});

describe('sql executor', () => {
  let db: TestDatabase;
  let targets: TargetRegistry;
  beforeAll(async () => {
    db = await createTestDatabase('sqlx');
    targets = new TargetRegistry({ urls: { warehouse: db.url }, log });
  });
  afterAll(async () => {
    await targets.close();
    await db.drop();
  });

  it('runs statements in one transaction and records row counts', async () => {
    const result = await runSql(
      {
        target: 'warehouse',
        sql: 'create table t (id int); insert into t select generate_series(1, 3); select * from t where id > 1',
      },
      targets,
      ctx(),
    );
    expect(result.output).toEqual({
      target: 'warehouse',
      statements: [
        { command: 'CREATE', rowCount: null },
        { command: 'INSERT', rowCount: 3 },
        { command: 'SELECT', rowCount: 2 },
      ],
      rows: 2,
    });
  });

  it('rolls the whole transaction back when a statement fails', async () => {
    await expect(
      runSql({ target: 'warehouse', sql: 'create table t2 (id int); select 1/0' }, targets, ctx()),
    ).rejects.toMatchObject({ code: 'SQL_FAILED', retryable: false });
    const check = await runSql(
      { target: 'warehouse', sql: "select 1 from pg_class where relname = 't2'", expectRows: 0 },
      targets,
      ctx(),
    );
    expect(check.output.rows).toBe(0);
  });

  it('checks expectRows', async () => {
    await expect(
      runSql(
        { target: 'warehouse', sql: 'select 1 union all select 2', expectRows: 0 },
        targets,
        ctx(),
      ),
    ).rejects.toMatchObject({
      code: 'SQL_EXPECT_ROWS_MISMATCH',
      message: 'the last statement returned 2 row(s); the step expects 0',
    });
  });

  it('stops a statement at its statementTimeoutMs', async () => {
    await expect(
      runSql(
        { target: 'warehouse', sql: 'select pg_sleep(5)', statementTimeoutMs: 200 },
        targets,
        ctx(),
      ),
    ).rejects.toMatchObject({ code: 'SQL_STATEMENT_TIMEOUT' });
  });

  it('names the configured targets when a step asks for an unknown one', async () => {
    await expect(runSql({ target: 'nope', sql: 'select 1' }, targets, ctx())).rejects.toMatchObject(
      {
        code: 'SQL_TARGET_UNKNOWN',
        message:
          'no SQL target named "nope"; configured targets: warehouse (add it to SQL_TARGETS)',
      },
    );
  });

  it('cancels the running query on the server when aborted', async () => {
    const abort = new AbortController();
    const running = runSql(
      { target: 'warehouse', sql: 'select pg_sleep(30) as dvt_abort_probe' },
      targets,
      ctx(abort.signal),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    abort.abort(new Error('cancelled by test'));
    await expect(running).rejects.toThrow('cancelled by test');
    const probe = new TargetRegistry({ urls: { warehouse: db.url }, log });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const left = await runSql(
      {
        target: 'warehouse',
        sql: "select 1 from pg_stat_activity where query like 'select pg_sleep(30) as dvt_abort_probe%'",
      },
      probe,
      ctx(),
    );
    await probe.close();
    expect(left.output.rows).toBe(0);
  });
});

describe('configuration', () => {
  const env = {
    DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/dvt',
    INTERNAL_API_TOKEN: 'x'.repeat(16),
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
  };

  it('defaults the warehouse target to the database server’s warehouse database', () => {
    const config = loadEngineConfig(env);
    expect(sqlTargetUrls(config)).toEqual({ warehouse: 'postgres://u:p@127.0.0.1:5432/warehouse' });
    expect(config.ENGINE_HEARTBEAT_TIMEOUT_MS).toBe(10_000);
  });

  it('names SQL_TARGETS when it is not a JSON object of URLs', () => {
    expect(() => loadEngineConfig({ ...env, SQL_TARGETS: '{nope' })).toThrow(ConfigError);
    expect(() => loadEngineConfig({ ...env, SQL_TARGETS: '{nope' })).toThrow(
      'SQL_TARGETS: must be a JSON object of target name to postgres URL',
    );
    expect(() => loadEngineConfig({ ...env, SQL_TARGETS: '{"pg":"mysql://x"}' })).toThrow(
      'SQL_TARGETS.pg',
    );
  });

  it('parses HTTP_ALLOWLIST into entries', () => {
    expect(
      loadEngineConfig({ ...env, HTTP_ALLOWLIST: ' 127.0.0.1, 10.0.0.0/8 ,Internal.Example' })
        .HTTP_ALLOWLIST,
    ).toEqual(['127.0.0.1', '10.0.0.0/8', 'internal.example']);
  });
});
