/**
 * The run workflow (DESIGN §5). It loads the plan's skeleton by PlanRef (the activity verifies
 * the sha256), then starts every ready step up to the plan's concurrency, retries failed
 * attempts with the step's policy, applies the failure policy, handles approvals, and takes
 * signals as a Temporal Update (validator + handler) so that a caller learns at once whether
 * its signal was accepted.
 *
 * Ordering: StepStarted and every event the workflow itself records go through one FIFO
 * recorder (a local activity per batch), so a RunPaused can never be overtaken by the
 * StepStarted of a step the workflow decided to start before the pause.
 *
 * Continue-as-new: after `continueAsNewEverySteps` step completions (or when Temporal suggests
 * it) no new step starts; once the running ones have ended and all signal handlers have
 * finished, the workflow continues as new with all of its state — step codes and attempts,
 * approvals, seen signalIds with their answers, the paused flag, a pending cancel — computed at
 * that moment, so a signal that arrives while the task is completing is in the carried state
 * when the task is retried (field case B07).
 */
import {
  ActivityCancellationType,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { EngineActivities } from '../activities.ts';
import { RunMachine, type SignalProblem } from './machine.ts';
import {
  SIGNAL_UPDATE,
  STATUS_QUERY,
  type EventDraft,
  type RunQueryStatus,
  type RunScope,
  type RunSignal,
  type RunWorkflowInput,
  type SignalAnswer,
  type StepActivityResult,
} from './types.ts';

export const signalUpdate = defineUpdate<SignalAnswer, [RunSignal]>(SIGNAL_UPDATE);
export const statusQuery = defineQuery<RunQueryStatus>(STATUS_QUERY);

const { loadPlan, finishRun } = proxyActivities<EngineActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const { recordEvents } = proxyLocalActivities<EngineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds' },
});

export interface RunOutcome {
  runId: string;
  status: 'COMPLETED' | 'FAILED' | 'CANCELLED';
  segments: number;
}

/** A FIFO of event batches, flushed one local activity at a time, never cancelled. */
class Recorder {
  readonly #scope: () => RunScope;
  #queue: { drafts: EventDraft[]; done: () => void; fail: (error: unknown) => void }[] = [];
  #active = false;

  constructor(scope: () => RunScope) {
    this.#scope = scope;
  }

  record(drafts: EventDraft[]): Promise<void> {
    if (drafts.length === 0) return Promise.resolve();
    return new Promise<void>((done, fail) => {
      this.#queue.push({ drafts, done, fail });
      if (!this.#active) {
        this.#active = true;
        void CancellationScope.nonCancellable(() => this.#flush());
      }
    });
  }

