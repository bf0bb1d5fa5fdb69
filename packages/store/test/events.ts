import type { EventType, RunEventInput } from '@dvt/contracts';

export const TENANT = 'tenant-a';
export const PROJECT = 'proj-1';

/** A run event with sensible defaults; `logicalAttemptId` defaults to something unique. */
export function event(
  runId: string,
  eventType: EventType,
  extra: Partial<RunEventInput> = {},
): RunEventInput {
  return {
    runId,
    tenantId: TENANT,
    projectId: PROJECT,
    environment: 'dev',
    planId: 'plan-p',
    planVersion: 'v1',
    stepId: null,
    logicalAttemptId: `${eventType}-${Math.random().toString(36).slice(2)}`,
    eventType,
    emittedAt: new Date('2030-01-02T03:04:05.678Z'),
    payload: {},
    ...extra,
  };
}
