/**
 * The run's state and its rules, without Temporal: which steps are ready, what a step's end
 * means under the failure policy, which signals the current state allows, and the events each
 * transition records. The workflow drives it; tests can drive it directly. Deterministic:
 * time comes in as arguments.
 */
import type {
  CarriedState,
  EventDraft,
  PlanSkeleton,
  RunQueryStatus,
  RunSignal,
  SignalAnswer,
  StepActivityResult,
  StepCode,
} from './types.ts';

export interface SignalProblem {
  code:
    | 'RUN_TERMINAL'
    | 'STEP_NOT_TERMINAL'
    | 'STEP_TERMINAL'
    | 'SIGNAL_NOT_ALLOWED'
    | 'STEP_NOT_FOUND'
    | 'VALIDATION_FAILED';
  message: string;
}

type RunError = { code: string; message: string; stepId?: string };

const TERMINAL: ReadonlySet<StepCode> = new Set(['C', 'F', 'S', 'U']);

export class RunMachine {
  readonly runId: string;
  readonly segment: number;
  readonly startedAt: string;
  skeleton!: PlanSkeleton;
  loaded = false;
  /** Set once the run is ending: every new signal is then RUN_TERMINAL. */
  finishing = false;
  paused: boolean;
  runApproved: boolean;
  cancel: { signalId: string; reason?: string } | null;
  firstError: RunError | null;
  completedThisSegment = 0;

  #codes: StepCode[] = [];
  #attempts: number[] = [];
  #approved: Set<number>;
  #approvalDeadlines: Map<number, number>;
  #runApprovalRequested: boolean;
  #runApprovalDeadline: number | null;
  #seen: Map<string, SignalAnswer>;
  #epoch: number;
  #retryBase: Map<number, number>;
  #notBefore: Map<number, number>;
  #cancelledRunning = new Set<number>();
  #index = new Map<string, number>();
  #dependents: number[][] = [];
  #carried: CarriedState | undefined;

