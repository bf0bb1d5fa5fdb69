/**
 * The engine service wired together: HTTP server, database, Temporal client and worker,
 * run state and artifact stores, SQL targets, health probes and the engine routes. No I/O
 * until `start()`.
 */
import {
  createArtifactStore,
  createOutboxRelay,
  createRunEventListener,
  createRunStateStore,
  migrate,
} from '@dvt/store';
import {
  createHttpServer,
  createMetrics,
  HealthRegistry,
  retryForever,
  ServiceDatabase,
  TemporalConnector,
  type Logger,
  type RunnableService,
} from '@dvt/service-kit';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createActivities } from './activities.ts';
import { sqlTargetUrls, type EngineConfig } from './config.ts';
import { Allowlist } from '@dvt/service-kit';
import { TargetRegistry } from './executors/targets.ts';
import { registerEngineRoutes } from './routes.ts';
import { RunService } from './runs.ts';
import { EngineWorker } from './worker.ts';
import type { RunSettings } from './workflows/types.ts';

export interface EngineService extends RunnableService {
  app: FastifyInstance;
  database: ServiceDatabase;
  temporal: TemporalConnector;
  worker: EngineWorker;
  runs: RunService;
  targets: TargetRegistry;
}

export function runSettings(config: EngineConfig): RunSettings {
  return {
    heartbeatTimeoutMs: config.ENGINE_HEARTBEAT_TIMEOUT_MS,
    continueAsNewEverySteps: config.ENGINE_CONTINUE_AS_NEW_STEPS,
    runApprovalTimeoutMs: config.ENGINE_RUN_APPROVAL_TIMEOUT_MS,
    approvalTimeoutMs: config.ENGINE_APPROVAL_TIMEOUT_MS,
  };
}

export function createEngineService(config: EngineConfig, log: Logger): EngineService {
  const health = new HealthRegistry({ timeoutMs: config.HEALTH_PROBE_TIMEOUT_MS });
  const metrics = createMetrics('engine');
  const database = new ServiceDatabase({
    url: config.DATABASE_URL,
    log,
    applicationName: 'dvt-engine',
    migrate,
    poolSize: config.DATABASE_POOL_SIZE,
  });
  const temporal = new TemporalConnector({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    log,
    probeTimeoutMs: config.HEALTH_PROBE_TIMEOUT_MS,
  });
  const events = createRunStateStore({ pool: database.pool, log });
  const artifacts = createArtifactStore(config, { pool: database.pool, log });
  const targets = new TargetRegistry({ urls: sqlTargetUrls(config), log });
  // Names this process's worker in Temporal and in StepCompleted events without a host pid.
  const workerId = `engine-${randomBytes(6).toString('hex')}`;
  const worker = new EngineWorker({
    connector: temporal,
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      log,
      events,
      artifacts,
      targets,
      http: {
        allowlist: new Allowlist(config.HTTP_ALLOWLIST),
        maxResponseBytes: config.HTTP_MAX_RESPONSE_BYTES,
      },
      approvalTimeoutMs: config.ENGINE_APPROVAL_TIMEOUT_MS,
      workerId,
    }),
    log,
    maxConcurrentActivities: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    workerOptions: {
      // Heartbeats reach the server at least every second, so a cancellation reaches a
      // running step within about a second (field case B05).
      maxHeartbeatThrottleInterval: 1_000,
      defaultHeartbeatThrottleInterval: 1_000,
      stickyQueueScheduleToStartTimeout: config.ENGINE_STICKY_TIMEOUT_MS,
      identity: workerId,
    },
  });
  const runs = new RunService({
    events,
    pool: database.pool,
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    settings: runSettings(config),
    log,
  });
  // The outbox relay delivers run events to webhook subscriptions (DESIGN §6). Several engines
  // may run it at once: rows are claimed with SKIP LOCKED, so nothing is delivered twice.
  const listener = createRunEventListener({ connectionString: config.DATABASE_URL, log });
  const relay = config.OUTBOX_RELAY_ENABLED
    ? createOutboxRelay({
        pool: database.pool,
        log,
        listener,
        destinations: { allowlist: new Allowlist(config.WEBHOOK_ALLOWLIST) },
      })
    : undefined;
  health.register('postgres', database.probe);
  health.register('temporal', temporal.probe);
  health.register('worker', worker.probe);
  health.register('artifacts', artifacts.probe());

  const app = createHttpServer({ log, health, metrics });
  registerEngineRoutes(app, { log, config, runs, targets: targets.names });

  const abort = new AbortController();
  let stopped: Promise<void> | undefined;
  return {
    app,
    database,
    temporal,
    worker,
    runs,
    targets,
    async start() {
      database.start();
      temporal.start();
      worker.start();
      if (relay) {
        listener.start();
        relay.start();
      }
      void retryForever(() => artifacts.init(), {
        signal: abort.signal,
        initialMs: 250,
        maxMs: 5_000,
        onError: (err, attempt) => {
          if (attempt === 1 || attempt % 10 === 0)
            log.warn({ err, attempt }, 'artifact store not ready; retrying');
        },
      }).catch(() => undefined);
      await app.listen({ port: config.PORT, host: config.HOST });
    },
    stop() {
      stopped ??= (async () => {
        abort.abort(new Error('stopping'));
        await app.close();
        await relay?.stop();
        await listener.stop();
        await worker.stop();
        await temporal.stop();
        await targets.close();
        await artifacts.close();
        await database.stop();
      })();
      return stopped;
    },
  };
}
