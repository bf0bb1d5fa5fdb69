import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger, TemporalConnector } from '@dvt/service-kit';
import type { EngineConfig } from './config.ts';

export interface EngineRouteDeps {
  pool: pg.Pool;
  log: Logger;
  config: EngineConfig;
  temporal: TemporalConnector;
}

/** Internal routes (capabilities, runs, signals); the run workflow issue fills these in. */
export function registerEngineRoutes(_app: FastifyInstance, _deps: EngineRouteDeps): void {}
