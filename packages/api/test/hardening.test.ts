/**
 * Findings of the security review, each answered by a test: artifact visibility of project-
 * scoped grants, deeply nested JSON, bad JWT claim values and lifetimes, the database going
 * away, the planner's body limit, webhook destinations and refused Origins.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, createLogger, createMetrics, HealthRegistry } from '@dvt/service-kit';
import { startPrivatePostgres } from '@dvt/testkit';
// The planner's own route code, mounted in-process so its limits can be set per test.
import { registerPlannerRoutes } from '../../planner/src/routes.ts';
import { inspectJson, MAX_JSON_DEPTH } from '../src/http/zod-schema.ts';
import {
  ALLOWED_ORIGIN,
  freePort,
  INTERNAL_TOKEN,
  seedRun,
  startApi,
  TEST_SECRET,
  type ApiHarness,
} from './helpers.ts';

const T = 'tenant-h';
let api: ApiHarness;
const resolved: string[] = [];

/** Answers for webhook host names; nothing is ever sent to these addresses. */
const fakeDns: Record<string, string[]> = {
  'hooks.internal.test': ['10.1.2.3'],
  'mixed.example.test': ['93.184.215.14', '192.168.1.5'],
  'public.example.test': ['93.184.215.14'],
};

beforeAll(async () => {
  api = await startApi({ WEBHOOK_ALLOWLIST: '10.9.0.0/16, allowed.internal.test' }, undefined, {
    resolver: async (host) => {
      resolved.push(host);
      const answers = fakeDns[host];
      if (!answers) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    },
  });
  const pool = api.service.database.pool;
  for (const p of ['p1', 'p2']) {
    await pool.query(
      `insert into api_projects (tenant_id, project_id, name, created_by) values ($1, $2, $2, 'seed')`,
      [T, p],
    );
  }
}, 60_000);

afterAll(async () => {
  await api?.close();
});

function sign(claims: Record<string, unknown>, options: { ttlSeconds?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(api.config.AUTH_ISSUER)
    .setAudience(api.config.AUTH_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 600))
    .sign(new TextEncoder().encode(TEST_SECRET));
}

async function upload(token: string, text: string, query = '') {
  return api.call('POST', `/v1/artifacts${query}`, {
    token,
    body: text,
    headers: { 'content-type': 'text/plain' },
  });
}

