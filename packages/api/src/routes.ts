/**
 * The public surface: the route table of /v1 (one list, see http/route-table.ts), the
 * OpenAPI 3.1 document generated from its zod schemas at /openapi.json, browsable docs at
 * /docs, the per-credential rate limit and WebSocket support.
 */
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import { ProblemError } from '@dvt/service-kit';
import type { FastifyInstance } from 'fastify';
import { registerRouteTable, type ApiRoute, type RouteTableDeps } from './http/route-table.ts';
import { toOpenApiSchema, zodValidatorCompiler } from './http/zod-schema.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import type { RouteDeps } from './routes/deps.ts';
import { eventRoutes } from './routes/events.ts';
import { planRoutes } from './routes/plans.ts';
import { projectRoutes } from './routes/projects.ts';
import { runRoutes } from './routes/runs.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export type { RouteDeps } from './routes/deps.ts';

/** Every public route, in one table. */
export function buildRouteTable(deps: RouteDeps): ApiRoute[] {
  return [
    ...projectRoutes(deps),
    ...artifactRoutes(deps),
    ...planRoutes(deps),
    ...runRoutes(deps),
    ...eventRoutes(deps),
    ...webhookRoutes(deps),
    ...apiKeyRoutes(deps),
  ];
}

export interface RegisterApiRoutesOptions {
  routes: readonly ApiRoute[];
  guard: RouteTableDeps;
  rateLimit: { max: number; windowMs: number };
  /** Largest WebSocket message accepted from clients, in bytes. */
  maxClientMessageBytes?: number;
  version: string;
}

export function registerApiRoutes(app: FastifyInstance, options: RegisterApiRoutesOptions): void {
  app.register(async (api) => {
    api.setValidatorCompiler(zodValidatorCompiler);
    api.setSerializerCompiler(() => (data) => JSON.stringify(data));

    await api.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'DVT+ API',
          version: options.version,
          description:
            'The public API of DVT+. Every error is RFC 9457 problem+json with a stable `code`. Live events: SSE at /v1/runs/{runId}/events/stream and WebSocket at /v1/runs/{runId}/events/ws (messages `{type:"event",event}`, `{type:"heartbeat",lastSeq}`, `{type:"end",lastSeq,status}`; close 1013 = slow consumer, resume with afterSeq; 1008 = credential expired).',
        },
        components: {
          securitySchemes: {
            bearer: {
              type: 'http',
              scheme: 'bearer',
              description: 'A JWT (HS256 dev tokens, RS256/ES256 via JWKS) or an API key (dvtk_…)',
            },
          },
        },
      },
      transform: toOpenApiSchema as never,
    });
    await api.register(fastifySwaggerUi, { routePrefix: '/docs' });
    await api.register(fastifyRateLimit, {
      global: true,
      hook: 'preHandler',
      max: options.rateLimit.max,
      timeWindow: options.rateLimit.windowMs,
      // After the route table's guard, so the bucket is the authenticated credential's.
      keyGenerator: (req) => req.apiContext?.principal.credential ?? `ip:${req.ip}`,
      allowList: (req) => !req.apiContext,
      errorResponseBuilder: (_req, context) =>
        new ProblemError(
          'RATE_LIMITED',
          `too many requests for this credential; retry in ${context.after}`,
          {
            limit: context.max,
          },
        ),
    });
    await api.register(fastifyWebsocket, {
      options: { maxPayload: options.maxClientMessageBytes ?? 64 * 1024 },
    });

    api.get('/openapi.json', { schema: { hide: true } }, async () => api.swagger());

    const jsonRoutes = options.routes.filter((r) => r.kind === 'websocket' || !r.rawBody);
    const rawRoutes = options.routes.filter((r) => r.kind !== 'websocket' && r.rawBody);
    registerRouteTable(api, jsonRoutes, options.guard);
    await api.register(async (raw) => {
      // Raw-body routes read the request stream themselves (and enforce their own limit).
      raw.removeAllContentTypeParsers();
      raw.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
      registerRouteTable(raw, rawRoutes, options.guard);
    });
  });
}
