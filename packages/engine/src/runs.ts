/**
 * Starting runs, signalling them and reading them: what the internal routes call.
 *
 * Signals are delivered as a Temporal Update (`signal`, with a validator) whose update id is
 * the caller's signalId, so the caller learns at once whether the run accepted it, and two
 * deliveries of one id are one. The run state store is checked first (a run that has ended
 * there is RUN_TERMINAL without asking Temporal); the workflow then checks against its live
 * state. Each accepted answer is kept in `engine_signals`, so a repeated signalId returns the
 * same answer and changes nothing, also after the run has ended.
 */
import { createHash } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import {
  PlanRef,
  RunContext,
  RunSignal,
  terminalRunStatuses,
  type ErrorCode,
  type RunEventInput,
} from '@dvt/contracts';
import { ProblemError, type Logger, type TemporalConnector } from '@dvt/service-kit';
import type { RunWithSteps } from '@dvt/store';
import proto from '@temporalio/proto';
import type pg from 'pg';
import { z } from 'zod';
import type { EventStore } from './ports.ts';
import {
  RUN_WORKFLOW,
  SIGNAL_UPDATE,
  STATUS_QUERY,
  type RunQueryStatus,
  type RunSettings,
  type RunWorkflowInput,
  type SignalAnswer,
} from './workflows/types.ts';

export const StartRunBody = z.strictObject({
  planRef: PlanRef,
  context: RunContext,
  originalRunId: z.string().min(1).max(200).optional(),
});
export type StartRunBody = z.infer<typeof StartRunBody>;

export interface RunServiceOptions {
  events: EventStore;
  pool: pg.Pool;
  temporal: TemporalConnector;
  taskQueue: string;
  settings: RunSettings;
  log: Logger;
}

export interface StartedRun {
  runId: string;
  workflowId: string;
  status: string;
  /** false when a run with this id already existed; nothing new was started. */
  created: boolean;
}

const SIGNAL_CODES = new Set<string>([
  'RUN_TERMINAL',
  'STEP_NOT_TERMINAL',
  'STEP_TERMINAL',
  'SIGNAL_NOT_ALLOWED',
  'STEP_NOT_FOUND',
  'VALIDATION_FAILED',
]);

export class RunService {
  readonly #options: RunServiceOptions;

  constructor(options: RunServiceOptions) {
    this.#options = options;
  }

