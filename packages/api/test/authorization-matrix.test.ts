/**
 * The authorization matrix, generated from the route table: every route × every role × own
 * or other tenant, plus no credential. A route added to the table without a request below
 * fails the first test, so no route can escape the matrix.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rolesFor, roles, type Role } from '../src/auth/roles.ts';
import type { ApiRoute } from '../src/http/route-table.ts';
import { seedRun, startApi, type ApiHarness } from './helpers.ts';

let api: ApiHarness;
let artifactSha = '';
const A = { tenant: 'tenant-a', project: 'pa', run: 'run-a' };
const B = { tenant: 'tenant-b', project: 'pb', run: 'run-b' };

interface Probe {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  raw?: boolean;
}

/** One request per route id, against tenant A's resources. Async ones create what they delete. */
const requests: Record<string, () => Promise<Probe>> = {
  'projects.create': async () => ({
    method: 'POST',
    path: '/v1/projects',
    body: { projectId: `p-${randomUUID().slice(0, 8)}`, name: 'x' },
  }),
  'projects.list': async () => ({ method: 'GET', path: '/v1/projects' }),
  'environments.create': async () => ({
    method: 'POST',
    path: `/v1/projects/${A.project}/environments`,
    body: { name: `e-${randomUUID().slice(0, 8)}` },
  }),
  'environments.list': async () => ({
    method: 'GET',
    path: `/v1/projects/${A.project}/environments`,
  }),
  'artifacts.upload': async () => ({
    method: 'POST',
    path: '/v1/artifacts',
    body: `bytes ${randomUUID()}`,
    headers: { 'content-type': 'text/plain' },
    raw: true,
  }),
  'artifacts.download': async () => ({ method: 'GET', path: `/v1/artifacts/${artifactSha}` }),
  'plans.submit': async () => ({
    method: 'POST',
    path: `/v1/projects/${A.project}/plans`,
    body: { plan: { schemaVersion: 'dvt.plan/v1', planId: 'x', planVersion: '1', steps: [] } },
  }),
  'plans.get': async () => ({ method: 'GET', path: `/v1/projects/${A.project}/plans/p` }),
  'plans.version': async () => ({
    method: 'GET',
    path: `/v1/projects/${A.project}/plans/p/versions/1`,
  }),
  'runs.start': async () => ({
    method: 'POST',
    path: `/v1/projects/${A.project}/runs`,
    body: { planId: 'p', planVersion: '1', environment: 'dev' },
  }),
  'runs.list': async () => ({ method: 'GET', path: `/v1/projects/${A.project}/runs` }),
  'runs.get': async () => ({ method: 'GET', path: `/v1/runs/${A.run}` }),
  'runs.signal': async () => ({
    method: 'POST',
    path: `/v1/runs/${A.run}/signals`,
    body: { signalId: randomUUID(), type: 'PAUSE' },
  }),
  'events.list': async () => ({ method: 'GET', path: `/v1/runs/${A.run}/events` }),
  'events.sse': async () => ({ method: 'GET', path: `/v1/runs/${A.run}/events/stream` }),
  'events.ws': async () => ({ method: 'WS', path: `/v1/runs/${A.run}/events/ws` }),
  'webhooks.create': async () => ({
    method: 'POST',
    path: `/v1/projects/${A.project}/webhooks`,
    body: { url: 'http://127.0.0.1:9/hook' },
  }),
  'webhooks.list': async () => ({ method: 'GET', path: `/v1/projects/${A.project}/webhooks` }),
  'webhooks.delete': async () => {
    const { rows } = await api.service.database.pool.query<{ id: string }>(
      `insert into webhook_subscriptions (tenant_id, project_id, url, secret) values ($1, $2, 'http://127.0.0.1:9/x', repeat('s', 32)) returning id`,
      [A.tenant, A.project],
    );
    return { method: 'DELETE', path: `/v1/projects/${A.project}/webhooks/${rows[0]!.id}` };
  },
  'apiKeys.create': async () => ({
    method: 'POST',
    path: '/v1/api-keys',
    body: { name: 'k', roles: ['viewer'] },
  }),
  'apiKeys.list': async () => ({ method: 'GET', path: '/v1/api-keys' }),
  'apiKeys.revoke': async () => {
    const { rows } = await api.service.database.pool.query<{ id: string }>(
      `insert into api_keys (tenant_id, name, key_hash, key_prefix, roles, created_by) values ($1, 'k', $2, 'dvtk_x', '{viewer}', 'seed') returning id`,
      [A.tenant, randomUUID()],
    );
    return { method: 'DELETE', path: `/v1/api-keys/${rows[0]!.id}` };
  },
};

/** Tenant-scoped routes whose path names one of tenant A's resources. */
const TENANT_RESOURCE_ROUTES = new Set(['artifacts.download', 'apiKeys.revoke']);

