/**
 * Named SQL targets (`warehouse`, plus SQL_TARGETS), each a small pool opened on first use, and
 * the one way executors run SQL on them: a dedicated connection in one transaction that is
 * cancelled on the server (pg_cancel_backend) and then closed when the step is aborted, so a
 * cancelled run leaves no query behind (field case B05). After a commit the connection's
 * session state is discarded before it goes back to the pool.
 */
import pg from 'pg';
import { createPool, type Logger } from '@dvt/service-kit';
import { StepError } from './types.ts';

/** SQLSTATE classes and codes worth another attempt; everything else is the step's own error. */
const TRANSIENT_SQLSTATES = new Set([
  '40001',
  '40P01',
  '55P03',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

export interface TargetRegistryOptions {
  urls: Record<string, string>;
  log: Logger;
  /** Connections per target (default 10). */
  poolSize?: number;
}

export class TargetRegistry {
  readonly #options: TargetRegistryOptions;
  readonly #pools = new Map<string, pg.Pool>();

  constructor(options: TargetRegistryOptions) {
    this.#options = options;
  }

  get names(): string[] {
    return Object.keys(this.#options.urls).sort();
  }

  pool(name: string): pg.Pool {
    const existing = this.#pools.get(name);
    if (existing) return existing;
    const url = this.#options.urls[name];
    if (!url) {
      throw new StepError(
        'SQL_TARGET_UNKNOWN',
        `no SQL target named "${name}"; configured targets: ${this.names.join(', ')} (add it to SQL_TARGETS)`,
        { retryable: false },
      );
    }
    const pool = createPool({
      connectionString: url,
      log: this.#options.log,
      applicationName: `dvt-engine-target-${name}`,
      max: this.#options.poolSize ?? 10,
    });
    this.#pools.set(name, pool);
    return pool;
  }

  /**
   * Runs `work` on one connection of `target` inside a transaction. When `signal` aborts, the
   * running statement is cancelled on the server and the connection is discarded.
   */
  async transaction<T>(
    target: string,
    options: { signal: AbortSignal; statementTimeoutMs?: number },
    work: (client: pg.PoolClient, cancel: () => void) => Promise<T>,
  ): Promise<T> {
    const pool = this.pool(target);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new StepError(
        'SQL_CONNECT_FAILED',
        `cannot connect to SQL target "${target}": ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const pid = (client as unknown as { processID?: number }).processID;
    let aborted = false;
    // The cancel goes over a connection of its own: the pool may have none to spare.
    const cancel = () => {
      if (pid !== undefined) void this.#cancelBackend(target, pid);
    };
    const onAbort = () => {
      aborted = true;
      cancel();
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    let broken = false;
    try {
      if (options.signal.aborted) throw options.signal.reason;
      await client.query('begin');
      if (options.statementTimeoutMs) {
        await client.query(
          `set local statement_timeout = ${Math.trunc(options.statementTimeoutMs)}`,
        );
      }
      const result = await work(client, cancel);
      await client.query('commit');
      // Session state the SQL may have set (roles, settings, temporary tables, prepared
      // statements) must not follow the connection to the next step.
      await client.query('discard all');
      return result;
    } catch (error) {
      broken = true;
      if (aborted || options.signal.aborted) throw options.signal.reason;
      throw translateSqlError(target, error, options.statementTimeoutMs);
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      // A connection that saw an error or an abort is closed rather than reused.
      client.release(broken);
    }
  }

  async #cancelBackend(target: string, pid: number): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#options.urls[target],
      connectionTimeoutMillis: 5_000,
      application_name: `dvt-engine-cancel-${target}`,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select pg_cancel_backend($1)', [pid]);
    } catch (error) {
      this.#options.log.warn({ err: error, target, pid }, 'sql cancel failed');
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
  }
}

export function translateSqlError(
  target: string,
  error: unknown,
  statementTimeoutMs?: number,
): StepError {
  const code = (error as { code?: unknown }).code;
  const message = (error as Error).message ?? String(error);
  if (code === '57014' && statementTimeoutMs) {
    return new StepError(
      'SQL_STATEMENT_TIMEOUT',
      `the statement on target "${target}" ran longer than statementTimeoutMs ${statementTimeoutMs}`,
      { retryable: true, cause: error },
    );
  }
  const sqlstate = typeof code === 'string' ? code : undefined;
  const transient =
    sqlstate === undefined ? true : TRANSIENT_SQLSTATES.has(sqlstate) || sqlstate.startsWith('08');
  return new StepError(
    'SQL_FAILED',
    `SQL on target "${target}" failed${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}: ${message}`,
    {
      retryable: transient,
      details: sqlstate ? { sqlstate } : {},
      cause: error,
    },
  );
}
