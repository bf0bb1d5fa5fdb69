/**
 * The one route table. Every public route is a row saying who may call it (a permission of
 * DESIGN §8) and on what (its scope); `registerRouteTable` mounts each row behind the same
 * checks, in this order, before any handler runs or any WebSocket is upgraded:
 *
 *   1. Origin: a request whose Origin is not in ALLOWED_ORIGINS → 403 (upgrades included).
 *   2. Credential: a bearer JWT or API key (stream routes also take `?access_token=`) → 401.
 *   3. Scope: the project or run named in the path must be the caller's tenant's → 404.
 *   4. Permission: the caller's grants must allow it on that project → 403.
 *   5. Audit: every decision on a write (granted or denied) is recorded.
 *
 * Tests generate the authorization matrix from `routes`, so a new row cannot escape it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { ProblemError } from '@dvt/service-kit';
import type { z } from 'zod';
import type { Authenticator, Principal } from '../auth/authenticator.ts';
import { allows, formatGrant, rolesFor, type Permission } from '../auth/roles.ts';
import { containsNul, nulProblem, validationProblem } from './zod-schema.ts';
import type { AuditLog } from '../data/audit.ts';
import type { ProjectRepository } from '../data/projects.ts';
import type { ApiRunRecord, RunRequestRepository } from '../data/run-requests.ts';

/**
 * - `tenant`: a tenant resource (artifacts, the project list); any grant with the permission
 *   anywhere in the tenant admits.
 * - `tenant-wide`: only a tenant-wide grant admits (creating projects, API keys).
 * - `project`: `:projectId` in the path; a project-scoped grant for it admits.
 * - `run`: `:runId` in the path; the run's project decides.
 */
export type RouteScope = 'tenant' | 'tenant-wide' | 'project' | 'run';

export interface RouteSchemas {
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  headers?: z.ZodType;
  response?: Record<number, z.ZodType>;
}

export interface RouteContext {
  req: FastifyRequest;
  reply: FastifyReply;
  principal: Principal;
  /** The project the route acts on (scope project or run), else null. */
  projectId: string | null;
  /** The run (scope run). */
  run: ApiRunRecord | null;
  // The three parts below have passed the route's zod schemas (or are the raw request stream
  // for raw-body routes); each handler reads them as its own schema's output. A typed
  // per-route context would need a generic route builder; the schemas are the contract.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  params: any;
  query: any;
  body: any;
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

interface RouteBase {
  /** Stable id, e.g. `runs.start`; also the OpenAPI operationId. */
  id: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  permission: Permission;
  scope: RouteScope;
  schema?: RouteSchemas;
  bodyLimit?: number;
}

export interface HttpRoute extends RouteBase {
  kind?: 'http';
  /** The body is a raw stream (`ctx.body` is the request stream), not JSON. */
  rawBody?: boolean;
  /** Stream routes accept the token as `?access_token=` too. */
  queryToken?: boolean;
  handler(ctx: RouteContext): Promise<unknown>;
}

export interface WebSocketRoute extends RouteBase {
  kind: 'websocket';
  handler(socket: WebSocket, ctx: RouteContext): void | Promise<void>;
}

export type ApiRoute = HttpRoute | WebSocketRoute;

export function isWrite(route: { method: string }): boolean {
  return route.method !== 'GET';
}

export interface RouteTableDeps {
  authenticator: Authenticator;
  projects: ProjectRepository;
  runRequests: RunRequestRepository;
  audit: AuditLog;
  allowedOrigins: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    apiContext?: Omit<RouteContext, 'req' | 'reply' | 'params' | 'query' | 'body'>;
  }
}

export function registerRouteTable(
  app: FastifyInstance,
  routes: readonly ApiRoute[],
  deps: RouteTableDeps,
): void {
  for (const route of routes) {
    const guard = createGuard(route, deps);
    const schema = {
      ...route.schema,
      operationId: route.id,
      summary: route.summary,
      tags: [route.tag],
      security: [{ bearer: [] }],
      description: `Requires ${route.permission} (${rolesFor(route.permission).join(', ')})${scopeNote(route.scope)}.`,
    };
    if (route.kind === 'websocket') {
      app.route({
        method: 'GET',
        url: route.url,
        schema,
        websocket: true,
        preValidation: guard,
        handler: (async (socket: WebSocket, req: FastifyRequest) => {
          const ctx = {
            ...req.apiContext!,
            req,
            reply: undefined as never,
            params: req.params,
            query: req.query,
            body: undefined,
          };
          await route.handler(socket, ctx);
        }) as never,
      });
      continue;
    }
    app.route({
      method: route.method,
      url: route.url,
      schema,
      ...(route.bodyLimit ? { bodyLimit: route.bodyLimit } : {}),
      preValidation: guard,
      handler: async (req, reply) =>
        route.handler({
          ...req.apiContext!,
          req,
          reply,
          params: req.params,
          query: req.query,
          body: route.rawBody ? req.raw : req.body,
        }),
    });
  }
}

