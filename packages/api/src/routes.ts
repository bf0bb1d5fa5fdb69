import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { HealthRegistry, Logger, TemporalConnector } from '@dvt/service-kit';
import type { ApiConfig } from './config.ts';

export interface ApiRouteDeps {
  pool: pg.Pool;
  log: Logger;
  config: ApiConfig;
  temporal: TemporalConnector;
  health: HealthRegistry;
}

/** The public /v1 routes; the public API issue fills these in. */
export function registerApiRoutes(_app: FastifyInstance, _deps: ApiRouteDeps): void {}
