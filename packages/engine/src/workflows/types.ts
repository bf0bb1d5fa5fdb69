/**
 * Types shared by the run workflow and its activities. Workflow code imports this file, so it
 * holds types and plain constants only: nothing that touches Node or the network.
 */
import type { EventType, PlanRef, RunContext, RunSignal, SignalType } from '@dvt/contracts';

export type { PlanRef, RunContext, RunSignal, SignalType };

/** Engine settings a run carries from its start through every continue-as-new. */
export interface RunSettings {
  heartbeatTimeoutMs: number;
  continueAsNewEverySteps: number;
  runApprovalTimeoutMs: number;
  approvalTimeoutMs: number;
}

/** Who the run belongs to plus the plan it runs: what every event of the run carries. */
export interface RunScope extends RunContext {
  planId: string;
  planVersion: string;
}

export interface RetrySettings {
  maxAttempts: number;
  initialIntervalMs?: number;
  backoffCoefficient?: number;
  maxIntervalMs?: number;
}

/**
 * The part of an execution plan the workflow needs to schedule it. Step parameters (SQL, URLs,
 * compiled dbt code) stay out of workflow history; activities read them from the plan itself.
 */
export interface PlanSkeleton {
  planId: string;
  planVersion: string;
  concurrency: number;
  failurePolicy: 'stop' | 'continue';
  requiresApproval: boolean;
  approvalReasons: string[];
  /** Whether the plan has dbt steps (then the run writes run_results.json). */
  hasDbt: boolean;
  steps: SkeletonStep[];
}

export interface SkeletonStep {
  id: string;
  kind: string;
  /** Indexes into `steps` of the steps this one needs. */
  needs: number[];
  retry: RetrySettings;
  timeoutMs: number;
  /** Set when the execution plan decided SKIP: the reason. */
  skip?: string;
  /** Set when a person must approve before the step starts. */
  approval?: { reason?: string };
  /** For approval steps: how long to wait, in ms. */
  approvalTimeoutMs?: number;
}

/** One event as the workflow asks for it; the activity adds the run's scope and the clock. */
export interface EventDraft {
  eventType: EventType;
  stepId?: string | null;
  logicalAttemptId: string;
  attempt?: number | null;
  payload?: Record<string, unknown>;
}

export interface StepActivityInput {
  scope: RunScope;
  planRef: PlanRef;
  stepId: string;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number;
  heartbeatTimeoutMs: number;
}

export interface StepActivityResult {
  ok: boolean;
  /** On failure: whether another attempt may help. */
  retryable: boolean;
  error?: { code: string; message: string };
}

export interface FinishRunInput {
  scope: RunScope;
  planRef: PlanRef;
  outcome: 'COMPLETED' | 'FAILED';
  hasDbt: boolean;
  error?: { code: string; message: string; stepId?: string };
  startedAt: string;
}

/** What a signal returns, and returns again for a repeated signalId. */
export interface SignalAnswer {
  signalId: string;
  type: SignalType;
  runId: string;
  stepId?: string;
  accepted: true;
  /** RETRY_RUN: the new run's id. */
  newRunId?: string;
}

/**
 * Per-step state codes carried through continue-as-new, one character per step:
 * P pending, R running, W waiting for approval, C completed, F failed,
 * S skipped (decision or signal), U skipped because an upstream step failed or the run stopped.
 */
export type StepCode = 'P' | 'R' | 'W' | 'C' | 'F' | 'S' | 'U';

/** Everything a continued run needs to carry on exactly where its predecessor stopped. */
export interface CarriedState {
  /** How many workflow runs came before this one. */
  segment: number;
  codes: string;
  attempts: number[];
  /** Steps whose approval was granted (indexes). */
  approved: number[];
  /** Approval deadlines (epoch ms) of steps waiting for approval, by index. */
  approvalDeadlines: Record<string, number>;
  runApproved: boolean;
  runApprovalRequested: boolean;
  paused: boolean;
  /** signalId → the answer it got. */
  seen: Record<string, SignalAnswer>;
  /** Bumped by each RETRY_STEP; part of the StepSkipped key so a step can be skipped again. */
  epoch: number;
  /** Attempts a step had when RETRY_STEP gave it a fresh retry budget, by index. */
  retryBase: Record<string, number>;
  /** Earliest start (epoch ms) of steps waiting to retry, by index. */
  notBefore: Record<string, number>;
  /** Deadline (epoch ms) of the plan-level approval, once requested. */
  runApprovalDeadline: number | null;
  firstError: { code: string; message: string; stepId?: string } | null;
  startedAt: string;
  cancel: { signalId: string; reason?: string } | null;
}

export interface RunWorkflowInput {
  planRef: PlanRef;
  context: RunContext;
  originalRunId?: string;
  settings: RunSettings;
  carried?: CarriedState;
}

/** The live-status query (diagnostics; the run state store is the source of truth). */
export interface RunQueryStatus {
  runId: string;
  phase: string;
  paused: boolean;
  segment: number;
  steps: Record<string, number>;
  running: string[];
  waitingApproval: string[];
}

export const SIGNAL_UPDATE = 'signal';
export const STATUS_QUERY = 'status';
export const RUN_WORKFLOW = 'runWorkflow';
