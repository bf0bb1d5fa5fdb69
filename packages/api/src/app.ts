/**
 * The api service wired together: HTTP server, database, Temporal (read-only status), health
 * probes and the public routes. No I/O until `start()`.
 */
import { migrate } from '@dvt/store';
import {
  createHttpServer,
  createMetrics,
  HealthRegistry,
  ServiceDatabase,
  TemporalConnector,
  type Logger,
  type RunnableService,
} from '@dvt/service-kit';
import type { FastifyInstance } from 'fastify';
import type { ApiConfig } from './config.ts';
import { registerApiRoutes } from './routes.ts';

export interface ApiService extends RunnableService {
  app: FastifyInstance;
  database: ServiceDatabase;
  temporal: TemporalConnector;
}

export function createApiService(config: ApiConfig, log: Logger): ApiService {
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
  health.register('postgres', database.probe);
  health.register('temporal', temporal.probe);

  const app = createHttpServer({ log, health, metrics });
  registerApiRoutes(app, { pool: database.pool, log, config, temporal, health });

  let stopped: Promise<void> | undefined;
  return {
    app,
    database,
    temporal,
    async start() {
      database.start();
      temporal.start();
      await app.listen({ port: config.PORT, host: config.HOST });
    },
    stop() {
      stopped ??= (async () => {
        await app.close();
        await temporal.stop();
        await database.stop();
      })();
      return stopped;
    },
  };
}
