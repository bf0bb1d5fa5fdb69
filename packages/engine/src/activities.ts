/**
 * The run workflow's activities. Every lifecycle event is appended here, through the run
 * state store, with a logicalAttemptId the workflow chose deterministically: an activity that
 * Temporal retries (a worker died, the database blinked) appends the same keys again and the
 * store returns the existing records, so no event is ever duplicated.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ExecutionStep, RunEvent, RunEventInput } from '@dvt/contracts';
import { errorText, isProblemError, type Logger } from '@dvt/service-kit';
import { runDbtModel, runDbtTest } from './executors/dbt.ts';
import { runHttp, type HttpExecutorOptions } from './executors/http.ts';
import { runNoop } from './executors/noop.ts';
import { runSql } from './executors/sql.ts';
import type { TargetRegistry } from './executors/targets.ts';
import {
  createStepLog,
  isStepError,
  StepError,
  type ExecutorContext,
  type ExecutorResult,
} from './executors/types.ts';
import { PlanCache, planSkeleton } from './plans.ts';
import type { ArtifactPort, EventStore } from './ports.ts';
import { buildRunResults, type DbtStepOutcome } from './run-results.ts';
import type {
  EventDraft,
  FinishRunInput,
  PlanRef,
  PlanSkeleton,
  RunScope,
  StepActivityInput,
  StepActivityResult,
} from './workflows/types.ts';

export interface ActivityDeps {
  log: Logger;
  events: EventStore;
  artifacts: ArtifactPort;
  targets: TargetRegistry;
  http: HttpExecutorOptions;
  /** Timeout of approval steps whose plan names none, in ms. */
  approvalTimeoutMs: number;
  /** Engine version written into run_results.json metadata. */
  engineVersion?: string;
  /** This engine's worker identity (random per process, no host pid), in StepCompleted. */
  workerId?: string;
}

/** Problem codes that no retry can fix. */
const TERMINAL_CODES = new Set([
  'PLAN_INTEGRITY_VALIDATION_FAILED',
  'PLAN_INVALID',
  'ARTIFACT_NOT_FOUND',
  'VALIDATION_FAILED',
  'CONFLICT',
]);

function toFailure(error: unknown): unknown {
  if (isProblemError(error) && TERMINAL_CODES.has(error.code)) {
    return ApplicationFailure.create({
      message: error.message,
      type: error.code,
      nonRetryable: true,
    });
  }
  return error;
}

function eventInput(scope: RunScope, draft: EventDraft): RunEventInput {
  return {
    runId: scope.runId,
    tenantId: scope.tenantId,
    projectId: scope.projectId,
    environment: scope.environment,
    planId: scope.planId,
    planVersion: scope.planVersion,
    stepId: draft.stepId ?? null,
    logicalAttemptId: draft.logicalAttemptId,
    attempt: draft.attempt ?? null,
    eventType: draft.eventType,
    payload: draft.payload ?? {},
    emittedAt: new Date(),
  };
}

