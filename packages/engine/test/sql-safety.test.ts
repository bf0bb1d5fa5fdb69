import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@dvt/service-kit';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import { runSql } from '../src/executors/sql.ts';
import { splitStatements } from '../src/executors/sql-text.ts';
import { TargetRegistry } from '../src/executors/targets.ts';
import { createStepLog, type ExecutorContext } from '../src/executors/types.ts';

const ctx = (): ExecutorContext => ({ signal: new AbortController().signal, log: createStepLog() });
const log = createLogger({ service: 't', level: 'silent' });

let db: TestDatabase;
let targets: TargetRegistry;
beforeAll(async () => {
  db = await createTestDatabase('sqlsafe');
  // one connection, so a second step surely gets the connection the first one used
  targets = new TargetRegistry({ urls: { warehouse: db.url }, log, poolSize: 1 });
});
afterAll(async () => {
  await targets?.close();
  await db?.drop();
});

const refusal = (n: number, keyword: string) =>
  `statement ${n} of the step's SQL is ${keyword}; the engine runs a step's SQL in one transaction that it opens and commits itself — remove transaction control (BEGIN, COMMIT, END, ROLLBACK, ABORT, START/PREPARE TRANSACTION, SET/RESET SESSION AUTHORIZATION, RESET ALL) from the SQL`;

describe('statement splitting', () => {
  it('ignores semicolons and keywords inside strings, identifiers, comments and bodies', async () => {
    const sql = [
      'select \'a;commit\' as "x;y";',
      "select E'it\\'s; begin';",
      '/* outer /* nested ; */ rollback; */ select 1;',
      'do $body$ begin perform 1; end $body$;',
      '-- commit;',
      'create function f() returns int language sql begin atomic select case when true then 1 end; end;',
      '  ;  ',
    ].join('\n');
    expect(splitStatements(sql).map((s) => s.keywords)).toEqual([
      ['SELECT', 'AS'],
      ['SELECT', 'E'],
      ['SELECT'],
      ['DO'],
      ['CREATE', 'FUNCTION', 'F'],
    ]);
    const result = await runSql({ target: 'warehouse', sql }, targets, ctx());
    expect(result.output.statements).toEqual([
      { command: 'SELECT', rowCount: 1 },
      { command: 'SELECT', rowCount: 1 },
      { command: 'SELECT', rowCount: 1 },
      { command: 'DO', rowCount: null },
      { command: 'CREATE', rowCount: null },
    ]);
  });

  it('refuses an unterminated string, naming where it starts', async () => {
    await expect(
      runSql({ target: 'warehouse', sql: "select 1; select 'abc" }, targets, ctx()),
    ).rejects.toMatchObject({
      code: 'SQL_INVALID_TEXT',
      retryable: false,
      message: "the step's SQL has an unterminated string starting at offset 17; close it",
    });
  });
});

describe('one transaction the SQL cannot end', () => {
  it.each([
    ['commit; set statement_timeout = 0; select pg_sleep(6)', 1, 'COMMIT'],
    ['select 1; /* c */ END', 2, 'END'],
    ['select 1;\n  rollback', 2, 'ROLLBACK'],
    ['Begin; select 1', 1, 'BEGIN'],
    ['select 1; start transaction', 2, 'START TRANSACTION'],
    ['select 1; abort', 2, 'ABORT'],
    ["prepare transaction 'x'", 1, 'PREPARE TRANSACTION'],
    ['set session authorization postgres', 1, 'SET SESSION AUTHORIZATION'],
    ['select 1; reset all', 2, 'RESET ALL'],
  ])('refuses %j before running anything', async (sql, n, keyword) => {
    const started = Date.now();
    await expect(
      runSql(
        { target: 'warehouse', sql: `create table if not exists probe (id int); ${sql}` },
        targets,
        ctx(),
      ),
    ).rejects.toMatchObject({
      code: 'SQL_TRANSACTION_CONTROL',
      retryable: false,
      message: refusal(n + 1, keyword),
      details: { statement: n + 1, keyword },
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    const probe = await runSql(
      { target: 'warehouse', sql: "select 1 from pg_class where relname = 'probe'" },
      targets,
      ctx(),
    );
    expect(probe.output.rows).toBe(0);
  });

  it('keeps statementTimeoutMs when the SQL sets statement_timeout itself', async () => {
    const started = Date.now();
    await expect(
      runSql(
        {
          target: 'warehouse',
          sql: 'set statement_timeout = 0; select set_config($$statement_timeout$$, $$0$$, false); select pg_sleep(6)',
          statementTimeoutMs: 500,
        },
        targets,
        ctx(),
      ),
    ).rejects.toMatchObject({
      code: 'SQL_STATEMENT_TIMEOUT',
      message: 'the statement on target "warehouse" ran longer than statementTimeoutMs 500',
    });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('runs normal multi-statement text with per-statement row counts, in one transaction', async () => {
    const result = await runSql(
      {
        target: 'warehouse',
        sql: "create table t (id int, note text); insert into t select g, 'a;b' from generate_series(1, 5) g; update t set note = $$x$$ where id <= 2; -- done;\nselect * from t where id > 1",
        expectRows: 4,
      },
      targets,
      ctx(),
    );
    expect(result.output).toEqual({
      target: 'warehouse',
      statements: [
        { command: 'CREATE', rowCount: null },
        { command: 'INSERT', rowCount: 5 },
        { command: 'UPDATE', rowCount: 2 },
        { command: 'SELECT', rowCount: 4 },
      ],
      rows: 4,
    });
  });

  it('does not let session settings follow the connection to the next step', async () => {
    await runSql(
      { target: 'warehouse', sql: "set application_name = 'leaked'; select 1" },
      targets,
      ctx(),
    );
    const next = await runSql(
      { target: 'warehouse', sql: "select 1 where current_setting('application_name') = 'leaked'" },
      targets,
      ctx(),
    );
    expect(next.output.rows).toBe(0);
  });
});

describe('bounded memory', () => {
  it('counts a result of ~250 MB without holding it', async () => {
    const script = fileURLToPath(new URL('./fixtures/sql-memory.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--conditions=source', script],
      {
        env: {
          ...process.env,
          SQL_MEMORY_URL: db.url,
          SQL_MEMORY_TEXT: "select 1; select repeat('x', 1000) from generate_series(1, 250000)",
        },
        maxBuffer: 1024 * 1024,
      },
    );
    const report = JSON.parse(stdout) as { output: unknown; growthBytes: number };
    expect(report.output).toEqual({
      target: 'warehouse',
      statements: [
        { command: 'SELECT', rowCount: 1 },
        { command: 'SELECT', rowCount: 250000 },
      ],
      rows: 250000,
    });
    expect(report.growthBytes).toBeLessThan(32 * 1024 * 1024);
  }, 120_000);
});
