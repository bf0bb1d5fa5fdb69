/**
 * The sql step. Its text runs in exactly one transaction that the engine opens and commits:
 *
 * - The text is split into statements (see sql-text.ts) and each statement runs on its own
 *   through a cursor (pg-cursor, extended query protocol) that is read in batches of
 *   {@link BATCH_ROWS} rows and only counted, so engine memory stays bounded whatever a
 *   statement returns; only the row counts (and the last statement's row count for
 *   `expectRows`) are kept. Since a statement runs on the extended protocol, it cannot carry
 *   further statements of its own.
 * - A statement that would end or escape the transaction (BEGIN, COMMIT, END, ROLLBACK, ABORT,
 *   START TRANSACTION, PREPARE TRANSACTION, SET/RESET SESSION AUTHORIZATION, RESET ALL) is
 *   refused before anything runs (SQL_TRANSACTION_CONTROL, not retryable); text with an
 *   unclosed quote or comment is refused as SQL_INVALID_TEXT.
 * - `statementTimeoutMs` is set as `set local statement_timeout` and also enforced by the
 *   engine for each statement (pg_cancel_backend once it has run that long), so a
 *   `set statement_timeout` inside the text cannot lift it. The step's own timeoutMs cancels
 *   the query on the server as before (the abort signal).
 */
import Cursor from 'pg-cursor';
import type { SqlParams } from '@dvt/contracts';
import { splitStatements, transactionControl } from './sql-text.ts';
import type { TargetRegistry } from './targets.ts';
import { StepError, type ExecutorContext, type ExecutorResult } from './types.ts';

/** Rows fetched per round trip while counting a statement's result. */
export const BATCH_ROWS = 500;

/** Extra time the engine's own statement timer waits past the server's statement_timeout. */
const WATCHDOG_SLACK_MS = 100;

interface StatementResult {
  command: string;
  rowCount: number | null;
  /** Rows the statement returned (counted, not kept). */
  returned: number;
}

/** Values stay the wire's text: they are counted, never read. */
const rawTypes = { getTypeParser: () => (value: string) => value };

/** Runs the step's SQL in one transaction on its target; records each statement's row count. */
export async function runSql(
  params: SqlParams,
  targets: TargetRegistry,
  ctx: ExecutorContext,
): Promise<ExecutorResult> {
  const parts = splitStatements(params.sql);
  parts.forEach((statement, index) => {
    const control = transactionControl(statement.keywords);
    if (control) {
      throw new StepError(
        'SQL_TRANSACTION_CONTROL',
        `statement ${index + 1} of the step's SQL is ${control}; the engine runs a step's SQL in one transaction that it opens and commits itself — remove transaction control (BEGIN, COMMIT, END, ROLLBACK, ABORT, START/PREPARE TRANSACTION, SET/RESET SESSION AUTHORIZATION, RESET ALL) from the SQL`,
        { retryable: false, details: { statement: index + 1, keyword: control } },
      );
    }
  });
  const timeoutMs = params.statementTimeoutMs;
  const statements = await targets.transaction(
    params.target,
    { signal: ctx.signal, ...(timeoutMs ? { statementTimeoutMs: timeoutMs } : {}) },
    async (client, cancel) => {
      const results: StatementResult[] = [];
      for (const { text } of parts) {
        const timer = timeoutMs
          ? setTimeout(cancel, Math.trunc(timeoutMs) + WATCHDOG_SLACK_MS)
          : undefined;
        try {
          const cursor = client.query(new Cursor(text, [], { rowMode: 'array', types: rawTypes }));
          let returned = 0;
          for (;;) {
            const rows = await cursor.read(BATCH_ROWS);
            returned += rows.length;
            if (rows.length < BATCH_ROWS) break;
          }
          const result = (
            cursor as unknown as {
              _result: { command: string; rowCount: number | null; fields: unknown[] };
            }
          )._result;
          await cursor.close();
          // The command tag of a portal read in batches counts only its last batch; a
          // statement that returns rows reports how many it returned.
          const rowCount = result.fields.length > 0 ? returned : result.rowCount;
          results.push({ command: result.command, rowCount, returned });
        } finally {
          clearTimeout(timer);
        }
      }
      return results;
    },
  );
  const counts = statements.map((s) => ({ command: s.command, rowCount: s.rowCount }));
  ctx.log.info('sql finished', { target: params.target, statements: counts });
  const returned = statements.at(-1)?.returned ?? 0;
  if (params.expectRows !== undefined && returned !== params.expectRows) {
    throw new StepError(
      'SQL_EXPECT_ROWS_MISMATCH',
      `the last statement returned ${returned} row(s); the step expects ${params.expectRows}`,
      { retryable: false, details: { rows: returned, expectRows: params.expectRows } },
    );
  }
  return { output: { target: params.target, statements: counts, rows: returned } };
}