/** Activities get their dependencies through this factory, wired once in app.ts. */
export function createActivities(deps: ActivityDeps) {
  const plans = new PlanCache(deps.artifacts);

  async function append(scope: RunScope, drafts: EventDraft[]): Promise<void> {
    if (drafts.length === 0) return;
    try {
      await deps.events.appendEvents(drafts.map((draft) => eventInput(scope, draft)));
    } catch (error) {
      throw toFailure(error);
    }
  }

  async function storeText(tenantId: string, kind: string, contentType: string, text: string) {
    return deps.artifacts.put(tenantId, Buffer.from(text), {
      kind,
      contentType,
      createdBy: 'dvt-engine',
    });
  }

  async function execute(
    step: ExecutionStep,
    attempt: number,
    ctx: ExecutorContext,
  ): Promise<ExecutorResult> {
    switch (step.kind) {
      case 'noop':
        return runNoop(step.with, attempt, ctx);
      case 'sql':
        return runSql(step.with, deps.targets, ctx);
      case 'http':
        return runHttp(step.with, deps.http, ctx);
      case 'dbt.model':
        return runDbtModel(step.with, deps.targets, ctx);
      case 'dbt.test':
        return runDbtTest(step.with, deps.targets, ctx);
      case 'approval':
        throw new StepError(
          'STEP_KIND_NOT_EXECUTABLE',
          'approval steps are handled by the workflow, not an activity',
          {
            retryable: false,
          },
        );
    }
  }

  return {
    async echo(message: string): Promise<string> {
      return `pong: ${message}`;
    },

    /** Reads and verifies the plan; returns what the workflow schedules from. */
    async loadPlan(input: { tenantId: string; planRef: PlanRef }): Promise<PlanSkeleton> {
      try {
        const { plan } = await plans.get(input.tenantId, input.planRef);
        return planSkeleton(plan, deps.approvalTimeoutMs);
      } catch (error) {
        throw toFailure(error);
      }
    },

    /** Appends events in order, in one transaction. */
    async recordEvents(input: { scope: RunScope; events: EventDraft[] }): Promise<void> {
      await append(input.scope, input.events);
    },

    /**
     * Runs one attempt of one step and records its end (StepCompleted or StepFailed; the
     * workflow records StepStarted before scheduling this). Heartbeats so that a cancelled run
     * reaches the executor within about a second and a dead worker is noticed.
     */
    async runStep(input: StepActivityInput): Promise<StepActivityResult> {
      const context = Context.current();
      const { scope, stepId, attempt } = input;
      const { steps } = await plans.get(scope.tenantId, input.planRef).catch((error: unknown) => {
        throw toFailure(error);
      });
      const step = steps.get(stepId);
      if (!step) {
        throw ApplicationFailure.create({
          message: `plan has no step ${stepId}`,
          type: 'STEP_NOT_FOUND',
          nonRetryable: true,
        });
      }
      const log = createStepLog();
      const interval = Math.max(200, Math.min(2_000, Math.floor(input.heartbeatTimeoutMs / 5)));
      const beat = setInterval(() => context.heartbeat(), interval);
      const timeout = new AbortController();
      const timer = setTimeout(
        () =>
          timeout.abort(
            new StepError(
              'STEP_TIMEOUT',
              `step ${stepId} ran longer than its timeoutMs ${input.timeoutMs}`,
            ),
          ),
        input.timeoutMs,
      );
      const signal = AbortSignal.any([context.cancellationSignal, timeout.signal]);
      const startedAt = new Date();
      const key = `${stepId}#${attempt}`;
      log.info('step started', { stepId, attempt, kind: step.kind, worker: context.info.attempt });
      let result: ExecutorResult;
      try {
        result = await execute(step, attempt, { signal, log });
      } catch (error) {
        if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
        const failure = isStepError(error)
          ? error
          : timeout.signal.aborted
            ? (timeout.signal.reason as StepError)
            : new StepError('STEP_FAILED', errorText(error), { cause: error });
        const retryable = failure.retryable && attempt < input.maxAttempts;
        log.info('step failed', { code: failure.code, message: failure.message, retryable });
        const logArtifact = await storeText(
          scope.tenantId,
          'step-log',
          'text/plain; charset=utf-8',
          log.lines.join('\n') + '\n',
        );
        const { dbt, ...details } = failure.details as { dbt?: unknown };
        await append(scope, [
          {
            eventType: 'StepFailed',
            stepId,
            logicalAttemptId: key,
            attempt,
            payload: {
              error: {
                code: failure.code,
                message: failure.message,
                ...(Object.keys(details).length ? { details } : {}),
              },
              willRetry: retryable,
              kind: step.kind,
              durationMs: Date.now() - startedAt.getTime(),
              startedAt: startedAt.toISOString(),
              logSha256: logArtifact.sha256,
              ...(dbt
                ? { dbt }
                : step.kind.startsWith('dbt.')
                  ? { dbt: dbtError(step, failure.message) }
                  : {}),
            },
          },
        ]);
        return { ok: false, retryable, error: { code: failure.code, message: failure.message } };
      } finally {
        clearInterval(beat);
        clearTimeout(timer);
      }
      const completedAt = new Date();
      const artifacts: Record<string, string> = {};
      if (step.kind !== 'noop') {
        log.info('step completed', { durationMs: completedAt.getTime() - startedAt.getTime() });
        const [output, logFile] = await Promise.all([
          storeText(
            scope.tenantId,
            'step-output',
            'application/json',
            JSON.stringify(result.output),
          ),
          storeText(
            scope.tenantId,
            'step-log',
            'text/plain; charset=utf-8',
            log.lines.join('\n') + '\n',
          ),
        ]);
        artifacts.outputSha256 = output.sha256;
        artifacts.logSha256 = logFile.sha256;
      }
      await append(scope, [
        {
          eventType: 'StepCompleted',
          stepId,
          logicalAttemptId: key,
          attempt,
          payload: {
            output: result.output,
            kind: step.kind,
            durationMs: completedAt.getTime() - startedAt.getTime(),
            startedAt: startedAt.toISOString(),
            ...(deps.workerId ? { worker: deps.workerId } : {}),
            ...artifacts,
            ...(result.warning ? { warning: result.warning } : {}),
            ...(result.dbt ? { dbt: result.dbt } : {}),
          },
        },
      ]);
      return { ok: true, retryable: false };
    },

    /** Writes run_results.json for dbt runs, then records RunCompleted or RunFailed. */
    async finishRun(input: FinishRunInput): Promise<{ runResultsSha256?: string }> {
      const { scope } = input;
      let runResultsSha256: string | undefined;
      if (input.hasDbt) {
        const { plan } = await plans.get(scope.tenantId, input.planRef).catch((error: unknown) => {
          throw toFailure(error);
        });
        const outcomes = await collectDbtOutcomes(deps.events, scope.runId);
        const document = buildRunResults({
          plan,
          outcomes,
          invocationId: scope.runId,
          startedAt: input.startedAt,
          finishedAt: new Date().toISOString(),
          engineVersion: deps.engineVersion ?? '0.1.0',
        });
        const stored = await storeText(
          scope.tenantId,
          'run-results',
          'application/json',
          JSON.stringify(document, null, 2),
        );
        runResultsSha256 = stored.sha256;
      }
      const payload: Record<string, unknown> = runResultsSha256 ? { runResultsSha256 } : {};
      if (input.error) payload.error = input.error;
      await append(scope, [
        {
          eventType: input.outcome === 'COMPLETED' ? 'RunCompleted' : 'RunFailed',
          logicalAttemptId: 'end',
          payload,
        },
      ]);
      deps.log.info({ runId: scope.runId, outcome: input.outcome }, 'run finished');
      return runResultsSha256 ? { runResultsSha256 } : {};
    },
  };
}

