/**
 * dbt.model and dbt.test on a Postgres target.
 *
 * A view is `create or replace view`; when Postgres refuses that (the columns changed, or a
 * table of that name exists) it is built under a temporary name and swapped in. A table is
 * always built under a temporary name and swapped in: the old relation is renamed aside, the
 * new one renamed into place and the old one dropped, all in one transaction, so readers see
 * either the old rows or the new ones. The schema is created when missing. As in dbt, dropping
 * the old relation drops views that depended on it; they are rebuilt by their own steps.
 */
import pg from 'pg';
import type { DbtModelParams, DbtTestParams } from '@dvt/contracts';
import type { TargetRegistry } from './targets.ts';
import { StepError, type ExecutorContext, type ExecutorResult } from './types.ts';

const DEFAULT_TARGET = 'warehouse';

function quote(name: string): string {
  return pg.escapeIdentifier(name);
}

function relationName(params: DbtModelParams): string {
  return `${quote(params.schema)}.${quote(params.identifier)}`;
}

/** Strips a trailing semicolon, which would end the statement we wrap the SQL in. */
function bareSql(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

export async function runDbtModel(
  params: DbtModelParams,
  targets: TargetRegistry,
  ctx: ExecutorContext,
): Promise<ExecutorResult> {
  const relation = relationName(params);
  if (params.simulate) {
    ctx.log.info('dbt model simulated', { uniqueId: params.uniqueId });
    return {
      output: { simulated: true, relation },
      dbt: {
        status: 'success',
        message: 'SIMULATED',
        failures: null,
        relationName: relation,
        compiledCode: params.compiledSql,
        adapterResponse: {},
      },
    };
  }
  if (params.compiledSql === null) {
    throw new StepError(
      'DBT_NOT_COMPILED',
      `model ${params.uniqueId} has no compiled SQL; compile the manifest (dbt compile) and plan again`,
      { retryable: false },
    );
  }
  const sql = bareSql(params.compiledSql);
  const target = params.target ?? DEFAULT_TARGET;
  const rows = await targets.transaction(target, { signal: ctx.signal }, async (client) => {
    // Concurrent `create schema if not exists` of one schema races on pg_namespace (23505);
    // a transaction-scoped advisory lock per schema name serializes just that statement.
    await client.query(`select pg_advisory_xact_lock(hashtext('dvt.schema:' || $1))`, [
      params.schema,
    ]);
    await client.query(`create schema if not exists ${quote(params.schema)}`);
    const existing = await client.query<{ relkind: string }>(
      `select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relname = $2`,
      [params.schema, params.identifier],
    );
    const kind = existing.rows[0]?.relkind;
    if (params.materialization === 'view') {
      if (kind === undefined || kind === 'v') {
        await client.query('savepoint dvt_view');
        try {
          await client.query(`create or replace view ${relation} as ${sql}`);
          return null;
        } catch (error) {
          // 42P16: the columns changed in a way `create or replace view` cannot express.
          if ((error as { code?: string }).code !== '42P16') throw error;
          await client.query('rollback to savepoint dvt_view');
        }
      }
      await swapIn(client, params, kind, `create view`, sql);
      return null;
    }
    return await swapIn(client, params, kind, 'create table', sql);
  });
  const message = params.materialization === 'view' ? 'CREATE VIEW' : `SELECT ${rows ?? 0}`;
  ctx.log.info('dbt model built', {
    uniqueId: params.uniqueId,
    relation,
    materialization: params.materialization,
    rows,
  });
  return {
    output: {
      relation,
      materialization: params.materialization,
      ...(rows === null ? {} : { rows }),
    },
    dbt: {
      status: 'success',
      message,
      failures: null,
      relationName: relation,
      compiledCode: params.compiledSql,
      adapterResponse: {
        _message: message,
        code: message.split(' ')[0],
        rows_affected: rows ?? -1,
      },
    },
  };
}

/** Builds the relation as `<identifier>__dvt_tmp`, then swaps it in; returns the row count. */
async function swapIn(
  client: pg.PoolClient,
  params: DbtModelParams,
  existingKind: string | undefined,
  create: 'create view' | 'create table',
  sql: string,
): Promise<number | null> {
  const schema = quote(params.schema);
  const tmpName = `${params.identifier}__dvt_tmp`;
  const backupName = `${params.identifier}__dvt_backup`;
  await dropAny(client, params.schema, tmpName);
  await dropAny(client, params.schema, backupName);
  const built = await client.query(`${create} ${schema}.${quote(tmpName)} as ${sql}`);
  if (existingKind !== undefined) {
    const what =
      existingKind === 'v' ? 'view' : existingKind === 'm' ? 'materialized view' : 'table';
    await client.query(
      `alter ${what} ${schema}.${quote(params.identifier)} rename to ${quote(backupName)}`,
    );
  }
  const builtKind = create === 'create view' ? 'view' : 'table';
  await client.query(
    `alter ${builtKind} ${schema}.${quote(tmpName)} rename to ${quote(params.identifier)}`,
  );
  await dropAny(client, params.schema, backupName);
  return create === 'create table' ? (built.rowCount ?? 0) : null;
}

async function dropAny(client: pg.PoolClient, schema: string, name: string): Promise<void> {
  const found = await client.query<{ relkind: string }>(
    `select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relname = $2`,
    [schema, name],
  );
  const kind = found.rows[0]?.relkind;
  if (kind === undefined) return;
  const what = kind === 'v' ? 'view' : kind === 'm' ? 'materialized view' : 'table';
  await client.query(`drop ${what} ${quote(schema)}.${quote(name)} cascade`);
}

export async function runDbtTest(
  params: DbtTestParams,
  targets: TargetRegistry,
  ctx: ExecutorContext,
): Promise<ExecutorResult> {
  if (params.simulate) {
    return {
      output: { simulated: true },
      dbt: {
        status: 'pass',
        message: null,
        failures: 0,
        relationName: null,
        compiledCode: params.compiledSql,
        adapterResponse: {},
      },
    };
  }
  if (params.compiledSql === null) {
    throw new StepError(
      'DBT_NOT_COMPILED',
      `test ${params.uniqueId} has no compiled SQL; compile the manifest (dbt compile) and plan again`,
      { retryable: false },
    );
  }
  const target = params.target ?? DEFAULT_TARGET;
  const failures = await targets.transaction(target, { signal: ctx.signal }, async (client) => {
    const result = await client.query<{ failures: string }>(
      `select count(*) as failures from (${bareSql(params.compiledSql!)}) dbt_internal_test`,
    );
    return Number(result.rows[0]?.failures ?? 0);
  });
  ctx.log.info('dbt test finished', {
    uniqueId: params.uniqueId,
    failures,
    severity: params.severity,
  });
  const adapterResponse = { _message: 'SELECT 1', code: 'SELECT', rows_affected: 1 };
  if (failures === 0) {
    return {
      output: { failures },
      dbt: {
        status: 'pass',
        message: null,
        failures,
        relationName: null,
        compiledCode: params.compiledSql,
        adapterResponse,
      },
    };
  }
  const message = `Got ${failures} result${failures === 1 ? '' : 's'}, configured to ${params.severity === 'warn' ? 'warn' : 'fail'} if != 0`;
  if (params.severity === 'warn') {
    return {
      output: { failures },
      warning: message,
      dbt: {
        status: 'warn',
        message,
        failures,
        relationName: null,
        compiledCode: params.compiledSql,
        adapterResponse,
      },
    };
  }
  throw new StepError('DBT_TEST_FAILED', `test ${params.uniqueId}: ${message}`, {
    retryable: false,
    details: {
      failures,
      dbt: {
        status: 'fail',
        message,
        failures,
        relationName: null,
        compiledCode: params.compiledSql,
        adapterResponse,
      },
    },
  });
}