describe('artifact visibility of project-scoped grants', () => {
  const sha: Record<string, string> = {};

  beforeAll(async () => {
    const admin = await api.token(T, ['admin']);
    for (const name of ['plan', 'runOutput', 'tenantLevel']) {
      const stored = await upload(admin, `artifact ${name} ${T}`);
      expect(stored.status).toBe(201);
      sha[name] = stored.body.sha256;
    }
    const pool = api.service.database.pool;
    // A plan the api stored for p1.
    await pool.query(
      `insert into api_plan_versions (tenant_id, project_id, plan_id, plan_version, sha256, artifact_uri, size_bytes, schema_version,
         source_kind, source_sha256, steps_total, requires_approval, created_by)
       values ($1, 'p1', 'p', '1', $2, 'pg://x', 10, 'dvt.execution-plan/v1', 'plan', 'x', 0, false, 'seed')`,
      [T, sha.plan],
    );
    // A step output the engine stored and named from a StepCompleted event of a p1 run.
    await seedRun(api, { tenantId: T, projectId: 'p1', runId: 'run-h1', events: 1 });
    await api.runs.appendEvents([
      {
        runId: 'run-h1',
        tenantId: T,
        projectId: 'p1',
        environment: 'dev',
        planId: 'p',
        planVersion: '1',
        eventType: 'StepCompleted',
        stepId: 's1',
        logicalAttemptId: 's1#1',
        attempt: 1,
        payload: { outputSha256: sha.runOutput, logSha256: sha.runOutput },
        emittedAt: new Date(),
      },
    ]);
  });

  async function statusFor(roles: string[], name: string, tenant = T) {
    const token = await api.token(tenant, roles, { sub: `reader-${roles.join('-')}` });
    return (await api.call('GET', `/v1/artifacts/${sha[name]}`, { token })).status;
  }

  it('lets a viewer of p1 read the plans and run artifacts of p1 only', async () => {
    expect({
      plan: await statusFor(['viewer:p1'], 'plan'),
      runOutput: await statusFor(['viewer:p1'], 'runOutput'),
      tenantLevel: await statusFor(['viewer:p1'], 'tenantLevel'),
    }).toEqual({ plan: 200, runOutput: 200, tenantLevel: 404 });
  });

  it('answers 404 to a viewer of p2 for the artifacts of p1, worded as a missing one', async () => {
    const token = await api.token(T, ['viewer:p2']);
    const res = await api.call('GET', `/v1/artifacts/${sha.plan}`, { token });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      code: 'ARTIFACT_NOT_FOUND',
      detail: `no artifact ${sha.plan} in this tenant`,
    });
    expect(await statusFor(['viewer:p2'], 'runOutput')).toBe(404);
  });

  it('lets a tenant-wide viewer read every artifact and keeps other tenants at 404', async () => {
    for (const name of ['plan', 'runOutput', 'tenantLevel']) {
      expect({ name, status: await statusFor(['viewer'], name) }).toEqual({ name, status: 200 });
      expect({ name, status: await statusFor(['admin'], name, 'tenant-other') }).toEqual({
        name,
        status: 404,
      });
    }
  });

  it('links an upload to the project named in ?projectId= and refuses other targets', async () => {
    const author = await api.token(T, ['author:p2']);
    const own = await upload(author, 'for p2 only', '?projectId=p2');
    expect(own.status).toBe(201);
    sha.p2Upload = own.body.sha256;
    expect(await statusFor(['viewer:p2'], 'p2Upload')).toBe(200);
    expect(await statusFor(['viewer:p1'], 'p2Upload')).toBe(404);

    const tenantLevel = await upload(author, 'tenant level');
    expect(tenantLevel.status).toBe(403);
    expect(tenantLevel.body.detail).toBe(
      'a tenant-level upload needs a tenant-wide author or admin grant; the credential grants: author:p2. Upload for one of your projects with ?projectId=<project>',
    );
    const other = await upload(author, 'for p1', '?projectId=p1');
    expect(other.status).toBe(403);
    expect(other.body.detail).toBe(
      'uploading for project p1 needs the role author or admin on it; the credential grants: author:p2',
    );
    const missing = await upload(await api.token(T, ['admin']), 'x', '?projectId=nope');
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('no project nope; create it with POST /v1/projects');
  });

  it('refuses a project-scoped author compiling a manifest artifact of another project', async () => {
    const token = await api.token(T, ['author:p2']);
    const res = await api.call('POST', '/v1/projects/p2/plans', {
      token,
      body: { dbt: { manifestSha256: sha.plan } },
    });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('ARTIFACT_NOT_FOUND');
  });
});

describe('deeply nested JSON', () => {
  it('answers 400 naming the nesting limit for a 20,000-deep http body and a 50,000-deep manifest', async () => {
    const token = await api.token(T, ['admin']);
    const deepArrays = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const plan = `{"plan":{"schemaVersion":"dvt.plan/v1","planId":"x","planVersion":"1","steps":[{"id":"s","kind":"http","params":{"url":"https://example.test/","body":${deepArrays}}}]}}`;
    const deepObject = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
    const manifest = `{"dbt":{"manifest":{"nodes":${deepObject}}}}`;
    for (const body of [plan, manifest]) {
      const res = await api.call('POST', '/v1/projects/p1/plans', { token, body });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'VALIDATION_FAILED',
        detail: `invalid body: arrays and objects nest deeper than the limit of ${MAX_JSON_DEPTH} levels; flatten the document`,
        maxDepth: 256,
      });
    }
  });

  it('measures depth exactly and finds NUL without recursion', () => {
    const nest = (levels: number, leaf: unknown): unknown => {
      let value = leaf;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    expect(inspectJson(nest(256, 1))).toBe('ok');
    expect(inspectJson(nest(257, 1))).toBe('too-deep');
    expect(inspectJson(nest(100_000, 'a\u0000'), Number.POSITIVE_INFINITY)).toBe('nul');
    expect(inspectJson({ ['k\u0000']: 1 })).toBe('nul');
  });
});