  get idle(): boolean {
    return !this.#active && this.#queue.length === 0;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      try {
        await recordEvents({ scope: this.#scope(), events: batch.flatMap((item) => item.drafts) });
        for (const item of batch) item.done();
      } catch (error) {
        for (const item of batch) item.fail(error);
      }
    }
    this.#active = false;
  }
}

function rejection(problem: SignalProblem): ApplicationFailure {
  return ApplicationFailure.create({
    message: problem.message,
    type: problem.code,
    nonRetryable: true,
  });
}

export async function runWorkflow(input: RunWorkflowInput): Promise<RunOutcome> {
  const { context, planRef, settings } = input;
  const machine = new RunMachine(context.runId, input.carried);
  let scope: RunScope = { ...context, planId: planRef.planId, planVersion: planRef.planVersion };
  const recorder = new Recorder(() => scope);
  const stepScopes = new Map<number, CancellationScope>();
  let version = 0;
  const bump = () => {
    version++;
  };

  setHandler(statusQuery, () => machine.status());

  setHandler(
    signalUpdate,
    async (signal) => {
      const seen = machine.answerFor(signal.signalId);
      if (seen) return seen;
      await condition(() => machine.loaded || machine.finishing);
      if (!machine.loaded) {
        throw rejection({
          code: 'RUN_TERMINAL',
          message: `run ${context.runId} could not load its plan and has ended`,
        });
      }
      const again = machine.answerFor(signal.signalId);
      if (again) return again;
      const problem = machine.check(signal);
      if (problem) throw rejection(problem);
      const { answer, events } = machine.apply(signal, Date.now());
      bump();
      await recorder.record(events);
      return answer;
    },
    {
      validator: (signal) => {
        if (machine.answerFor(signal.signalId)) return;
        const problem = machine.precheck(signal);
        if (problem) throw rejection(problem);
      },
    },
  );

  const isFirstSegment = input.carried === undefined;
  try {
    machine.load(await loadPlan({ tenantId: context.tenantId, planRef }));
  } catch (error) {
    const cause = (error as { cause?: { type?: string; message?: string } }).cause;
    const code = cause?.type ?? 'PLAN_LOAD_FAILED';
    machine.finishing = true;
    await recorder.record([{ eventType: 'RunStarted', logicalAttemptId: 'start', payload: {} }]);
    await condition(allHandlersFinished);
    await finishRun({
      scope,
      planRef,
      outcome: 'FAILED',
      hasDbt: false,
      error: { code, message: cause?.message ?? String(error) },
      startedAt: machine.startedAt,
    });
    return { runId: context.runId, status: 'FAILED', segments: machine.segment + 1 };
  }
  scope = {
    ...context,
    planId: machine.skeleton.planId,
    planVersion: machine.skeleton.planVersion,
  };
  bump();

  if (isFirstSegment) {
    await recorder.record([
      {
        eventType: 'RunStarted',
        logicalAttemptId: 'start',
        payload: {
          stepIds: machine.skeleton.steps.map((step) => step.id),
          ...(input.originalRunId ? { originalRunId: input.originalRunId } : {}),
        },
      },
      ...machine.decisionSkips(),
    ]);
  }

  const runStepWith = (index: number) => {
    const step = machine.skeleton.steps[index]!;
    return proxyActivities<EngineActivities>({
      startToCloseTimeout: step.timeoutMs + 60_000,
      heartbeatTimeout: settings.heartbeatTimeoutMs,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
    }).runStep;
  };

  const launch = (index: number, attempt: number, started: Promise<void>) => {
    const step = machine.skeleton.steps[index]!;
    const stepScope = new CancellationScope();
    stepScopes.set(index, stepScope);
    void (async () => {
      let result: StepActivityResult | 'cancelled';
      try {
        await started;
        if (machine.cancel)
          throw ApplicationFailure.create({ message: 'cancelled before start', type: 'CANCELLED' });
        result = await stepScope.run(() =>
          runStepWith(index)({
            scope,
            planRef,
            stepId: step.id,
            attempt,
            maxAttempts: machine.maxAttemptsFor(index),
            timeoutMs: step.timeoutMs,
            heartbeatTimeoutMs: settings.heartbeatTimeoutMs,
          }),
        );
      } catch (error) {
        if (isCancellation(error) || machine.cancel) {
          result = 'cancelled';
        } else {
          // The activity gave up after its own retries without recording the attempt's end.
          const message = (error as Error).message ?? String(error);
          result = {
            ok: false,
            retryable: false,
            error: { code: 'STEP_INFRASTRUCTURE_FAILED', message },
          };
          await recorder.record([
            {
              eventType: 'StepFailed',
              stepId: step.id,
              logicalAttemptId: `${step.id}#${attempt}`,
              attempt,
              payload: { error: result.error, willRetry: false, kind: step.kind },
            },
          ]);
        }
      }
      stepScopes.delete(index);
      const events = machine.stepEnded(index, result, Date.now());
      bump();
      await recorder.record(events);
    })();
  };

  if (machine.skeleton.requiresApproval && !machine.runApproved) {
    await recorder.record(machine.requestRunApproval());
    const approved = await condition(
      () => machine.runApproved || machine.cancel !== null,
      Math.max(
        1,
        machine.runApprovalDeadline(Date.now(), settings.runApprovalTimeoutMs) - Date.now(),
      ),
    );
    if (!approved) {
      machine.failRun({
        code: 'APPROVAL_TIMEOUT',
        message: `the run was not approved within ${settings.runApprovalTimeoutMs} ms`,
      });
      await recorder.record(machine.skipAllPending('approval_timeout'));
    }
  }

  let doneThisSegment = 0;
  for (;;) {
    const now = Date.now();
    if (machine.cancel) {
      machine.finishing = true;
      for (const stepScope of stepScopes.values()) stepScope.cancel();
      await condition(() => stepScopes.size === 0 && recorder.idle);
      await condition(allHandlersFinished);
      await recorder.record([...machine.cancelEvents(), machine.cancelledEvent()]);
      return { runId: context.runId, status: 'CANCELLED', segments: machine.segment + 1 };
    }
    await recorder.record(machine.expire(now));
    doneThisSegment = machine.completedThisSegment;
    const draining =
      doneThisSegment >= settings.continueAsNewEverySteps || workflowInfo().continueAsNewSuggested;
    if (!draining) {
      const { starts, events } = machine.startReady(stepScopes.size, now);
      if (events.length > 0 || starts.length > 0) {
        const recorded = recorder.record(events);
        for (const { index, attempt } of starts) launch(index, attempt, recorded);
      }
    }
    if (machine.isDone() && stepScopes.size === 0) {
      machine.finishing = true;
      await condition(() => recorder.idle);
      await condition(allHandlersFinished);
      const outcome = machine.outcome();
      await finishRun({
        scope,
        planRef,
        outcome,
        hasDbt: machine.skeleton.hasDbt,
        ...(machine.firstError ? { error: machine.firstError } : {}),
        startedAt: machine.startedAt,
      });
      return { runId: context.runId, status: outcome, segments: machine.segment + 1 };
    }
    if (draining && stepScopes.size === 0 && recorder.idle) {
      await condition(allHandlersFinished);
      if (recorder.idle && stepScopes.size === 0 && !machine.cancel) {
        await continueAsNew<typeof runWorkflow>({ ...input, carried: machine.carry(Date.now()) });
      }
      continue;
    }
    const seen = version;
    const wake = machine.nextWake();
    const changed = () => version !== seen || (draining && stepScopes.size === 0 && recorder.idle);
    if (wake === undefined) await condition(changed);
    else await condition(changed, Math.max(1, wake - Date.now()));
  }
}