  #client(): Client {
    const client = this.#options.temporal.client;
    if (!client) {
      throw new ProblemError(
        'DEPENDENCY_UNAVAILABLE',
        'Temporal is not ready (not connected, or the namespace is missing); retry shortly',
        {
          dependency: 'temporal',
        },
      );
    }
    return client;
  }

  /** Records RunQueued, then starts the workflow (id = runId); a second start starts nothing. */
  async start(body: StartRunBody): Promise<StartedRun> {
    const client = this.#client();
    const { planRef, context } = body;
    if (planRef.schemaVersion !== 'dvt.execution-plan/v1') {
      throw new ProblemError(
        'VALIDATION_FAILED',
        `planRef.schemaVersion is ${planRef.schemaVersion}; the engine runs compiled plans (dvt.execution-plan/v1) — compile the plan with the planner first`,
      );
    }
    const queued = await this.#options.events.appendEvent({
      ...context,
      planId: planRef.planId,
      planVersion: planRef.planVersion,
      stepId: null,
      logicalAttemptId: 'queued',
      eventType: 'RunQueued',
      payload: { planRef, ...(body.originalRunId ? { originalRunId: body.originalRunId } : {}) },
      emittedAt: new Date(),
    });
    const storedRef = (queued.event.payload as { planRef?: PlanRef }).planRef;
    if (queued.idempotent && storedRef && storedRef.sha256 !== planRef.sha256) {
      throw new ProblemError(
        'CONFLICT',
        `run ${context.runId} already exists with another plan (sha256 ${storedRef.sha256})`,
      );
    }
    const input: RunWorkflowInput = {
      planRef,
      context,
      settings: this.#options.settings,
      ...(body.originalRunId ? { originalRunId: body.originalRunId } : {}),
    };
    let created = true;
    try {
      await client.workflow.start(RUN_WORKFLOW, {
        workflowId: context.runId,
        taskQueue: this.#options.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowIdConflictPolicy: 'FAIL',
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      created = false;
    }
    const run = await this.#options.events.getRun(context.runId);
    this.#options.log.info({ runId: context.runId, created }, 'run started');
    return {
      runId: context.runId,
      workflowId: context.runId,
      status: run?.status ?? 'QUEUED',
      created,
    };
  }

  async get(runId: string, options: { tenantId?: string; diagnostics?: boolean } = {}) {
    const run = await this.#options.events.getRun(
      runId,
      options.tenantId ? { tenantId: options.tenantId } : {},
    );
    if (!run) throw new ProblemError('RUN_NOT_FOUND', `no run ${runId}`);
    const workflowTask = terminalRunStatuses.includes(run.status)
      ? undefined
      : await this.workflowTaskTrouble(runId);
    if (!options.diagnostics) return workflowTask ? { ...run, diagnostics: { workflowTask } } : run;
    return {
      ...run,
      diagnostics: { ...(await this.#query(runId)), ...(workflowTask ? { workflowTask } : {}) },
    };
  }

  /**
   * What Temporal says when the run's workflow task keeps failing (e.g. nondeterminism after a
   * deploy of incompatible workflow code), or undefined. One describe call and at most one
   * short reverse history page, together bounded by {@link DIAGNOSTICS_DEADLINE_MS}.
   */
  async workflowTaskTrouble(runId: string): Promise<WorkflowTaskTrouble | undefined> {
    const client = this.#options.temporal.client;
    if (!client) return undefined;
    try {
      return await client.connection.withDeadline(
        Date.now() + DIAGNOSTICS_DEADLINE_MS,
        async () => {
          const description = await client.workflow.getHandle(runId).describe();
          if (description.status.name !== 'RUNNING') return undefined;
          const attempt = description.raw.pendingWorkflowTask?.attempt ?? 0;
          const history = await client.workflowService.getWorkflowExecutionHistoryReverse({
            namespace: client.options.namespace,
            execution: { workflowId: runId, runId: description.runId },
            maximumPageSize: 20,
          });
          const events = history.history?.events ?? [];
          const last = events.find(
            (e) =>
              e.workflowTaskFailedEventAttributes ||
              e.workflowTaskCompletedEventAttributes ||
              e.workflowTaskTimedOutEventAttributes,
          );
          const failed = last?.workflowTaskFailedEventAttributes;
          if (attempt <= 1 && !failed) return undefined;
          return {
            failing: true,
            attempt,
            ...(failed
              ? {
                  lastFailure: {
                    message: failed.failure?.message ?? '',
                    cause: workflowTaskFailedCause(failed.cause),
                    ...(last?.eventTime
                      ? { at: new Date(Number(last.eventTime.seconds ?? 0) * 1000).toISOString() }
                      : {}),
                  },
                }
              : {}),
          };
        },
      );
    } catch (error) {
      this.#options.log.debug({ err: error, runId }, 'workflow task diagnostics unavailable');
      return undefined;
    }
  }

  async #query(runId: string): Promise<RunQueryStatus | { error: string }> {
    try {
      const handle = this.#client().workflow.getHandle(runId);
      return await handle.query<RunQueryStatus>(STATUS_QUERY);
    } catch (error) {
      return { error: (error as Error).message };
    }
  }

  async signal(runId: string, signal: RunSignal, tenantId?: string): Promise<SignalAnswer> {
    const earlier = await this.#storedAnswer(runId, signal);
    if (earlier) return earlier;
    const run = await this.#options.events.getRun(runId, tenantId ? { tenantId } : {});
    if (!run) throw new ProblemError('RUN_NOT_FOUND', `no run ${runId}`);
    let answer: SignalAnswer;
    if (signal.type === 'RETRY_RUN') {
      answer = await this.#retryRun(run, signal);
    } else {
      if (terminalRunStatuses.includes(run.status)) {
        throw new ProblemError(
          'RUN_TERMINAL',
          `run ${runId} has ended (${run.status}); no signal can change it${signal.type === 'CANCEL' ? '' : ' (RETRY_RUN starts a new run)'}`,
          {
            runStatus: run.status,
          },
        );
      }
      answer = await this.#deliver(runId, signal);
    }
    return await this.#remember(runId, signal, answer);
  }

  async #deliver(runId: string, signal: RunSignal): Promise<SignalAnswer> {
    const client = this.#client();
    for (let attempt = 1; ; attempt++) {
      try {
        const handle = client.workflow.getHandle(runId);
        return await handle.executeUpdate<SignalAnswer, [RunSignal]>(SIGNAL_UPDATE, {
          args: [signal],
          updateId: signal.signalId,
        });
      } catch (error) {
        if (signal.type === 'CANCEL' && workflowTaskFailing(error)) {
          return await this.#terminate(runId, signal, 'its workflow task is failing');
        }
        if (error instanceof WorkflowUpdateFailedError) {
          const cause = error.cause as { type?: string; message?: string } | undefined;
          if (cause?.type && SIGNAL_CODES.has(cause.type)) {
            throw new ProblemError(cause.type as ErrorCode, cause.message ?? error.message);
          }
          throw error;
        }
        // A run that continued as new (or is finishing) between our read and the update. The
        // run state store decides whether the run goes on: at the boundary, and under load,
        // Temporal can still describe the closed segment rather than the new one.
        if (attempt < 6 && (await this.#goesOn(runId))) {
          await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
          continue;
        }
        if (
          error instanceof WorkflowNotFoundError ||
          /completed|not found|closed/i.test((error as Error).message)
        ) {
          // The workflow is gone while the run state store still has the run going: nothing
          // else will ever end it, so CANCEL ends it here.
          if (signal.type === 'CANCEL') {
            const run = await this.#options.events.getRun(runId);
            if (run && !terminalRunStatuses.includes(run.status)) {
              return await this.#terminate(runId, signal, 'its workflow is no longer running');
            }
          }
          throw new ProblemError(
            'RUN_TERMINAL',
            `run ${runId} has ended; no signal can change it`,
            {},
            { cause: error },
          );
        }
        throw error;
      }
    }
  }

  /**
   * CANCEL for a run whose workflow cannot take the Update: terminates the workflow, then
   * records in the run state store what the workflow would have — StepFailed `CANCELLED` for
   * running steps (the attempt's own key, so a late StepCompleted of that attempt is the same
   * event), StepSkipped `run_cancelled` for pending ones and RunCancelled (logicalAttemptId =
   * signalId) saying it was terminated and why. Every key is deterministic, so a repeat or a
   * second engine doing the same records nothing new.
   */
  async #terminate(runId: string, signal: RunSignal, why: string): Promise<SignalAnswer> {
    const reason = `CANCEL ${signal.signalId}: ${why}; terminated by the engine${signal.reason ? ` (${signal.reason})` : ''}`;
    try {
      await this.#client().workflow.getHandle(runId).terminate(reason);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    const run = await this.#options.events.getRun(runId);
    if (!run) throw new ProblemError('RUN_NOT_FOUND', `no run ${runId}`);
    if (terminalRunStatuses.includes(run.status)) {
      // The workflow ended the run itself just before it was terminated.
      throw new ProblemError('RUN_TERMINAL', `run ${runId} has ended (${run.status})`, {
        runStatus: run.status,
      });
    }
    const base = {
      tenantId: run.tenantId,
      projectId: run.projectId,
      environment: run.environment,
      runId,
      planId: run.planId,
      planVersion: run.planVersion,
      emittedAt: new Date(),
    };
    const inputs: RunEventInput[] = [];
    for (const step of run.steps) {
      if (step.status === 'RUNNING') {
        inputs.push({
          ...base,
          stepId: step.stepId,
          logicalAttemptId: `${step.stepId}#${step.attempts}`,
          attempt: step.attempts,
          eventType: 'StepFailed',
          payload: {
            error: { code: 'CANCELLED', message: 'the run was terminated while the step ran' },
            willRetry: false,
          },
        });
      }
    }
    for (const step of run.steps) {
      if (step.status === 'PENDING') {
        inputs.push({
          ...base,
          stepId: step.stepId,
          logicalAttemptId: 'cancel',
          eventType: 'StepSkipped',
          payload: { reason: 'run_cancelled' },
        });
      }
    }
    inputs.push({
      ...base,
      stepId: null,
      logicalAttemptId: signal.signalId,
      eventType: 'RunCancelled',
      payload: {
        signalId: signal.signalId,
        terminated: true,
        reason,
        ...(signal.reason ? { requestedReason: signal.reason } : {}),
      },
    });
    // One at a time: the run's events keep this order (steps' ends before RunCancelled).
    for (const input of inputs) await this.#options.events.appendEvent(input);
    this.#options.log.warn({ runId, signalId: signal.signalId, why }, 'run terminated by CANCEL');
    return { signalId: signal.signalId, type: 'CANCEL', runId, accepted: true };
  }

  /** The workflow runs, or the run state store has not recorded the run's end. */
  async #goesOn(runId: string): Promise<boolean> {
    if (await this.#stillRunning(runId)) return true;
    const run = await this.#options.events.getRun(runId);
    return run !== undefined && run !== null && !terminalRunStatuses.includes(run.status);
  }

  async #stillRunning(runId: string): Promise<boolean> {
    try {
      const description = await this.#client().workflow.getHandle(runId).describe();
      return description.status.name === 'RUNNING';
    } catch {
      return false;
    }
  }

  async #retryRun(run: RunWithSteps, signal: RunSignal): Promise<SignalAnswer> {
    if (!terminalRunStatuses.includes(run.status)) {
      throw new ProblemError(
        'SIGNAL_NOT_ALLOWED',
        `RETRY_RUN starts a new run from an ended one; run ${run.runId} is ${run.status} (cancel it first)`,
      );
    }
    const [queued] = await this.#options.events.listEvents(run.runId, { afterSeq: 0, limit: 1 });
    const planRef = PlanRef.safeParse(
      (queued?.payload as { planRef?: unknown } | undefined)?.planRef,
    );
    if (!queued || queued.eventType !== 'RunQueued' || !planRef.success) {
      throw new ProblemError(
        'CONFLICT',
        `run ${run.runId} has no RunQueued event with its PlanRef; it cannot be retried`,
      );
    }
    const newRunId = derivedRunId(run.runId, signal.signalId);
    await this.start({
      planRef: planRef.data,
      context: {
        tenantId: run.tenantId,
        projectId: run.projectId,
        environment: run.environment,
        runId: newRunId,
      },
      originalRunId: run.runId,
    });
    return {
      signalId: signal.signalId,
      type: 'RETRY_RUN',
      runId: run.runId,
      accepted: true,
      newRunId,
    };
  }

  async #storedAnswer(runId: string, signal: RunSignal): Promise<SignalAnswer | undefined> {
    const { rows } = await this.#options.pool.query<{
      type: string;
      step_id: string | null;
      answer: SignalAnswer;
    }>('select type, step_id, answer from engine_signals where run_id = $1 and signal_id = $2', [
      runId,
      signal.signalId,
    ]);
    const row = rows[0];
    if (!row) return undefined;
    if (row.type !== signal.type || (row.step_id ?? undefined) !== signal.stepId) {
      throw new ProblemError(
        'CONFLICT',
        `signalId ${signal.signalId} was already used for ${row.type}${row.step_id ? ` of step ${row.step_id}` : ''}; choose a new signalId`,
      );
    }
    return row.answer;
  }

  async #remember(runId: string, signal: RunSignal, answer: SignalAnswer): Promise<SignalAnswer> {
    await this.#options.pool.query(
      `insert into engine_signals (run_id, signal_id, type, step_id, answer) values ($1, $2, $3, $4, $5)
       on conflict (run_id, signal_id) do nothing`,
      [runId, signal.signalId, signal.type, signal.stepId ?? null, JSON.stringify(answer)],
    );
    return (await this.#storedAnswer(runId, signal)) ?? answer;
  }
}