  constructor(
    runId: string,
    carried?: CarriedState,
    now: () => string = () => new Date().toISOString(),
  ) {
    this.runId = runId;
    this.#carried = carried;
    this.segment = carried ? carried.segment + 1 : 0;
    this.startedAt = carried?.startedAt ?? now();
    this.paused = carried?.paused ?? false;
    this.runApproved = carried?.runApproved ?? false;
    this.cancel = carried?.cancel ?? null;
    this.firstError = carried?.firstError ?? null;
    this.#approved = new Set(carried?.approved ?? []);
    this.#approvalDeadlines = new Map(
      Object.entries(carried?.approvalDeadlines ?? {}).map(([k, v]) => [Number(k), v]),
    );
    this.#runApprovalRequested = carried?.runApprovalRequested ?? false;
    this.#runApprovalDeadline = carried?.runApprovalDeadline ?? null;
    this.#seen = new Map(Object.entries(carried?.seen ?? {}));
    this.#epoch = carried?.epoch ?? 0;
    this.#retryBase = new Map(
      Object.entries(carried?.retryBase ?? {}).map(([k, v]) => [Number(k), v]),
    );
    this.#notBefore = new Map(
      Object.entries(carried?.notBefore ?? {}).map(([k, v]) => [Number(k), v]),
    );
  }

  load(skeleton: PlanSkeleton): void {
    this.skeleton = skeleton;
    const n = skeleton.steps.length;
    this.#dependents = Array.from({ length: n }, () => []);
    skeleton.steps.forEach((step, i) => {
      this.#index.set(step.id, i);
      for (const need of step.needs) this.#dependents[need]!.push(i);
    });
    const carried = this.#carried;
    if (carried && carried.codes.length === n) {
      this.#codes = [...carried.codes] as StepCode[];
      this.#attempts = [...carried.attempts];
    } else {
      this.#codes = skeleton.steps.map((step) => (step.skip ? 'S' : 'P'));
      this.#attempts = new Array<number>(n).fill(0);
    }
    this.loaded = true;
  }

  /** StepSkipped for the plan's SKIP decisions (first segment only). */
  decisionSkips(): EventDraft[] {
    return this.skeleton.steps
      .filter((step) => step.skip)
      .map((step) => ({
        eventType: 'StepSkipped',
        stepId: step.id,
        logicalAttemptId: 'decision',
        payload: { reason: step.skip, decision: true },
      }));
  }

  answerFor(signalId: string): SignalAnswer | undefined {
    return this.#seen.get(signalId);
  }

  /** The checks that need no plan (the Update validator runs them before the plan loads). */
  precheck(signal: RunSignal): SignalProblem | undefined {
    if (this.finishing || this.cancel) {
      return {
        code: 'RUN_TERMINAL',
        message: `run ${this.runId} is ending${this.cancel ? ' (cancelled)' : ''}; no signal can change it`,
      };
    }
    switch (signal.type) {
      case 'PAUSE':
        return this.paused
          ? { code: 'SIGNAL_NOT_ALLOWED', message: `run ${this.runId} is already paused` }
          : undefined;
      case 'RESUME':
        return this.paused
          ? undefined
          : {
              code: 'SIGNAL_NOT_ALLOWED',
              message: `run ${this.runId} is not paused; RESUME applies to a paused run`,
            };
      case 'RETRY_RUN':
        return {
          code: 'SIGNAL_NOT_ALLOWED',
          message: `RETRY_RUN starts a new run from an ended one; run ${this.runId} is still running (cancel it first)`,
        };
      case 'RETRY_STEP':
      case 'SKIP_STEP':
        return signal.stepId
          ? undefined
          : {
              code: 'VALIDATION_FAILED',
              message: `${signal.type} needs a stepId naming a step of the plan`,
            };
      default:
        return undefined;
    }
  }

  /** Every rule of DESIGN §5 against the current state; undefined when the signal is allowed. */
  check(signal: RunSignal): SignalProblem | undefined {
    const early = this.precheck(signal);
    if (early) return early;
    if (!signal.stepId) {
      if (signal.type === 'APPROVE' && !(this.skeleton.requiresApproval && !this.runApproved)) {
        return {
          code: 'SIGNAL_NOT_ALLOWED',
          message: `run ${this.runId} is not waiting for a run-level approval; name the step to approve with stepId`,
        };
      }
      return undefined;
    }
    if (signal.type === 'PAUSE' || signal.type === 'RESUME' || signal.type === 'CANCEL')
      return undefined;
    const index = this.#index.get(signal.stepId);
    if (index === undefined) {
      return {
        code: 'STEP_NOT_FOUND',
        message: `the plan of run ${this.runId} has no step ${signal.stepId}`,
      };
    }
    const code = this.#codes[index]!;
    const step = this.skeleton.steps[index]!;
    switch (signal.type) {
      case 'RETRY_STEP':
        if (code === 'F') return undefined;
        if (!TERMINAL.has(code)) {
          return {
            code: 'STEP_NOT_TERMINAL',
            message: `step ${step.id} is ${describe(code)}; only a failed step can be retried, once it has ended`,
          };
        }
        return {
          code: 'SIGNAL_NOT_ALLOWED',
          message: `step ${step.id} is ${describe(code)}; only a failed step can be retried`,
        };
      case 'SKIP_STEP':
        if (code === 'P' || code === 'W') return undefined;
        if (code === 'R') {
          return {
            code: 'SIGNAL_NOT_ALLOWED',
            message: `step ${step.id} is running; it can no longer be skipped (cancel the run to stop it)`,
          };
        }
        return {
          code: 'STEP_TERMINAL',
          message: `step ${step.id} has already ended (${describe(code)}); it cannot be skipped`,
        };
      case 'APPROVE':
        if (code === 'W' || (code === 'P' && step.approval && !this.#approved.has(index)))
          return undefined;
        if (TERMINAL.has(code)) {
          return {
            code: 'STEP_TERMINAL',
            message: `step ${step.id} has already ended (${describe(code)}); there is nothing to approve`,
          };
        }
        return {
          code: 'SIGNAL_NOT_ALLOWED',
          message: `step ${step.id} is not waiting for an approval`,
        };
      default:
        return undefined;
    }
  }

  /** Applies an allowed signal; returns its answer and the events to record. */
  apply(signal: RunSignal, now: number): { answer: SignalAnswer; events: EventDraft[] } {
    const answer: SignalAnswer = {
      signalId: signal.signalId,
      type: signal.type,
      runId: this.runId,
      ...(signal.stepId ? { stepId: signal.stepId } : {}),
      accepted: true,
    };
    this.#seen.set(signal.signalId, answer);
    const reason = signal.reason ? { reason: signal.reason } : {};
    const events: EventDraft[] = [];
    const index = signal.stepId ? this.#index.get(signal.stepId) : undefined;
    switch (signal.type) {
      case 'PAUSE':
        this.paused = true;
        events.push({
          eventType: 'RunPaused',
          logicalAttemptId: signal.signalId,
          payload: { signalId: signal.signalId, ...reason },
        });
        break;
      case 'RESUME':
        this.paused = false;
        events.push({
          eventType: 'RunResumed',
          logicalAttemptId: signal.signalId,
          payload: { signalId: signal.signalId, ...reason },
        });
        break;
      case 'CANCEL':
        this.cancel = { signalId: signal.signalId, ...reason };
        break;
      case 'SKIP_STEP': {
        const i = index!;
        this.#codes[i] = 'S';
        this.#approvalDeadlines.delete(i);
        this.#notBefore.delete(i);
        events.push({
          eventType: 'StepSkipped',
          stepId: signal.stepId!,
          logicalAttemptId: `signal:${signal.signalId}`,
          payload: {
            reason: 'skipped by signal',
            signalId: signal.signalId,
            ...(signal.reason ? { note: signal.reason } : {}),
          },
        });
        break;
      }
      case 'RETRY_STEP': {
        const i = index!;
        this.#epoch++;
        this.#codes[i] = 'P';
        this.#retryBase.set(i, this.#attempts[i]!);
        this.#notBefore.delete(i);
        for (let j = 0; j < this.#codes.length; j++)
          if (this.#codes[j] === 'U') this.#codes[j] = 'P';
        this.firstError = null;
        for (let j = 0; j < this.#codes.length; j++) {
          if (this.#codes[j] === 'F') {
            this.firstError ??= {
              code: 'STEP_FAILED',
              message: `step ${this.skeleton.steps[j]!.id} failed`,
              stepId: this.skeleton.steps[j]!.id,
            };
            events.push(...this.#propagate(j));
          }
        }
        break;
      }
      case 'APPROVE': {
        if (index === undefined) {
          this.runApproved = true;
          events.push({
            eventType: 'ApprovalGranted',
            logicalAttemptId: signal.signalId,
            payload: { signalId: signal.signalId, ...reason },
          });
          break;
        }
        const step = this.skeleton.steps[index]!;
        events.push({
          eventType: 'ApprovalGranted',
          stepId: step.id,
          logicalAttemptId: signal.signalId,
          payload: { signalId: signal.signalId, ...reason },
        });
        this.#approvalDeadlines.delete(index);
        if (step.kind === 'approval') {
          this.#codes[index] = 'C';
          this.completedThisSegment++;
          const attempt = this.#attempts[index]!;
          events.push({
            eventType: 'StepCompleted',
            stepId: step.id,
            logicalAttemptId: `${step.id}#${attempt}`,
            attempt,
            payload: { output: { approvedBy: signal.signalId }, kind: step.kind },
          });
        } else {
          this.#approved.add(index);
          if (this.#codes[index] === 'W') this.#codes[index] = 'P';
        }
        break;
      }
      case 'RETRY_RUN':
        break;
    }
    void now;
    return { answer, events };
  }

  /** Marks ready steps started, up to the concurrency; approval steps begin waiting. */
  startReady(
    running: number,
    now: number,
  ): { starts: { index: number; attempt: number }[]; events: EventDraft[] } {
    const starts: { index: number; attempt: number }[] = [];
    const events: EventDraft[] = [];
    if (this.paused || this.finishing || this.cancel) return { starts, events };
    let free = this.skeleton.concurrency - running;
    // A skipped step passes through: it counts as done once everything it needs is done.
    const memo = new Map<number, boolean>();
    const satisfied = (i: number): boolean => {
      const code = this.#codes[i];
      if (code === 'C') return true;
      if (code !== 'S') return false;
      let known = memo.get(i);
      if (known === undefined) {
        known = this.skeleton.steps[i]!.needs.every(satisfied);
        memo.set(i, known);
      }
      return known;
    };
    for (let i = 0; i < this.#codes.length; i++) {
      if (this.#codes[i] !== 'P') continue;
      const step = this.skeleton.steps[i]!;
      if (!step.needs.every(satisfied)) continue;
      const notBefore = this.#notBefore.get(i);
      if (notBefore !== undefined && notBefore > now) continue;
      if (step.kind === 'approval') {
        const attempt = ++this.#attempts[i]!;
        this.#codes[i] = 'W';
        const deadline = now + (step.approvalTimeoutMs ?? 86_400_000);
        this.#approvalDeadlines.set(i, deadline);
        const key = `${step.id}#${attempt}`;
        events.push(
          {
            eventType: 'StepStarted',
            stepId: step.id,
            logicalAttemptId: key,
            attempt,
            payload: { kind: step.kind },
          },
          {
            eventType: 'ApprovalRequested',
            stepId: step.id,
            logicalAttemptId: key,
            attempt,
            payload: {
              deadline: new Date(deadline).toISOString(),
              timeoutMs: step.approvalTimeoutMs,
            },
          },
        );
        continue;
      }
      if (step.approval && !this.#approved.has(i)) {
        this.#codes[i] = 'W';
        events.push({
          eventType: 'ApprovalRequested',
          stepId: step.id,
          logicalAttemptId: `approval@${this.#epoch}`,
          payload: step.approval.reason ? { reason: step.approval.reason } : {},
        });
        continue;
      }
      if (free <= 0) continue;
      free--;
      this.#notBefore.delete(i);
      const attempt = ++this.#attempts[i]!;
      this.#codes[i] = 'R';
      starts.push({ index: i, attempt });
      events.push({
        eventType: 'StepStarted',
        stepId: step.id,
        logicalAttemptId: `${step.id}#${attempt}`,
        attempt,
        payload: { kind: step.kind },
      });
    }
    return { starts, events };
  }

  maxAttemptsFor(index: number): number {
    return (this.#retryBase.get(index) ?? 0) + this.skeleton.steps[index]!.retry.maxAttempts;
  }

  /** A step's activity ended; returns the events the workflow records (skips it caused). */
  stepEnded(index: number, result: StepActivityResult | 'cancelled', now: number): EventDraft[] {
    if (result === 'cancelled') {
      this.#cancelledRunning.add(index);
      this.#codes[index] = 'F';
      return [];
    }
    if (result.ok) {
      this.#codes[index] = 'C';
      this.completedThisSegment++;
      return [];
    }
    const step = this.skeleton.steps[index]!;
    if (result.retryable && this.#attempts[index]! < this.maxAttemptsFor(index) && !this.cancel) {
      this.#codes[index] = 'P';
      this.#notBefore.set(
        index,
        now + retryDelay(step.retry, this.#attempts[index]! - (this.#retryBase.get(index) ?? 0)),
      );
      return [];
    }
    this.#codes[index] = 'F';
    this.firstError ??= {
      code: result.error?.code ?? 'STEP_FAILED',
      message: result.error?.message ?? `step ${step.id} failed`,
      stepId: step.id,
    };
    return this.#propagate(index);
  }

  /** Skips what a failed step's end rules out: its dependents, and under `stop` all pending. */
  #propagate(failed: number): EventDraft[] {
    const events: EventDraft[] = [];
    const upstream = new Set<number>();
    const stack = [failed];
    while (stack.length > 0) {
      for (const dep of this.#dependents[stack.pop()!]!) {
        if (!upstream.has(dep)) {
          upstream.add(dep);
          stack.push(dep);
        }
      }
    }
    const failedId = this.skeleton.steps[failed]!.id;
    for (let i = 0; i < this.#codes.length; i++) {
      const code = this.#codes[i];
      if (code !== 'P' && code !== 'W') continue;
      const dependent = upstream.has(i);
      if (!dependent && this.skeleton.failurePolicy !== 'stop') continue;
      this.#codes[i] = 'U';
      this.#approvalDeadlines.delete(i);
      this.#notBefore.delete(i);
      events.push({
        eventType: 'StepSkipped',
        stepId: this.skeleton.steps[i]!.id,
        logicalAttemptId: `skip#${this.#epoch}`,
        payload: { reason: dependent ? 'upstream_failed' : 'run_stopped', failedStep: failedId },
      });
    }
    return events;
  }

  /** Approval waits whose deadline has passed fail. */
  expire(now: number): EventDraft[] {
    const events: EventDraft[] = [];
    for (const [index, deadline] of [...this.#approvalDeadlines]) {
      if (deadline > now || this.#codes[index] !== 'W') continue;
      this.#approvalDeadlines.delete(index);
      const step = this.skeleton.steps[index]!;
      const attempt = this.#attempts[index]!;
      this.#codes[index] = 'F';
      const error = {
        code: 'APPROVAL_TIMEOUT',
        message: `step ${step.id} was not approved within ${step.approvalTimeoutMs} ms`,
      };
      this.firstError ??= { ...error, stepId: step.id };
      events.push({
        eventType: 'StepFailed',
        stepId: step.id,
        logicalAttemptId: `${step.id}#${attempt}`,
        attempt,
        payload: { error, willRetry: false, kind: step.kind },
      });
      events.push(...this.#propagate(index));
    }
    return events;
  }

  requestRunApproval(): EventDraft[] {
    if (this.#runApprovalRequested) return [];
    this.#runApprovalRequested = true;
    return [
      {
        eventType: 'ApprovalRequested',
        logicalAttemptId: 'approval',
        payload: { reasons: this.skeleton.approvalReasons },
      },
    ];
  }

  runApprovalDeadline(now: number, timeoutMs: number): number {
    this.#runApprovalDeadline ??= now + timeoutMs;
    return this.#runApprovalDeadline;
  }

  failRun(error: RunError): void {
    this.firstError ??= error;
  }

  skipAllPending(reason: string): EventDraft[] {
    const events: EventDraft[] = [];
    this.#codes.forEach((code, i) => {
      if (code !== 'P' && code !== 'W') return;
      this.#codes[i] = 'U';
      events.push({
        eventType: 'StepSkipped',
        stepId: this.skeleton.steps[i]!.id,
        logicalAttemptId: `skip#${this.#epoch}`,
        payload: { reason },
      });
    });
    return events;
  }

  /** The ends of a cancelled run's steps: running ones failed, pending ones skipped. */
  cancelEvents(): EventDraft[] {
    const events: EventDraft[] = [];
    this.#codes.forEach((code, i) => {
      const step = this.skeleton.steps[i]!;
      if (this.#cancelledRunning.has(i)) {
        const attempt = this.#attempts[i]!;
        events.push({
          eventType: 'StepFailed',
          stepId: step.id,
          logicalAttemptId: `${step.id}#${attempt}`,
          attempt,
          payload: {
            error: { code: 'CANCELLED', message: 'the run was cancelled while the step ran' },
            willRetry: false,
            kind: step.kind,
          },
        });
      } else if (code === 'P' || code === 'W') {
        this.#codes[i] = 'U';
        events.push({
          eventType: 'StepSkipped',
          stepId: step.id,
          logicalAttemptId: 'cancel',
          payload: { reason: 'run_cancelled' },
        });
      }
    });
    return events;
  }

  cancelledEvent(): EventDraft {
    return {
      eventType: 'RunCancelled',
      logicalAttemptId: 'end',
      payload: {
        signalId: this.cancel?.signalId,
        ...(this.cancel?.reason ? { reason: this.cancel.reason } : {}),
      },
    };
  }

  isDone(): boolean {
    return this.#codes.every((code) => TERMINAL.has(code));
  }

  outcome(): 'COMPLETED' | 'FAILED' {
    return this.firstError || this.#codes.includes('F') ? 'FAILED' : 'COMPLETED';
  }

  nextWake(): number | undefined {
    let wake: number | undefined;
    for (const at of [...this.#notBefore.values(), ...this.#approvalDeadlines.values()]) {
      if (wake === undefined || at < wake) wake = at;
    }
    return wake;
  }

  status(): RunQueryStatus {
    const steps: Record<string, number> = {};
    for (const code of this.#codes) steps[describe(code)] = (steps[describe(code)] ?? 0) + 1;
    const pick = (code: StepCode) =>
      this.#codes.flatMap((c, i) => (c === code ? [this.skeleton.steps[i]!.id] : [])).slice(0, 100);
    return {
      runId: this.runId,
      phase: this.finishing
        ? 'finishing'
        : this.cancel
          ? 'cancelling'
          : !this.loaded
            ? 'loading'
            : this.paused
              ? 'paused'
              : 'running',
      paused: this.paused,
      segment: this.segment,
      steps,
      running: this.loaded ? pick('R') : [],
      waitingApproval: this.loaded ? pick('W') : [],
    };
  }

  carry(now: number): CarriedState {
    void now;
    const sparse = (map: Map<number, number>) =>
      Object.fromEntries([...map].map(([k, v]) => [String(k), v]));
    return {
      segment: this.segment,
      codes: this.#codes.join(''),
      attempts: [...this.#attempts],
      approved: [...this.#approved],
      approvalDeadlines: sparse(this.#approvalDeadlines),
      runApproved: this.runApproved,
      runApprovalRequested: this.#runApprovalRequested,
      runApprovalDeadline: this.#runApprovalDeadline,
      paused: this.paused,
      seen: Object.fromEntries(this.#seen),
      epoch: this.#epoch,
      retryBase: sparse(this.#retryBase),
      notBefore: sparse(this.#notBefore),
      firstError: this.firstError,
      startedAt: this.startedAt,
      cancel: this.cancel,
    };
  }
}

function describe(code: StepCode): string {
  switch (code) {
    case 'P':
      return 'pending';
    case 'R':
      return 'running';
    case 'W':
      return 'waiting for approval';
    case 'C':
      return 'completed';
    case 'F':
      return 'failed';
    case 'S':
    case 'U':
      return 'skipped';
  }
}

/** Delay before attempt `done + 1`, from the step's retry policy (defaults: 1 s, ×2, ≤ 5 min). */
export function retryDelay(retry: PlanSkeleton['steps'][number]['retry'], done: number): number {
  const initial = retry.initialIntervalMs ?? 1_000;
  const coefficient = retry.backoffCoefficient ?? 2;
  const max = retry.maxIntervalMs ?? Math.max(initial, 300_000);
  return Math.min(max, Math.round(initial * coefficient ** Math.max(0, done - 1)));
}
