import type { EngineCapabilities, StepInput } from '@dvt/contracts';

/** A plan document around the given steps. */
export function planOf(steps: unknown[], extra: Record<string, unknown> = {}) {
  return { schemaVersion: 'dvt.plan/v1', planId: 'p1', planVersion: '1', steps, ...extra };
}

export function noop(id: string, needs: string[] = [], delayMs?: number): StepInput {
  return {
    id,
    kind: 'noop',
    ...(needs.length > 0 ? { needs } : {}),
    ...(delayMs === undefined ? {} : { with: { delayMs } }),
  };
}

export const allCapabilities: EngineCapabilities = {
  kinds: ['noop', 'sql', 'http', 'approval', 'dbt.model', 'dbt.test'],
  materializations: ['view', 'table'],
  signals: ['PAUSE', 'RESUME', 'CANCEL', 'RETRY_STEP', 'SKIP_STEP', 'APPROVE'],
  targets: ['warehouse'],
  limits: { maxSteps: 100_000, maxConcurrency: 256, maxPlanBytes: 64 * 1024 * 1024 },
};