describe('JWT claim values and lifetime', () => {
  async function projectsWith(claims: Record<string, unknown>, ttlSeconds?: number) {
    const token = await sign(claims, ttlSeconds ? { ttlSeconds } : {});
    return api.call('GET', '/v1/projects', { token });
  }

  it('answers 401 naming the claim for a tenant, sub or role with NUL or out of bounds', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ sub: 'u', tenant: 'acme\u0000', roles: ['viewer'] }, 'tenant claim'],
      [{ sub: 'u', tenant: 'x'.repeat(129), roles: ['viewer'] }, 'tenant claim'],
      [{ sub: 'u', tenant: 'acme corp', roles: ['viewer'] }, 'tenant claim'],
      [{ sub: 'u\u0000', tenant: 'acme', roles: ['viewer'] }, 'sub claim'],
      [{ sub: 'u', tenant: 'acme', roles: ['viewer\u0000'] }, 'roles claim'],
      [{ sub: 'u', tenant: 'acme', roles: ['viewer:'.padEnd(300, 'p')] }, 'roles claim'],
    ];
    for (const [claims, named] of cases) {
      const res = await projectsWith(claims);
      expect({ named, status: res.status, code: res.body.code }).toEqual({
        named,
        status: 401,
        code: 'UNAUTHENTICATED',
      });
      expect(res.body.detail).toContain(`the token's ${named} is not`);
    }
    const fine = await projectsWith({
      sub: 'auth0|user@x',
      tenant: 'acme.eu-1',
      roles: ['viewer'],
    });
    expect(fine.status).toBe(200);
  });

  it('refuses a token living longer than AUTH_MAX_TOKEN_TTL_SECONDS (default 24 h)', async () => {
    const claims = { sub: 'u', tenant: 'acme', roles: ['viewer'] };
    const long = await projectsWith(claims, 2 * 24 * 3600);
    expect(long.status).toBe(401);
    expect(long.body.detail).toBe(
      'the token lives longer than the 86400 s this api accepts (exp - iat, AUTH_MAX_TOKEN_TTL_SECONDS); issue a shorter-lived token',
    );
    expect((await projectsWith(claims, 23 * 3600)).status).toBe(200);
  });
});

describe('webhook destinations', () => {
  async function subscribe(url: string) {
    const token = await api.token(T, ['admin']);
    return api.call('POST', '/v1/projects/p1/webhooks', { token, body: { url } });
  }

  it('refuses metadata, private and loopback addresses with 422 naming WEBHOOK_ALLOWLIST', async () => {
    const cases: Record<string, string> = {
      'http://169.254.169.254/latest/meta-data/':
        'webhook url refused: refusing to connect to 169.254.169.254 (169.254.169.254): it is the cloud metadata address; add the host or address to WEBHOOK_ALLOWLIST if this is intended',
      'http://10.0.0.1/':
        'webhook url refused: refusing to connect to 10.0.0.1 (10.0.0.1): it is a loopback, private, link-local or reserved IPv4 address; add the host or address to WEBHOOK_ALLOWLIST if this is intended',
      'http://[::1]:8080/':
        'webhook url refused: refusing to connect to ::1 (::1): it is a loopback, private, link-local or reserved IPv6 address; add the host or address to WEBHOOK_ALLOWLIST if this is intended',
      'https://hooks.internal.test/x':
        'webhook url refused: refusing to connect to hooks.internal.test (10.1.2.3): it is a loopback, private, link-local or reserved IPv4 address; add the host or address to WEBHOOK_ALLOWLIST if this is intended',
      'https://mixed.example.test/x':
        'webhook url refused: refusing to connect to mixed.example.test (192.168.1.5): it is a loopback, private, link-local or reserved IPv4 address; add the host or address to WEBHOOK_ALLOWLIST if this is intended',
      'https://nowhere.example.test/x':
        'webhook url refused: cannot resolve host nowhere.example.test: getaddrinfo ENOTFOUND nowhere.example.test',
    };
    for (const [url, detail] of Object.entries(cases)) {
      const res = await subscribe(url);
      expect({ url, status: res.status, code: res.body.code, detail: res.body.detail }).toEqual({
        url,
        status: 422,
        code: 'WEBHOOK_DESTINATION_FORBIDDEN',
        detail,
      });
      expect(res.body.setting).toBe('WEBHOOK_ALLOWLIST');
    }
    const listed = await api.call('GET', '/v1/projects/p1/webhooks', {
      token: await api.token(T, ['admin']),
    });
    expect(listed.body.webhooks).toEqual([]);
  });

  it('accepts public and allowlisted destinations, resolving names with the given resolver', async () => {
    resolved.length = 0;
    expect((await subscribe('https://public.example.test/hook')).status).toBe(201);
    expect((await subscribe('http://10.9.4.5:8080/hook')).status).toBe(201);
    expect(resolved).toEqual(['public.example.test']);
  });

  it('answers 400 for a URL that is not absolute http(s)', async () => {
    const relative = await subscribe('/hook');
    expect(relative.status).toBe(400);
    expect(relative.body.detail).toBe('invalid body: url: /hook is not an absolute URL');
    const ftp = await subscribe('ftp://public.example.test/x');
    expect(ftp.status).toBe(400);
    expect(ftp.body.detail).toBe(
      'invalid body: url: only http and https URLs can receive webhooks, not ftp:',
    );
  });
});

