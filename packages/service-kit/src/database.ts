/**
 * A service's PostgreSQL: the pool, migrations applied in the background (retried with
 * backoff while the server is down or the password is wrong), and a readiness probe that
 * stays red until both the server answers and the migrations are in.
 */
import type pg from 'pg';
import { retryForever, sleep } from './backoff.ts';
import { errorText } from './health.ts';
import type { Logger } from './logger.ts';
import { createPool } from './postgres.ts';

export interface ServiceDatabaseOptions {
  url: string;
  log: Logger;
  applicationName: string;
  /** Applies migrations; called until it succeeds. */
  migrate: (pool: pg.Pool, log: Logger) => Promise<unknown>;
  poolSize?: number;
}

export class ServiceDatabase {
  readonly pool: pg.Pool;
  readonly #options: ServiceDatabaseOptions;
  readonly #abort = new AbortController();
  #migrated = false;
  #lastError: string | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ServiceDatabaseOptions) {
    this.#options = options;
    this.pool = createPool({
      connectionString: options.url,
      log: options.log,
      applicationName: options.applicationName,
      max: options.poolSize ?? 10,
    });
  }

  get migrated(): boolean {
    return this.#migrated;
  }

  /** Starts migrating in the background; returns at once. Safe to call twice. */
  start(): void {
    this.#running ??= retryForever(() => this.#options.migrate(this.pool, this.#options.log), {
      signal: this.#abort.signal,
      initialMs: 250,
      maxMs: 5_000,
      onError: (err, attempt, delayMs) => {
        this.#lastError = errorText(err);
        if (attempt === 1 || attempt % 10 === 0) {
          this.#options.log.warn(
            { attempt, delayMs, err: this.#lastError },
            'database not ready; retrying',
          );
        }
      },
    }).then(
      () => {
        this.#migrated = true;
        this.#lastError = undefined;
      },
      () => undefined,
    );
  }

  probe = async (): Promise<Record<string, unknown>> => {
    await this.pool.query('select 1');
    if (!this.#migrated)
      throw new Error(`migrations pending${this.#lastError ? `: ${this.#lastError}` : ''}`);
    return { migrated: true };
  };

  async stop(): Promise<void> {
    this.#abort.abort(new Error('stopping'));
    await Promise.race([this.#running, sleep(200)]);
    await this.pool.end().catch(() => undefined);
  }
}
