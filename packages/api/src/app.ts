/**
 * The api service wired together: HTTP server, database, Temporal (read-only status), the
 * artifact store, the internal clients of planner and engine, live-stream wake-ups, health
 * probes and the public routes. No I/O until `start()`.
 */
import {
  createArtifactStore,
  createRunEventListener,
  createRunStateStore,
  createWebhookSubscriptionStore,
  migrate,
} from '@dvt/store';
import {
  backoffDelay,
  createHttpServer,
  createMetrics,
  errorText,
  HealthRegistry,
  ServiceDatabase,
  TemporalConnector,
  type Logger,
  type Resolver,
  type RunnableService,
} from '@dvt/service-kit';
import type { FastifyInstance } from 'fastify';
import { Authenticator } from './auth/authenticator.ts';
import { EngineClient } from './clients/engine-client.ts';
import { InternalClient } from './clients/internal-client.ts';
import { PlannerClient } from './clients/planner-client.ts';
import type { ApiConfig } from './config.ts';
import { ApiKeyRepository } from './data/api-keys.ts';
import { ArtifactLinkRepository } from './data/artifact-links.ts';
import { AuditLog } from './data/audit.ts';
import { PlanRepository } from './data/plans.ts';
import { ProjectRepository } from './data/projects.ts';
import { RunRequestRepository } from './data/run-requests.ts';
import type { ApiRoute } from './http/route-table.ts';
import { buildRouteTable, registerApiRoutes } from './routes.ts';
import { RunEventHub } from './streams/run-event-hub.ts';

export interface ApiService extends RunnableService {
  app: FastifyInstance;
  database: ServiceDatabase;
  temporal: TemporalConnector;
  /** The route table, for tests that cover every route. */
  routes: readonly ApiRoute[];
}

export const API_VERSION = '1.0.0';

export interface ApiServiceOptions {
  /** Resolves webhook hosts for the destination check (tests pass a fake; default: DNS). */
  resolver?: Resolver;
}

export function createApiService(
  config: ApiConfig,
  log: Logger,
  options: ApiServiceOptions = {},
): ApiService {
  const health = new HealthRegistry({ timeoutMs: config.HEALTH_PROBE_TIMEOUT_MS });
  const metrics = createMetrics('api');
  const database = new ServiceDatabase({
    url: config.DATABASE_URL,
    log,
    applicationName: 'dvt-api',
    migrate,
  });
  const temporal = new TemporalConnector({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    log,
    probeTimeoutMs: config.HEALTH_PROBE_TIMEOUT_MS,
  });
  const pool = database.pool;
  const artifacts = createArtifactStore(config, { pool, log });
  const listener = createRunEventListener({ connectionString: config.DATABASE_URL, log });
  health.register('postgres', database.probe);
  health.register('temporal', temporal.probe);
  if (config.ARTIFACT_S3_ENDPOINT) health.register('s3', artifacts.probe());

  const internal = (name: string, baseUrl: string) =>
    new InternalClient({
      name,
      baseUrl,
      token: config.INTERNAL_API_TOKEN,
      timeoutMs: config.INTERNAL_CALL_TIMEOUT_MS,
      log,
    });
  const runs = createRunStateStore({ pool, log });
  const projects = new ProjectRepository(pool);
  const runRequests = new RunRequestRepository(pool);
  const routes = buildRouteTable({
    config,
    log,
    projects,
    plans: new PlanRepository(pool),
    runRequests,
    apiKeys: new ApiKeyRepository(pool),
    webhooks: createWebhookSubscriptionStore({ pool, log }),
    runs,
    artifacts,
    artifactLinks: new ArtifactLinkRepository(pool),
    ...(options.resolver ? { resolver: options.resolver } : {}),
    planner: new PlannerClient(
      internal('planner', config.PLANNER_URL),
      config.PLANNER_COMPILE_TIMEOUT_MS,
      config.PLAN_BODY_LIMIT_BYTES,
    ),
    engine: new EngineClient(internal('engine', config.ENGINE_URL)),
    streams: {
      store: runs,
      hub: new RunEventHub(listener),
      log,
      heartbeatMs: config.STREAM_HEARTBEAT_MS,
      pollMs: config.STREAM_POLL_MS,
      maxBufferBytes: config.STREAM_MAX_BUFFER_BYTES,
    },
  });

  const app = createHttpServer({ log, health, metrics, bodyLimit: config.BODY_LIMIT_BYTES });
  registerApiRoutes(app, {
    routes,
    version: API_VERSION,
    rateLimit: { max: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS },
    guard: {
      authenticator: new Authenticator({
        pool,
        jwtSecret: config.AUTH_JWT_SECRET,
        jwksUrl: config.AUTH_JWKS_URL,
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
        tenantClaim: config.AUTH_TENANT_CLAIM,
        rolesClaim: config.AUTH_ROLES_CLAIM,
        maxTokenTtlSeconds: config.AUTH_MAX_TOKEN_TTL_SECONDS,
      }),
      projects,
      runRequests,
      audit: new AuditLog(pool),
      allowedOrigins: config.ALLOWED_ORIGINS,
    },
  });

  const abort = new AbortController();
  let initLoop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  return {
    app,
    database,
    temporal,
    routes,
    async start() {
      database.start();
      temporal.start();
      listener.start();
      initLoop = initArtifacts(() => artifacts.init(), log, abort.signal);
      await app.listen({ port: config.PORT, host: config.HOST });
    },
    stop() {
      stopped ??= (async () => {
        abort.abort();
        await app.close();
        await initLoop;
        await listener.stop();
        await artifacts.close();
        await temporal.stop();
        await database.stop();
      })();
      return stopped;
    },
  };
}

/** Creates the bucket (S3) in the background, retrying while the store is down. */
async function initArtifacts(
  init: () => Promise<void>,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await init();
      return;
    } catch (error) {
      if (attempt === 1 || attempt % 10 === 0)
        log.warn({ attempt, err: errorText(error) }, 'artifact store not ready; retrying');
      await new Promise((resolve) =>
        setTimeout(resolve, backoffDelay(attempt, { initialMs: 250, maxMs: 5_000 })).unref(),
      );
    }
  }
}
