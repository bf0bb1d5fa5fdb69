/**
 * The engine service wired together: HTTP server, database, Temporal client and worker,
 * health probes and the engine routes. No I/O until `start()`.
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
import { createActivities } from './activities.ts';
import type { EngineConfig } from './config.ts';
import { registerEngineRoutes } from './routes.ts';
import { EngineWorker } from './worker.ts';

export interface EngineService extends RunnableService {
  app: FastifyInstance;
  database: ServiceDatabase;
  temporal: TemporalConnector;
  worker: EngineWorker;
}

export function createEngineService(config: EngineConfig, log: Logger): EngineService {
  const health = new HealthRegistry({ timeoutMs: config.HEALTH_PROBE_TIMEOUT_MS });
  const metrics = createMetrics('engine');
  const database = new ServiceDatabase({
    url: config.DATABASE_URL,
    log,
    applicationName: 'dvt-engine',
    migrate,
  });
  const temporal = new TemporalConnector({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    log,
    probeTimeoutMs: config.HEALTH_PROBE_TIMEOUT_MS,
  });
  const worker = new EngineWorker({
    connector: temporal,
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities({ log }),
    log,
    maxConcurrentActivities: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  });
  health.register('postgres', database.probe);
  health.register('temporal', temporal.probe);
  health.register('worker', worker.probe);

  const app = createHttpServer({ log, health, metrics });
  registerEngineRoutes(app, { pool: database.pool, log, config, temporal });

  let stopped: Promise<void> | undefined;
  return {
    app,
    database,
    temporal,
    worker,
    async start() {
      database.start();
      temporal.start();
      worker.start();
      await app.listen({ port: config.PORT, host: config.HOST });
    },
    stop() {
      stopped ??= (async () => {
        await app.close();
        await worker.stop();
        await temporal.stop();
        await database.stop();
      })();
      return stopped;
    },
  };
}
