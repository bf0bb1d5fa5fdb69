/**
 * A dbt-compatible `run_results.json` (schema v6) built from a run's step outcomes, so tools
 * that read dbt's artifacts can read a DVT+ run of a dbt project.
 */
import type { ExecutionPlan } from '@dvt/contracts';
import type { DbtNodeResult } from './executors/types.ts';

export const RUN_RESULTS_SCHEMA = 'https://schemas.getdbt.com/dbt/run-results/v6.json';

export interface DbtStepOutcome {
  dbt: DbtNodeResult;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number;
}

export interface BuildRunResultsInput {
  plan: ExecutionPlan;
  outcomes: Map<string, DbtStepOutcome>;
  invocationId: string;
  startedAt: string;
  finishedAt: string;
  engineVersion: string;
}

export function buildRunResults(input: BuildRunResultsInput) {
  const results = [];
  for (const step of input.plan.steps) {
    if (step.kind !== 'dbt.model' && step.kind !== 'dbt.test') continue;
    const outcome = input.outcomes.get(step.id);
    if (!outcome) continue;
    const { dbt } = outcome;
    const timing =
      outcome.startedAt && outcome.completedAt
        ? [
            { name: 'compile', started_at: outcome.startedAt, completed_at: outcome.startedAt },
            { name: 'execute', started_at: outcome.startedAt, completed_at: outcome.completedAt },
          ]
        : [];
    results.push({
      status: dbt.status,
      timing,
      thread_id: 'dvt-engine',
      execution_time: outcome.durationMs / 1000,
      adapter_response: dbt.adapterResponse,
      message: dbt.message,
      failures: dbt.failures,
      unique_id: step.with.uniqueId,
      compiled: dbt.compiledCode !== null,
      compiled_code: dbt.compiledCode ?? step.with.compiledSql,
      relation_name: dbt.relationName,
      batch_results: null,
    });
  }
  return {
    metadata: {
      dbt_schema_version: RUN_RESULTS_SCHEMA,
      dbt_version: input.plan.source.dbtVersion ?? 'unknown',
      generated_at: input.finishedAt,
      invocation_id: input.invocationId,
      invocation_started_at: input.startedAt,
      env: { DVT_ENGINE_VERSION: input.engineVersion },
    },
    results,
    elapsed_time: Math.max(0, (Date.parse(input.finishedAt) - Date.parse(input.startedAt)) / 1000),
    args: {
      which: 'run',
      invocation_command: `dvt run ${input.plan.planId}@${input.plan.planVersion}`,
    },
  };
}