async function send(
  probe: Probe,
  token: string | undefined,
): Promise<{ status: number; requestId: string | null }> {
  if (probe.method === 'WS') {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(
        `ws://127.0.0.1:${api.port}${probe.path}`,
        token ? { headers: { authorization: `Bearer ${token}` } } : {},
      );
      ws.on('upgrade', () => {
        ws.close();
        resolve({ status: 101, requestId: null });
      });
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve({
          status: res.statusCode ?? 0,
          requestId: String(res.headers['x-request-id'] ?? ''),
        });
      });
      ws.on('error', (err) => reject(err));
    });
  }
  const headers: Record<string, string> = { ...probe.headers };
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (probe.body !== undefined) {
    body = probe.raw ? String(probe.body) : JSON.stringify(probe.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${api.baseUrl}${probe.path}`, {
    method: probe.method,
    headers,
    body,
  });
  await response.arrayBuffer();
  return { status: response.status, requestId: response.headers.get('x-request-id') };
}

async function auditOf(requestId: string | null): Promise<string[]> {
  const { rows } = await api.service.database.pool.query<{ decision: string }>(
    'select decision from api_audit_log where request_id = $1',
    [requestId],
  );
  return rows.map((r) => r.decision);
}

function isWrite(route: ApiRoute): boolean {
  return route.method !== 'GET';
}

beforeAll(async () => {
  api = await startApi();
  for (const t of [A, B]) {
    await seedRun(api, {
      tenantId: t.tenant,
      projectId: t.project,
      runId: t.run,
      events: 3,
      terminal: true,
    });
    await api.service.database.pool.query(
      `insert into api_environments (tenant_id, project_id, name, created_by) values ($1, $2, 'dev', 'seed')`,
      [t.tenant, t.project],
    );
  }
  const admin = await api.token(A.tenant, ['admin']);
  const upload = await api.call('POST', '/v1/artifacts', {
    token: admin,
    body: 'plan bytes',
    headers: { 'content-type': 'text/plain' },
  });
  artifactSha = upload.body.sha256;
  await api.service.database.pool.query(
    `insert into api_plan_versions (tenant_id, project_id, plan_id, plan_version, sha256, artifact_uri, size_bytes, schema_version,
       source_kind, source_sha256, steps_total, requires_approval, created_by)
     values ($1, $2, 'p', '1', $3, $4, 10, 'dvt.execution-plan/v1', 'plan', 'x', 0, false, 'seed')`,
    [A.tenant, A.project, artifactSha, upload.body.uri],
  );
});

afterAll(async () => {
  await api?.close();
});

describe('authorization matrix', () => {
  it('has a request for every route of the table, and the table for every request', () => {
    const ids = api.service.routes.map((r) => r.id).sort();
    expect(ids).toEqual(Object.keys(requests).sort());
  });

  it('answers 401 UNAUTHENTICATED on every route without a credential', async () => {
    for (const route of api.service.routes) {
      const { status } = await send(await requests[route.id]!(), undefined);
      expect({ route: route.id, status }).toEqual({ route: route.id, status: 401 });
    }
  });

  for (const role of roles) {
    it(`enforces the role ${role} on every route of its own tenant, auditing writes`, async () => {
      const token = await api.token(A.tenant, [role], { sub: `matrix-${role}` });
      for (const route of api.service.routes) {
        const allowed = rolesFor(route.permission).includes(role as Role);
        const { status, requestId } = await send(await requests[route.id]!(), token);
        if (allowed) {
          expect({ route: route.id, denied: [401, 403, 404].includes(status) }).toEqual({
            route: route.id,
            denied: false,
          });
        } else {
          expect({ route: route.id, status }).toEqual({ route: route.id, status: 403 });
        }
        if (isWrite(route)) {
          expect({ route: route.id, audit: await auditOf(requestId) }).toEqual({
            route: route.id,
            audit: [allowed ? 'granted' : 'denied'],
          });
        }
      }
    });

    it(`answers 404 to the role ${role} of another tenant for every project and run route`, async () => {
      const token = await api.token(B.tenant, [role], { sub: `intruder-${role}` });
      for (const route of api.service.routes) {
        const { status, requestId } = await send(await requests[route.id]!(), token);
        const scoped = route.scope === 'project' || route.scope === 'run';
        if (scoped || TENANT_RESOURCE_ROUTES.has(route.id)) {
          const allowedHere = rolesFor(route.permission).includes(role as Role);
          // A project or run of tenant A does not exist for tenant B whatever the role; a
          // tenant-level resource (an artifact, an API key) is looked up after the role check.
          const expected = scoped || allowedHere ? 404 : 403;
          expect({ route: route.id, status }).toEqual({ route: route.id, status: expected });
          if (isWrite(route)) {
            // Scoped routes deny at the guard; tenant-level ones record the role decision.
            const decision = scoped || !allowedHere ? 'denied' : 'granted';
            expect({ route: route.id, audit: await auditOf(requestId) }).toEqual({
              route: route.id,
              audit: [decision],
            });
          }
        } else {
          expect({ route: route.id, status: status === 404 }).toEqual({
            route: route.id,
            status: false,
          });
        }
      }
    });
  }

  it('admits a project-scoped grant on its project only', async () => {
    const token = await api.token(A.tenant, [`operator:${A.project}`]);
    const own = await send(await requests['runs.signal']!(), token);
    expect(own.status).not.toBe(403);
    await api.service.database.pool.query(
      `insert into api_projects (tenant_id, project_id, name, created_by) values ($1, 'other', 'o', 'seed')`,
      [A.tenant],
    );
    const other = await api.call('GET', '/v1/projects/other/runs', { token });
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('FORBIDDEN');
    expect(other.body.detail).toBe(
      'this action needs the role viewer or operator or author or admin on project other; the credential grants: operator:pa',
    );
    const list = await api.call('GET', '/v1/projects', { token });
    expect(list.body.projects.map((p: { projectId: string }) => p.projectId)).toEqual([A.project]);
  });

  it('never shows one tenant the projects of another', async () => {
    const token = await api.token(B.tenant, ['admin']);
    const list = await api.call('GET', '/v1/projects', { token });
    expect(
      list.body.projects.map((p: { projectId: string }) => p.projectId).includes(A.project),
    ).toBe(false);
  });
});