function scopeNote(scope: RouteScope): string {
  if (scope === 'tenant-wide') return ', granted tenant-wide';
  if (scope === 'project') return ' on the project (tenant-wide or `role:projectId`)';
  if (scope === 'run') return " on the run's project";
  return ' anywhere in the tenant';
}

function createGuard(route: ApiRoute, deps: RouteTableDeps) {
  const queryToken = route.kind === 'websocket' || route.queryToken === true;
  return async (req: FastifyRequest): Promise<void> => {
    const origin = req.headers.origin;
    if (origin !== undefined && !deps.allowedOrigins.includes(origin)) {
      // Refused before any credential is looked at: this says nothing about the caller's roles.
      throw new ProblemError(
        'ORIGIN_NOT_ALLOWED',
        `requests from the web origin ${origin} are not accepted; the api's operator can add it to ALLOWED_ORIGINS`,
        { origin },
      );
    }
    const token = presentedToken(req, queryToken);
    if (!token) {
      throw new ProblemError(
        'UNAUTHENTICATED',
        queryToken
          ? 'no credential; send Authorization: Bearer <token> or ?access_token=<token>'
          : 'no credential; send Authorization: Bearer <token> (a JWT or an API key)',
      );
    }
    const principal = await deps.authenticator.authenticate(token);
    // Path values are checked before they are used to look anything up.
    const params = checkedParams(route, req.params);
    const resource = describeResource(route, params);
    const audit = (decision: 'granted' | 'denied', reason: string) =>
      isWrite(route)
        ? deps.audit.record({
            tenantId: principal.tenantId,
            subject: principal.subject,
            credential: principal.credential,
            method: route.method,
            route: route.url,
            action: route.id,
            resource,
            decision,
            reason,
            requestId: req.id,
          })
        : Promise.resolve();

    let projectId: string | null = null;
    let run: ApiRunRecord | null = null;
    if (route.scope === 'project') {
      projectId = params.projectId ?? '';
      if (!(await deps.projects.get(principal.tenantId, projectId))) {
        await audit('denied', 'no such project in the tenant');
        throw new ProblemError(
          'NOT_FOUND',
          `no project ${projectId}; create it with POST /v1/projects`,
        );
      }
    } else if (route.scope === 'run') {
      run = (await deps.runRequests.getRun(principal.tenantId, params.runId ?? '')) ?? null;
      if (!run) {
        await audit('denied', 'no such run in the tenant');
        throw new ProblemError('RUN_NOT_FOUND', `no run ${params.runId}`);
      }
      projectId = run.projectId;
    }

    const target = route.scope === 'tenant' ? '*any' : projectId;
    if (!allows(principal.grants, route.permission, target)) {
      const needed = rolesFor(route.permission).join(' or ');
      const where = projectId
        ? ` on project ${projectId}`
        : route.scope === 'tenant-wide'
          ? ' tenant-wide'
          : '';
      const held = principal.grants.map(formatGrant).join(', ') || 'none';
      await audit('denied', `needs ${needed}${where}; holds ${held}`);
      throw new ProblemError(
        'FORBIDDEN',
        `this action needs the role ${needed}${where}; the credential grants: ${held}`,
      );
    }
    await audit('granted', `permission ${route.permission}`);
    req.apiContext = { principal, projectId, run };
  };
}

function checkedParams(route: ApiRoute, raw: unknown): Record<string, string | undefined> {
  const schema = route.schema?.params;
  if (!schema) return (raw ?? {}) as Record<string, string | undefined>;
  const result = schema.safeParse(raw ?? {});
  if (!result.success) throw validationProblem('params', result.error);
  if (containsNul(result.data)) throw nulProblem('params');
  return result.data as Record<string, string | undefined>;
}

function describeResource(route: ApiRoute, params: Record<string, string | undefined>): string {
  const parts = Object.entries(params).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(',') : route.url;
}

/** The bearer token from Authorization, or (stream routes only) from `?access_token=`. */
export function presentedToken(req: FastifyRequest, allowQuery: boolean): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  if (allowQuery) {
    const value = (req.query as Record<string, unknown> | undefined)?.access_token;
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}
