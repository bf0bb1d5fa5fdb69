/**
 * Run lifecycle events (DESIGN §5–§6): the names, the statuses they move runs and steps
 * through, and the idempotency key that deduplicates them.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const eventTypes = [
  'RunQueued',
  'RunStarted',
  'StepStarted',
  'StepCompleted',
  'StepFailed',
  'StepSkipped',
  'RunPaused',
  'RunResumed',
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
  'ApprovalRequested',
  'ApprovalGranted',
] as const;
export const EventType = z.enum(eventTypes);
export type EventType = z.infer<typeof EventType>;

export const runStatuses = [
  'QUEUED',
  'RUNNING',
  'PAUSED',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
] as const;
export const RunStatus = z.enum(runStatuses);
export type RunStatus = z.infer<typeof RunStatus>;
export const terminalRunStatuses: readonly RunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export const stepStatuses = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'SKIPPED'] as const;
export const StepStatus = z.enum(stepStatuses);
export type StepStatus = z.infer<typeof StepStatus>;

/** The `stepId` part of the key for run-level events. */
export const RUN_SCOPE = 'RUN';

export interface IdempotencyKeyParts {
  runId: string;
  /** null or undefined for run-level events. */
  stepId?: string | null;
  logicalAttemptId: string;
  eventType: EventType;
  planId: string;
  planVersion: string;
}

/** SHA-256 of `runId | stepId (or RUN) | logicalAttemptId | eventType | planId | planVersion`. */
export function idempotencyKey(parts: IdempotencyKeyParts): string {
  const text = [
    parts.runId,
    parts.stepId ?? RUN_SCOPE,
    parts.logicalAttemptId,
    parts.eventType,
    parts.planId,
    parts.planVersion,
  ].join('|');
  return createHash('sha256').update(text).digest('hex');
}

/** What a producer hands the run state store. */
export interface RunEventInput {
  runId: string;
  tenantId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  stepId?: string | null;
  /** Stable across retries of the same logical attempt (e.g. `s1#1`, or a signalId). */
  logicalAttemptId: string;
  /** 1-based attempt number of the step, when the event is about a step attempt. */
  attempt?: number | null;
  eventType: EventType;
  payload?: Record<string, unknown>;
  /** The producer's clock. */
  emittedAt: Date;
}

/** A persisted event as read back from the store and sent to clients. */
export interface RunEvent {
  eventId: string;
  runId: string;
  runSeq: number;
  idempotencyKey: string;
  tenantId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  stepId: string | null;
  logicalAttemptId: string;
  attempt: number | null;
  eventType: EventType;
  payload: Record<string, unknown>;
  emittedAt: string;
  persistedAt: string;
}

/** Content-addressed reference to a stored execution plan (DESIGN §4). */
export const PlanRef = z.object({
  uri: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  schemaVersion: z.string().min(1),
  planId: z.string().min(1),
  planVersion: z.string().min(1),
  sizeBytes: z.number().int().nonnegative(),
});
export type PlanRef = z.infer<typeof PlanRef>;

/** Who a run belongs to and where it runs. */
export const RunContext = z.object({
  tenantId: z.string().min(1),
  projectId: z.string().min(1),
  environment: z.string().min(1),
  runId: z.string().min(1),
});
export type RunContext = z.infer<typeof RunContext>;

export const signalTypes = [
  'PAUSE',
  'RESUME',
  'CANCEL',
  'RETRY_STEP',
  'SKIP_STEP',
  'APPROVE',
  'RETRY_RUN',
] as const;
export const SignalType = z.enum(signalTypes);
export type SignalType = z.infer<typeof SignalType>;

export const RunSignal = z.object({
  signalId: z.string().min(1).max(200),
  type: SignalType,
  stepId: z.string().min(1).optional(),
  reason: z.string().max(2000).optional(),
});
export type RunSignal = z.infer<typeof RunSignal>;
