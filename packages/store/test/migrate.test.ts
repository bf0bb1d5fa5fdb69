import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createPool } from '@dvt/service-kit';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import type pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MigrationError, migrate, migrationsDir, readMigrations } from '../src/index.ts';
import { silentLog } from './helpers.ts';

const run = promisify(execFile);
const cliPath = new URL('../src/migrate-cli.ts', import.meta.url);

describe('migrate', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let scratch: string | undefined;

  beforeEach(async () => {
    db = await createTestDatabase('migrate');
    pool = createPool({ connectionString: db.url, log: silentLog, max: 8 });
  });

  afterEach(async () => {
    await pool.end();
    await db.drop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    scratch = undefined;
  });

  /** A copy of the store's own migrations (0001–0099) that a test may add files to. */
  async function copyOfMigrations(): Promise<URL> {
    scratch = await mkdtemp(path.join(tmpdir(), 'dvt-migrations-'));
    for (const name of await readdir(migrationsDir)) {
      if (/^00\d\d_/.test(name)) await cp(new URL(name, migrationsDir), path.join(scratch, name));
    }
    return pathToFileURL(`${scratch}/`);
  }

  it('applies every file in order once, and nothing the second time', async () => {
    const files = (await readdir(migrationsDir)).filter((n) => n.endsWith('.sql')).sort();
    expect(files.length).toBeGreaterThan(0);

    const first = await migrate(pool, silentLog);
    expect(first.applied).toEqual(files);
    const second = await migrate(pool, silentLog);
    expect(second.applied).toEqual([]);

    const { rows } = await pool.query<{ name: string; checksum: string }>(
      'select name, checksum from schema_migrations order by version',
    );
    const expected = await readMigrations();
    expect(rows).toEqual(expected.map((f) => ({ name: f.name, checksum: f.checksum })));
  });

  it('lets concurrent starts race without errors and applies each file exactly once', async () => {
    const pools = Array.from({ length: 5 }, () =>
      createPool({ connectionString: db.url, log: silentLog, max: 1 }),
    );
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, silentLog)));
      const all = results.flatMap((r) => r.applied);
      const files = await readMigrations();
      expect(all.sort()).toEqual(files.map((f) => f.name).sort());
      const { rows } = await pool.query<{ n: string }>(
        'select count(*) as n from schema_migrations',
      );
      expect(Number(rows[0]?.n)).toBe(files.length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('picks up a new file added later in another team’s range', async () => {
    const dir = await copyOfMigrations();
    await migrate(pool, silentLog, { dir });
    await writeFile(
      new URL('0250_engine_example.sql', dir),
      'create table engine_example (id int);',
    );
    const result = await migrate(pool, silentLog, { dir });
    expect(result.applied).toEqual(['0250_engine_example.sql']);
    const { rows } = await pool.query("select to_regclass('engine_example') as t");
    expect(rows[0]?.t).toBe('engine_example');
  });

  it('refuses an already-applied file whose content changed, naming the file', async () => {
    const dir = await copyOfMigrations();
    await writeFile(
      new URL('0150_planner_example.sql', dir),
      'create table planner_example (id int);',
    );
    await migrate(pool, silentLog, { dir });
    await writeFile(
      new URL('0150_planner_example.sql', dir),
      'create table planner_example (id bigint);',
    );
    const error = await migrate(pool, silentLog, { dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).migration).toBe('0150_planner_example.sql');
    expect((error as Error).message).toMatch(
      /^migration 0150_planner_example\.sql was changed after it was applied .*put the change in a new migration$/,
    );
  });

  it('rolls a failing file back entirely and reports which one failed', async () => {
    const dir = await copyOfMigrations();
    await writeFile(
      new URL('0350_api_broken.sql', dir),
      'create table api_half (id int); select * from no_such_table;',
    );
    const error = await migrate(pool, silentLog, { dir }).catch((e: unknown) => e);
    expect((error as MigrationError).migration).toBe('0350_api_broken.sql');
    expect((error as Error).message).toBe(
      'migration 0350_api_broken.sql failed and was rolled back: relation "no_such_table" does not exist',
    );
    const { rows } = await pool.query(
      "select to_regclass('api_half') as t, (select count(*) from schema_migrations where name = '0350_api_broken.sql')::int as n",
    );
    expect(rows[0]).toEqual({ t: null, n: 0 });
    // The lock was released: a fixed file applies at once.
    await writeFile(new URL('0350_api_broken.sql', dir), 'create table api_half (id int);');
    expect((await migrate(pool, silentLog, { dir })).applied).toEqual(['0350_api_broken.sql']);
  });

  it('rejects a file name that breaks the pattern, and two files with one number', async () => {
    const dir = await copyOfMigrations();
    await writeFile(new URL('12_oops.sql', dir), 'select 1;');
    await expect(readMigrations(dir)).rejects.toThrow(
      'migration file 12_oops.sql does not match NNNN_name.sql (four digits, lower-case name); rename it',
    );
    await rm(new URL('12_oops.sql', dir));
    await writeFile(new URL('0001_duplicate.sql', dir), 'select 1;');
    await expect(readMigrations(dir)).rejects.toThrow(
      /^migration files 0001_duplicate\.sql and 0001_[a-z_]+\.sql share number 0001/,
    );
  });
});

describe('migrate CLI', () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('prints what it applied, then that the schema is up to date', async () => {
    const db = await createTestDatabase('migcli');
    dbs.push(db);
    const env = { PATH: process.env.PATH, DATABASE_URL: db.url };
    const first = await run(process.execPath, ['--conditions=source', cliPath.pathname], { env });
    const files = (await readMigrations()).map((f) => `applied ${f.name}`);
    expect(first.stdout).toBe(`${files.join('\n')}\n${files.length} migration(s) applied\n`);
    const second = await run(process.execPath, ['--conditions=source', cliPath.pathname], { env });
    expect(second.stdout).toBe('schema is up to date\n');
  });

  it('exits non-zero with one line when DATABASE_URL is missing', async () => {
    const error = (await run(process.execPath, ['--conditions=source', cliPath.pathname], {
      env: { PATH: process.env.PATH },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(1);
    expect(error.stderr).toBe(
      'migrate failed: CONFIG_INVALID: invalid configuration: DATABASE_URL: is required but not set\n',
    );
  });

  it('exits non-zero with one line, without the password, when the server refuses', async () => {
    const error = (await run(process.execPath, ['--conditions=source', cliPath.pathname], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://u:pw-secret@127.0.0.1:1/x' },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(1);
    expect(error.stderr).toMatch(/^migrate failed: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
    expect(error.stderr).not.toContain('pw-secret');
  });
});
