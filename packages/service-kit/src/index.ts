export {
  ConfigError,
  commonEnv,
  durationMs,
  hostPort,
  httpUrl,
  loadConfig,
  logLevel,
  port,
  postgresUrl,
  requireS3CredentialsWithEndpoint,
  s3Env,
  temporalEnv,
} from './config.ts';
export { createLogger, redactPaths } from './logger.ts';
export type { Logger, CreateLoggerOptions } from './logger.ts';
export { ProblemError, isProblemError, problemBody } from './problem.ts';
export type { ProblemBody } from './problem.ts';
export { HealthRegistry, errorText } from './health.ts';
export type { HealthReport, Probe, ProbeResult } from './health.ts';
export { createMetrics } from './metrics.ts';
export type { ServiceMetrics } from './metrics.ts';
export { backoffDelay, retryForever, sleep } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { createPool, postgresProbe, redactUrl } from './postgres.ts';
export type { CreatePoolOptions } from './postgres.ts';
export { createHttpServer, requireInternalToken, sendProblem } from './http.ts';
export type { CreateHttpServerOptions } from './http.ts';
export { runService } from './lifecycle.ts';
export type { RunnableService, RunServiceOptions } from './lifecycle.ts';
export { TemporalConnector } from './temporal.ts';
export type { TemporalConnectorOptions } from './temporal.ts';
export { ServiceDatabase } from './database.ts';
export type { ServiceDatabaseOptions } from './database.ts';
export {
  Allowlist,
  DestinationError,
  forbiddenReason,
  guardedFetch,
  resolveGuarded,
  systemResolver,
} from './ssrf.ts';
export type { ResolvedAddress, Resolver } from './ssrf.ts';
