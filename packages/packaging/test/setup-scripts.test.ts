import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresBinDir, toolPath } from '@dvt/devstack';
import { repoPath } from '@dvt/packaging';
import { testInfra, testPostgresAdminUrl, testTemporalAddress } from '@dvt/testkit';

const run = promisify(execFile);

async function script(
  file: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      file.endsWith('.sh') && file.includes('postgres') ? 'bash' : 'sh',
      [repoPath(file)],
      {
        // HOME as in the job images: the temporal CLI reads its config folder from it.
        env: {
          PATH: `${path.dirname(toolPath('temporal'))}:${postgresBinDir()}:/usr/bin:/bin`,
          HOME: tmpdir(),
          ...env,
        },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}

async function adminQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: testPostgresAdminUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function canLogin(user: string, password: string, database: string): Promise<boolean> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: testInfra.postgresPort,
    user,
    password,
    database,
    connectionTimeoutMillis: 5_000,
  });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('docker/postgres/setup.sh (the db-setup job) against real PostgreSQL', () => {
  const tag = randomBytes(4).toString('hex');
  const names = {
    DVT_DB_USER: `pkg_dvt_${tag}`,
    DVT_DB_NAME: `pkg_dvt_${tag}`,
    WAREHOUSE_DB_NAME: `pkg_wh_${tag}`,
    WAREHOUSE_DB_USER: `pkg_wh_${tag}`,
    TEMPORAL_DB_USER: `pkg_tmp_${tag}`,
    TEMPORAL_DB_NAME: `pkg_tmp_${tag}`,
    TEMPORAL_VISIBILITY_DB_NAME: `pkg_tmpvis_${tag}`,
  };
  const connection = {
    PGHOST: '127.0.0.1',
    PGPORT: String(testInfra.postgresPort),
    PGUSER: 'postgres',
    PGPASSWORD: testInfra.postgresPassword,
    PGDATABASE: 'postgres',
  };
  const env = (passwords: { dvt: string; temporal: string }) => ({
    ...connection,
    ...names,
    DVT_DB_PASSWORD: passwords.dvt,
    WAREHOUSE_DB_PASSWORD: 'wh-pass',
    TEMPORAL_DB_PASSWORD: passwords.temporal,
  });

  afterAll(async () => {
    for (const db of [
      names.DVT_DB_NAME,
      names.WAREHOUSE_DB_NAME,
      names.TEMPORAL_DB_NAME,
      names.TEMPORAL_VISIBILITY_DB_NAME,
    ]) {
      await adminQuery(`drop database if exists ${pg.escapeIdentifier(db)} with (force)`);
    }
    for (const role of [names.DVT_DB_USER, names.WAREHOUSE_DB_USER, names.TEMPORAL_DB_USER]) {
      await adminQuery(`drop role if exists ${pg.escapeIdentifier(role)}`);
    }
  });

  it('creates the roles and databases, and a second run changes nothing and succeeds', async () => {
    const first = await script(
      'docker/postgres/setup.sh',
      env({ dvt: 'pw-one', temporal: "it's-two" }),
    );
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const second = await script(
      'docker/postgres/setup.sh',
      env({ dvt: 'pw-one', temporal: "it's-two" }),
    );
    expect(second).toEqual(first);
    expect(second.stdout).toBe(
      `db-setup: roles ${names.DVT_DB_USER}, ${names.WAREHOUSE_DB_USER}, ${names.TEMPORAL_DB_USER} and databases ${names.DVT_DB_NAME}, ${names.WAREHOUSE_DB_NAME}, ${names.TEMPORAL_DB_NAME}, ${names.TEMPORAL_VISIBILITY_DB_NAME} are in place\n`,
    );
    const owners = await adminQuery<{ datname: string; owner: string }>(
      `select datname, pg_get_userbyid(datdba) as owner from pg_database where datname like $1 order by datname`,
      [`pkg_%${tag}`],
    );
    expect(owners).toEqual(
      [
        { datname: names.DVT_DB_NAME, owner: names.DVT_DB_USER },
        { datname: names.TEMPORAL_DB_NAME, owner: names.TEMPORAL_DB_USER },
        { datname: names.TEMPORAL_VISIBILITY_DB_NAME, owner: names.TEMPORAL_DB_USER },
        { datname: names.WAREHOUSE_DB_NAME, owner: names.WAREHOUSE_DB_USER },
      ].sort((a, b) => a.datname.localeCompare(b.datname)),
    );
    const roles = await adminQuery<{ rolname: string; rolsuper: boolean; rolcreatedb: boolean }>(
      `select rolname, rolsuper, rolcreatedb from pg_roles where rolname like $1 order by rolname`,
      [`pkg_%${tag}`],
    );
    expect(roles).toEqual(
      [
        { rolname: names.DVT_DB_USER, rolsuper: false, rolcreatedb: false },
        { rolname: names.TEMPORAL_DB_USER, rolsuper: false, rolcreatedb: false },
        { rolname: names.WAREHOUSE_DB_USER, rolsuper: false, rolcreatedb: false },
      ].sort((a, b) => a.rolname.localeCompare(b.rolname)),
    );
    expect(await canLogin(names.DVT_DB_USER, 'pw-one', names.DVT_DB_NAME)).toBe(true);
    expect(await canLogin(names.WAREHOUSE_DB_USER, 'wh-pass', names.WAREHOUSE_DB_NAME)).toBe(true);
    // Plan-supplied SQL runs as the warehouse role: it must not reach the control plane.
    expect(await canLogin(names.WAREHOUSE_DB_USER, 'wh-pass', names.DVT_DB_NAME)).toBe(false);
    expect(
      await canLogin(names.TEMPORAL_DB_USER, "it's-two", names.TEMPORAL_VISIBILITY_DB_NAME),
    ).toBe(true);
  });

  it('applies a changed password on the next run', async () => {
    const result = await script(
      'docker/postgres/setup.sh',
      env({ dvt: 'pw-rotated', temporal: "it's-two" }),
    );
    expect(result.code).toBe(0);
    expect(await canLogin(names.DVT_DB_USER, 'pw-rotated', names.DVT_DB_NAME)).toBe(true);
    expect(await canLogin(names.DVT_DB_USER, 'pw-one', names.DVT_DB_NAME)).toBe(false);
  });

  it('stops with a clear line when a password is missing', async () => {
    const { DVT_DB_PASSWORD: _omit, ...rest } = env({ dvt: 'x', temporal: 'y' });
    const result = await script('docker/postgres/setup.sh', rest);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /DVT_DB_PASSWORD: DVT_DB_PASSWORD is required \(the password of the application role\)\n$/,
    );
  });

  it('gives up with a clear line when PostgreSQL does not answer', async () => {
    const result = await script('docker/postgres/setup.sh', {
      ...env({ dvt: 'x', temporal: 'y' }),
      PGPORT: '1',
      DB_SETUP_ATTEMPTS: '1',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('db-setup: PostgreSQL at 127.0.0.1:1 did not accept connections\n');
  });
});

describe('docker/temporal/create-namespace.sh (the temporal-namespace job) against real Temporal', () => {
  const namespace = `pkg-${randomBytes(4).toString('hex')}`;
  // The test server's HTTP API port is its gRPC port + 10 (see @dvt/devstack).
  const httpApi = `http://127.0.0.1:${testInfra.temporalPort + 10}/api/v1/namespaces/${namespace}`;

  afterAll(async () => {
    await run(toolPath('temporal'), [
      'operator',
      'namespace',
      'delete',
      '-n',
      namespace,
      '-y',
      '--address',
      testTemporalAddress,
    ]).catch(() => undefined);
  });

  it('the healthcheck URL answers 404 before the namespace exists (B16: up but not ready)', async () => {
    expect((await fetch(httpApi)).status).toBe(404);
  });

  it('registers the namespace, and a second run finds it and succeeds', async () => {
    const env = { TEMPORAL_ADDRESS: testTemporalAddress, NAMESPACE: namespace };
    const first = await script('docker/temporal/create-namespace.sh', env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`temporal-namespace: namespace ${namespace} is registered\n`);
    const second = await script('docker/temporal/create-namespace.sh', env);
    expect(second).toEqual({
      code: 0,
      stdout: `temporal-namespace: waiting for the cluster at ${testTemporalAddress}\ntemporal-namespace: namespace ${namespace} already exists\n`,
      stderr: '',
    });
  });

  it('the healthcheck URL answers 200 once the namespace exists', async () => {
    const response = await fetch(httpApi);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { namespaceInfo?: { name?: string } };
    expect(body.namespaceInfo?.name).toBe(namespace);
  });

  it('fails with a clear line when the cluster never turns healthy', async () => {
    const result = await script('docker/temporal/create-namespace.sh', {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      NAMESPACE: namespace,
      HEALTH_ATTEMPTS: '1',
      HEALTH_DELAY_SECONDS: '0',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'temporal-namespace: the cluster at 127.0.0.1:1 did not turn healthy\n',
    );
  });
});

describe('docker/temporal/setup-schema.sh (the temporal-schema job)', () => {
  // temporal-sql-tool is not on this machine: a stand-in records how the script calls it.
  const bin = mkdtempSync(path.join(tmpdir(), 'dvt-sqltool-'));
  const log = path.join(bin, 'calls.log');
  writeFileSync(
    path.join(bin, 'temporal-sql-tool'),
    `#!/bin/sh\necho "SQL_PASSWORD=$SQL_PASSWORD $*" >> "${log}"\n`,
  );
  chmodSync(path.join(bin, 'temporal-sql-tool'), 0o755);
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it('sets up and migrates both databases with the postgres12 plugin, never `create`', async () => {
    const result = await run('sh', [repoPath('docker/temporal/setup-schema.sh')], {
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        POSTGRES_SEEDS: 'postgres',
        POSTGRES_USER: 'temporal',
        POSTGRES_PWD: 'secret-pw',
        DBNAME: 'temporal',
        VISIBILITY_DBNAME: 'temporal_visibility',
      },
    });
    expect(result.stdout).toContain('temporal-schema: done');
    const base = 'SQL_PASSWORD=secret-pw --plugin postgres12 --ep postgres -p 5432 -u temporal';
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      `${base} --db temporal setup-schema -v 0.0`,
      `${base} --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned`,
      `${base} --db temporal_visibility setup-schema -v 0.0`,
      `${base} --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned`,
    ]);
  });

  it('stops with a clear line when POSTGRES_PWD is missing', async () => {
    await expect(
      run('sh', [repoPath('docker/temporal/setup-schema.sh')], {
        env: {
          PATH: `${bin}:/usr/bin:/bin`,
          POSTGRES_SEEDS: 'postgres',
          POSTGRES_USER: 'temporal',
        },
      }),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('POSTGRES_PWD is required (the password of POSTGRES_USER)'),
    });
  });
});
