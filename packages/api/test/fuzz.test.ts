/**
 * A fuzz pass (fast-check) of malformed requests against every route of the table, with the
 * real planner and engine behind the api: random path values, query strings, headers,
 * credentials and bodies (valid JSON of any shape, broken JSON, wrong content types). No
 * answer may be a 5xx, every error must be problem+json with a known code, and the service
 * must still answer afterwards.
 */
import { errorCodes } from '@dvt/contracts';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, startDependencies, type ApiHarness } from './helpers.ts';

let db: TestDatabase;
let deps: Awaited<ReturnType<typeof startDependencies>>;
let api: ApiHarness;
let tokens: string[];

beforeAll(async () => {
  db = await createTestDatabase('apifuzz');
  deps = await startDependencies(db);
  api = await startApi(
    { PLANNER_URL: deps.plannerUrl, ENGINE_URL: deps.engineUrl, RATE_LIMIT_MAX: '100000' },
    db,
  );
  const admin = await api.token('fuzz', ['admin']);
  await api.call('POST', '/v1/projects', { token: admin, body: { projectId: 'fz', name: 'fz' } });
  await api.call('POST', '/v1/projects/fz/environments', { token: admin, body: { name: 'dev' } });
  tokens = [
    admin,
    await api.token('fuzz', ['viewer']),
    await api.token('other', ['admin']),
    'garbage',
    'dvtk_nope',
    `${admin}x`,
  ];
}, 180_000);

afterAll(async () => {
  await api?.close();
  await deps?.stop();
  await db?.drop();
});

const segment = fc.oneof(
  // Segments stay within Fastify's maxParamLength (100): longer ones get the router's own
  // 414 in plain JSON, which createHttpServer (service-kit) does not map yet — reported.
  fc.constantFrom(
    'fz',
    'dev',
    'nightly',
    '1.0.0',
    '..',
    '%00',
    '%2F',
    'a'.repeat(100),
    '0'.repeat(64),
    'RUN',
  ),
  fc.string({ minLength: 0, maxLength: 40 }).map((s) => encodeURIComponent(s)),
);

const body = fc.oneof(
  fc.json().map((text) => ({ text, type: 'application/json' })),
  fc.jsonValue().map((v) => ({ text: JSON.stringify({ plan: v }), type: 'application/json' })),
  fc.jsonValue().map((v) => ({
    text: JSON.stringify({ dbt: { manifest: v, select: ['+x'] } }),
    type: 'application/json',
  })),
  fc
    .record({ planId: fc.string(), planVersion: fc.string(), environment: fc.string() })
    .map((v) => ({ text: JSON.stringify(v), type: 'application/json' })),
  fc
    .record({
      signalId: fc.string(),
      type: fc.constantFrom('PAUSE', 'CANCEL', 'RETRY_STEP', 'BOGUS'),
      stepId: fc.option(fc.string()),
    })
    .map((v) => ({
      text: JSON.stringify(v),
      type: 'application/json',
    })),
  fc.string({ maxLength: 200 }).map((text) => ({ text, type: 'application/json' })),
  fc
    .tuple(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', ''),
    )
    .map(([text, type]) => ({ text, type })),
);

const query = fc.dictionary(
  fc.constantFrom('afterSeq', 'limit', 'status', 'cursor', 'access_token', 'x'),
  fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer().map(String),
    fc.constant('-1'),
    fc.constant('1e309'),
  ),
  { maxKeys: 3 },
);

describe('fuzz', () => {
  it('never answers 5xx to malformed requests on any route', async () => {
    const routes = api.service.routes.filter(
      (r) => r.kind !== 'websocket' && r.id !== 'events.sse',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes.map((r) => r.id)),
        fc.array(segment, { minLength: 3, maxLength: 3 }),
        query,
        fc.option(body, { nil: undefined }),
        fc.nat({ max: tokens.length }),
        fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
        async (routeId, segments, q, payload, tokenIndex, idempotencyKey) => {
          const route = routes.find((r) => r.id === routeId)!;
          let i = 0;
          const path = route.url.replace(/:[A-Za-z0-9]+/g, () => segments[i++]!);
          const search = new URLSearchParams(q).toString();
          const headers: Record<string, string> = {};
          if (tokenIndex < tokens.length) headers.authorization = `Bearer ${tokens[tokenIndex]}`;
          if (payload?.type) headers['content-type'] = payload.type;
          if (idempotencyKey !== undefined && /^[\x21-\x7e]*$/.test(idempotencyKey))
            headers['idempotency-key'] = idempotencyKey;
          const res = await fetch(`${api.baseUrl}${path}${search ? `?${search}` : ''}`, {
            method: route.method,
            headers,
            ...(payload && route.method !== 'GET' ? { body: payload.text } : {}),
            signal: AbortSignal.timeout(20_000),
          });
          const text = await res.text();
          expect({ route: route.id, path, status: res.status < 500 ? 'ok' : text }).toEqual({
            route: route.id,
            path,
            status: 'ok',
          });
          if (res.status >= 400) {
            expect({ type: res.headers.get('content-type'), text }).toEqual({
              type: 'application/problem+json; charset=utf-8',
              text,
            });
            const problem = JSON.parse(text) as { code: string; status: number };
            expect(problem.code in errorCodes).toBe(true);
            expect(problem.status).toBe(res.status);
          }
        },
      ),
      { numRuns: 400, seed: 20261204 },
    );
    expect((await fetch(`${api.baseUrl}/livez`)).status).toBe(200);
  }, 300_000);
});