function dbtError(step: ExecutionStep, message: string) {
  const compiled =
    step.kind === 'dbt.model' || step.kind === 'dbt.test' ? step.with.compiledSql : null;
  return {
    status: 'error',
    message,
    failures: null,
    relationName: null,
    compiledCode: compiled,
    adapterResponse: {},
  };
}

/** The last outcome of every dbt step, from the run's events. */
async function collectDbtOutcomes(
  events: EventStore,
  runId: string,
): Promise<Map<string, DbtStepOutcome>> {
  const outcomes = new Map<string, DbtStepOutcome>();
  for (let afterSeq = 0; ;) {
    const page: RunEvent[] = await events.listEvents(runId, { afterSeq, limit: 1000 });
    for (const event of page) {
      if (!event.stepId) continue;
      const payload = event.payload;
      if (event.eventType === 'StepCompleted' || event.eventType === 'StepFailed') {
        if (!payload.dbt) continue;
        outcomes.set(event.stepId, {
          dbt: payload.dbt as DbtStepOutcome['dbt'],
          startedAt: String(payload.startedAt ?? event.emittedAt),
          completedAt: event.emittedAt,
          durationMs: Number(payload.durationMs ?? 0),
        });
      } else if (event.eventType === 'StepSkipped' && !payload.decision) {
        outcomes.set(event.stepId, {
          dbt: {
            status: 'skipped',
            message: String(payload.reason ?? 'skipped'),
            failures: null,
            relationName: null,
            compiledCode: null,
            adapterResponse: {},
          },
          startedAt: null,
          completedAt: null,
          durationMs: 0,
        });
      }
    }
    if (page.length < 1000) break;
    afterSeq = page.at(-1)!.runSeq;
  }
  return outcomes;
}

export type EngineActivities = ReturnType<typeof createActivities>;
