import type { SqlParams } from '@dvt/contracts';
import type { TargetRegistry } from './targets.ts';
import { StepError, type ExecutorContext, type ExecutorResult } from './types.ts';

interface StatementResult {
  command: string;
  rowCount: number | null;
  rows?: unknown[];
}

/** Runs the step's SQL in one transaction on its target; records each statement's row count. */
export async function runSql(
  params: SqlParams,
  targets: TargetRegistry,
  ctx: ExecutorContext,
): Promise<ExecutorResult> {
  const statements = await targets.transaction(
    params.target,
    { signal: ctx.signal, statementTimeoutMs: params.statementTimeoutMs },
    async (client) => {
      const result = (await client.query(params.sql)) as unknown as
        StatementResult | StatementResult[];
      return Array.isArray(result) ? result : [result];
    },
  );
  const counts = statements.map((s) => ({ command: s.command, rowCount: s.rowCount }));
  ctx.log.info('sql finished', { target: params.target, statements: counts });
  const last = statements.at(-1);
  const returned = last?.rows?.length ?? 0;
  if (params.expectRows !== undefined && returned !== params.expectRows) {
    throw new StepError(
      'SQL_EXPECT_ROWS_MISMATCH',
      `the last statement returned ${returned} row(s); the step expects ${params.expectRows}`,
      { retryable: false, details: { rows: returned, expectRows: params.expectRows } },
    );
  }
  return { output: { target: params.target, statements: counts, rows: returned } };
}
