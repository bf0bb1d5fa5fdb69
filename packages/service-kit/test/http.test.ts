import { createServer } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  createHttpServer,
  createLogger,
  createMetrics,
  HealthRegistry,
  requireInternalToken,
} from '../src/index.ts';

function build(probe?: () => Promise<void>) {
  const health = new HealthRegistry({ timeoutMs: 200 });
  health.register('dep', probe ?? (async () => undefined));
  const app = createHttpServer({
    log: createLogger({ service: 't', level: 'silent' }),
    health,
    metrics: createMetrics('t'),
  });
  app.get('/items/:id', async (req) => ({ length: (req.params as { id: string }).id.length }));
  app.get(
    '/internal',
    { preHandler: requireInternalToken('0123456789abcdef-token') },
    async () => ({ ok: true }),
  );
  return app;
}

describe('createHttpServer', () => {
  it('answers a body that is not JSON with MALFORMED_JSON, and a SyntaxError of a handler with INTERNAL_ERROR', async () => {
    const app = build();
    app.post('/echo', async (req) => req.body as object);
    const reversed = ['[', 'z-a', ']'].join(''); // built at run time, as a selector would be
    app.post('/regex', async () => ({ ok: new RegExp(reversed, 'u').test('a') }));
    const bad = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"a": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('MALFORMED_JSON');
    const bug = await app.inject({
      method: 'POST',
      url: '/regex',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(bug.statusCode).toBe(500);
    expect(bug.json().code).toBe('INTERNAL_ERROR');
    expect(bug.body).not.toContain('Range out of order');
  });

  it('answers unknown routes with a problem+json NOT_FOUND', async () => {
    const res = await build().inject({ method: 'GET', url: '/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({
      code: 'NOT_FOUND',
      status: 404,
      detail: 'no route GET /nope',
      instance: '/nope',
    });
  });

  it('accepts path ids up to 1024 characters and answers longer ones with URI_TOO_LONG', async () => {
    const app = build();
    expect((await app.inject({ method: 'GET', url: `/items/${'a'.repeat(309)}` })).json()).toEqual({
      length: 309,
    });
    const res = await app.inject({ method: 'GET', url: `/items/${'a'.repeat(2000)}` });
    expect(res.statusCode).toBe(414);
    expect(res.json()).toMatchObject({ code: 'URI_TOO_LONG' });
    expect(res.body).not.toContain('a'.repeat(1100));
  });

  it('answers a URL it cannot decode with a problem, not a crash', async () => {
    const res = await build().inject({ method: 'GET', url: '/items/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('echoes a well-formed request id and replaces a malformed one', async () => {
    const app = build();
    const given = await app.inject({
      method: 'GET',
      url: '/livez',
      headers: { 'x-request-id': 'req-123' },
    });
    expect(given.headers['x-request-id']).toBe('req-123');
    const bad = await app.inject({
      method: 'GET',
      url: '/livez',
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('guards internal routes with the internal token', async () => {
    const app = build();
    const none = await app.inject({ method: 'GET', url: '/internal' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    const wrong = await app.inject({
      method: 'GET',
      url: '/internal',
      headers: { 'x-internal-token': '0123456789abcdef-tokex' },
    });
    expect(wrong.statusCode).toBe(401);
    const right = await app.inject({
      method: 'GET',
      url: '/internal',
      headers: { 'x-internal-token': '0123456789abcdef-token' },
    });
    expect(right.json()).toEqual({ ok: true });
  });

  it('answers /healthz quickly with 503 naming a dependency that hangs', async () => {
    const app = build(() => new Promise(() => undefined));
    const started = Date.now();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'unavailable',
      checks: { dep: { ok: false, error: 'no answer within 200 ms' } },
    });
  });

  it('serves Prometheus metrics', async () => {
    const app = build();
    await app.inject({ method: 'GET', url: '/livez' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('dvt_http_request_duration_seconds_bucket');
    expect(res.body).toContain('route="/livez"');
  });

  it('answers 503 DEPENDENCY_UNAVAILABLE naming postgres when the database cannot be reached', async () => {
    // A loopback port nobody listens on: node-postgres fails with ECONNREFUSED.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'x', connectionTimeoutMillis: 2000 });
    const app = build();
    app.get('/db', async () => pool.query('select 1'));
    const sqlstate = (code: string) => Object.assign(new Error(`pg says ${code}`), { code });
    const thrown: Record<string, Error> = {
      shutdown: sqlstate('57P01'),
      cannotConnectNow: sqlstate('57P03'),
      tooManyConnections: sqlstate('53300'),
      connectionException: sqlstate('08006'),
      terminated: new Error('Connection terminated unexpectedly'),
      acquireTimeout: new Error('timeout exceeded when trying to connect'),
      wrapped: new Error('query failed', { cause: sqlstate('ECONNRESET') }),
      syntax: sqlstate('42601'),
    };
    for (const [name, error] of Object.entries(thrown)) {
      app.get(`/throw/${name}`, async () => {
        throw error;
      });
    }
    try {
      const res = await app.inject({ method: 'GET', url: '/db' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        dependency: 'postgres',
        detail: 'the database (postgres) is not reachable; retry shortly',
      });
      const statuses: Record<string, number> = {};
      for (const name of Object.keys(thrown)) {
        const answer = await app.inject({ method: 'GET', url: `/throw/${name}` });
        statuses[name] = answer.statusCode;
        if (answer.statusCode === 503) expect(answer.json().dependency).toBe('postgres');
      }
      expect(statuses).toEqual({
        shutdown: 503,
        cannotConnectNow: 503,
        tooManyConnections: 503,
        connectionException: 503,
        terminated: 503,
        acquireTimeout: 503,
        wrapped: 503,
        syntax: 500,
      });
    } finally {
      await pool.end();
    }
  });
});
