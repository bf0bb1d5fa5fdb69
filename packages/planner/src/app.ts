/**
 * The planner service wired together: HTTP server, database (migrations in the background),
 * health probes and the planner routes. `createPlannerService` does no I/O until `start()`.
 */
import { migrate } from '@dvt/store';
import {
  createHttpServer,
  createMetrics,
  HealthRegistry,
  ServiceDatabase,
  type Logger,
  type RunnableService,
} from '@dvt/service-kit';
import type { FastifyInstance } from 'fastify';
import type { PlannerConfig } from './config.ts';
import { registerPlannerRoutes } from './routes.ts';

export interface PlannerService extends RunnableService {
  app: FastifyInstance;
  database: ServiceDatabase;
}

export function createPlannerService(config: PlannerConfig, log: Logger): PlannerService {
  const health = new HealthRegistry({ timeoutMs: config.HEALTH_PROBE_TIMEOUT_MS });
  const metrics = createMetrics('planner');
  const database = new ServiceDatabase({
    url: config.DATABASE_URL,
    log,
    applicationName: 'dvt-planner',
    migrate,
  });
  health.register('postgres', database.probe);

  const app = createHttpServer({ log, health, metrics, bodyLimit: 1024 * 1024 });
  registerPlannerRoutes(app, { pool: database.pool, log, config });

  let stopped: Promise<void> | undefined;
  return {
    app,
    database,
    async start() {
      database.start();
      await app.listen({ port: config.PORT, host: config.HOST });
    },
    stop() {
      stopped ??= (async () => {
        await app.close();
        await database.stop();
      })();
      return stopped;
    },
  };
}