describe('refused Origin', () => {
  it('answers 403 ORIGIN_NOT_ALLOWED without talking about credentials', async () => {
    const res = await api.call('GET', '/v1/projects', {
      headers: { origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      code: 'ORIGIN_NOT_ALLOWED',
      title: 'The request’s Origin header names a site this service does not accept requests from.',
      detail:
        "requests from the web origin https://evil.example are not accepted; the api's operator can add it to ALLOWED_ORIGINS",
      origin: 'https://evil.example',
    });
    const allowed = await api.call('GET', '/v1/projects', { headers: { origin: ALLOWED_ORIGIN } });
    expect(allowed.status).toBe(401);
  });
});

describe('planner body limit', () => {
  function planner(compileBodyLimit?: number) {
    const app = createHttpServer({
      log: createLogger({ service: 'planner-test', level: 'silent' }),
      health: new HealthRegistry({ timeoutMs: 200 }),
      metrics: createMetrics('planner_test'),
      bodyLimit: 1024 * 1024,
    });
    registerPlannerRoutes(app, {
      pool: api.service.database.pool,
      log: createLogger({ service: 'planner-test', level: 'silent' }),
      config: {
        INTERNAL_API_TOKEN: INTERNAL_TOKEN,
        APPROVAL_BUDGET_MS: 1000,
        ENGINE_URL: undefined,
      },
      ...(compileBodyLimit ? { compileBodyLimit } : {}),
    });
    return app;
  }

  it('lets the planner take compile bodies above 16 MiB by default', async () => {
    const app = planner();
    const body = JSON.stringify({
      tenantId: T,
      projectId: 'p1',
      plan: { filler: 'x'.repeat(17 * 1024 * 1024) },
    });
    const res = await app.inject({
      method: 'POST',
      url: '/internal/v1/compile',
      headers: { authorization: `Bearer ${INTERNAL_TOKEN}`, 'content-type': 'application/json' },
      payload: body,
    });
    expect(res.statusCode).not.toBe(413);
    expect(res.json().code).not.toBe('PAYLOAD_TOO_LARGE');
    await app.close();
  });

  it("maps the planner's 413 to one quoting the api's PLAN_BODY_LIMIT_BYTES", async () => {
    const app = planner(64 * 1024);
    const port = await freePort();
    await app.listen({ port, host: '127.0.0.1' });
    const proxied = await startApi({ PLANNER_URL: `http://127.0.0.1:${port}` }, api.db);
    try {
      const token = await proxied.token(T, ['admin']);
      const res = await proxied.call('POST', '/v1/projects/p1/plans', {
        token,
        body: { dbt: { manifest: { metadata: {}, nodes: { filler: 'y'.repeat(100_000) } } } },
      });
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        detail: `the plan or manifest exceeds the limit of ${64 * 1024 * 1024} bytes (PLAN_BODY_LIMIT_BYTES)`,
        limitBytes: 64 * 1024 * 1024,
      });
    } finally {
      await proxied.close();
      await app.close();
    }
  });
});

describe('PostgreSQL down', () => {
  it('answers 503 DEPENDENCY_UNAVAILABLE naming postgres, then 200 once it is back', async () => {
    const server = await startPrivatePostgres();
    const own = await startApi(
      {},
      { name: 'postgres', url: server.adminUrl, drop: async () => {} },
    );
    try {
      await seedRun(own, { tenantId: T, projectId: 'p1', runId: 'run-down', events: 1 });
      const token = await own.token(T, ['viewer']);
      expect((await own.call('GET', '/v1/runs/run-down', { token })).status).toBe(200);
      await server.stop();
      const down = await own.call('GET', '/v1/runs/run-down', { token });
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        dependency: 'postgres',
        detail: 'the database (postgres) is not reachable; retry shortly',
      });
      await server.start();
      let back = 0;
      for (let i = 0; i < 50 && back !== 200; i++) {
        back = (await own.call('GET', '/v1/runs/run-down', { token })).status;
        if (back !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(back).toBe(200);
    } finally {
      await own.close();
      await server.dispose();
    }
  }, 120_000);
});
