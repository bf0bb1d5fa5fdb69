import pg from 'pg';
import type { Logger } from './logger.ts';

export interface CreatePoolOptions {
  connectionString: string;
  log: Logger;
  /** Pool size (default 10). */
  max?: number;
  /** Milliseconds to wait for a connection before failing (default 3000). */
  connectionTimeoutMillis?: number;
  applicationName?: string;
}

/**
 * A pg pool that survives the server going away: idle clients that error are logged and
 * dropped (pg emits 'error' on the pool, which would otherwise crash the process), and new
 * queries simply reconnect.
 */
export function createPool(options: CreatePoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName,
  });
  pool.on('error', (err) => {
    options.log.warn(
      { err: { message: err.message, code: (err as { code?: string }).code } },
      'idle postgres client failed',
    );
  });
  return pool;
}

/** Readiness probe: one round trip. */
export function postgresProbe(pool: pg.Pool) {
  return async (): Promise<void> => {
    await pool.query('select 1');
  };
}

/** Describes a database URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}