/** How long GET /runs/{runId} may spend asking Temporal about the workflow task. */
const DIAGNOSTICS_DEADLINE_MS = 1_500;

export interface WorkflowTaskTrouble {
  failing: true;
  /** Attempt of the pending workflow task (0 when none is pending). */
  attempt: number;
  lastFailure?: { message: string; cause: string; at?: string };
}

const FAILED_PRECONDITION = 9;

/** Whether an Update was refused because the workflow task is failing. */
function workflowTaskFailing(error: unknown): boolean {
  for (
    let e = error as
        { code?: unknown; details?: unknown; message?: unknown; cause?: unknown } | undefined,
      depth = 0;
    e && depth < 4;
    e = e.cause as typeof e, depth++
  ) {
    const text = `${typeof e.details === 'string' ? e.details : ''} ${typeof e.message === 'string' ? e.message : ''}`;
    if (/workflow task in failed state|workflow task failed/i.test(text)) return true;
    if (e.code === FAILED_PRECONDITION && /workflow task/i.test(text)) return true;
  }
  return false;
}

function workflowTaskFailedCause(cause: number | null | undefined): string {
  const name =
    cause == null ? undefined : proto.temporal.api.enums.v1.WorkflowTaskFailedCause[cause];
  return (name ?? 'UNSPECIFIED').replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
}

/** The id of the run that RETRY_RUN `signalId` of `runId` starts: the same for a repeat. */
export function derivedRunId(runId: string, signalId: string): string {
  const hex = createHash('sha256').update(`${runId}|RETRY_RUN|${signalId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
