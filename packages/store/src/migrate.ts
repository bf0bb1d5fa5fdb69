/**
 * Schema migrations. Every service calls `migrate()` at start, so any of them may come up
 * first: a session-level advisory lock on one dedicated client serializes concurrent starts,
 * and each file runs in its own transaction together with its `schema_migrations` row.
 *
 * Files are `NNNN_name.sql` in `packages/store/migrations/` (numbering ranges per team are in
 * docs/dev/conventions.md). An applied file must never change: its SHA-256 is recorded and a
 * mismatch stops the migration with an error naming the file.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from '@dvt/service-kit';
import type pg from 'pg';

/** Folder of the SQL files; `../migrations/` resolves the same from src/ and from dist/. */
export const migrationsDir = new URL('../migrations/', import.meta.url);

/** Arbitrary but fixed key of the advisory lock that guards migrations ("dvt+mig"). */
export const MIGRATION_LOCK_KEY = 0x6476_746d;

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  /** File name, e.g. `0001_run_events.sql`; also the id recorded in `schema_migrations`. */
  name: string;
  version: number;
  sql: string;
  checksum: string;
}

export interface MigrateOptions {
  /** Where the files are; defaults to {@link migrationsDir}. Tests point it elsewhere. */
  dir?: URL;
}

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
  readonly migration: string | undefined;

  constructor(message: string, migration?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MigrationError';
    this.migration = migration;
  }
}

/** Reads and orders the migration files; rejects names that break the pattern or repeat a number. */
export async function readMigrations(dir: URL = migrationsDir): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  const seen = new Map<number, string>();
  for (const name of names) {
    const match = FILE_PATTERN.exec(name);
    if (!match) {
      throw new MigrationError(
        `migration file ${name} does not match NNNN_name.sql (four digits, lower-case name); rename it`,
        name,
      );
    }
    const version = Number(match[1]);
    const other = seen.get(version);
    if (other) {
      throw new MigrationError(
        `migration files ${other} and ${name} share number ${match[1]}; give one of them a free number in your team's range`,
        name,
      );
    }
    seen.set(version, name);
    const sql = await readFile(new URL(name, dir), 'utf8');
    files.push({ name, version, sql, checksum: sha256(sql) });
  }
  return files;
}

/**
 * Applies every migration not yet applied, in order. Returns the names it applied (empty when
 * the schema was already current). Throws {@link MigrationError} when an applied file changed
 * or a file fails; the failing file's transaction is rolled back.
 */
export async function migrate(
  pool: pg.Pool,
  log: Logger,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const files = await readMigrations(options.dir);
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await applyPending(client, files, log);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {
        broken = true;
      });
    }
  } catch (error) {
    if (!(error instanceof MigrationError)) broken = true;
    throw error;
  } finally {
    // A client whose session state is unknown must not go back to the pool holding a lock.
    client.release(broken);
  }
}

async function applyPending(
  client: pg.PoolClient,
  files: MigrationFile[],
  log: Logger,
): Promise<{ applied: string[] }> {
  await client.query(`
    create table if not exists schema_migrations (
      name text primary key,
      version integer not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
  const { rows } = await client.query<{ name: string; checksum: string }>(
    'select name, checksum from schema_migrations',
  );
  const done = new Map(rows.map((r) => [r.name, r.checksum]));

  for (const file of files) {
    const recorded = done.get(file.name);
    if (recorded !== undefined && recorded !== file.checksum) {
      throw new MigrationError(
        `migration ${file.name} was changed after it was applied (recorded sha256 ${recorded.slice(0, 12)}…, file now ${file.checksum.slice(0, 12)}…); restore the file and put the change in a new migration`,
        file.name,
      );
    }
  }

  const applied: string[] = [];
  for (const file of files) {
    if (done.has(file.name)) continue;
    const started = performance.now();
    try {
      await client.query('begin');
      await client.query(file.sql);
      await client.query(
        'insert into schema_migrations (name, version, checksum) values ($1, $2, $3)',
        [file.name, file.version, file.checksum],
      );
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      const reason = error instanceof Error ? error.message : String(error);
      throw new MigrationError(
        `migration ${file.name} failed and was rolled back: ${reason}`,
        file.name,
        { cause: error },
      );
    }
    applied.push(file.name);
    log.info(
      { migration: file.name, durationMs: Math.round(performance.now() - started) },
      'migration applied',
    );
  }
  return { applied };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
