/**
 * Reading execution plans by PlanRef for activities. The artifact store verifies the sha256;
 * the bytes are then parsed as an execution plan and checked against the PlanRef's ids. A
 * small cache keyed by tenant and sha256 keeps a plan's steps at hand for the many step
 * activities of one run (content addressing makes a cached plan always the right one).
 */
import { ExecutionPlan, type PlanRef } from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import type { ArtifactPort } from './ports.ts';
import type { PlanSkeleton } from './workflows/types.ts';

export interface LoadedPlan {
  plan: ExecutionPlan;
  steps: Map<string, ExecutionPlan['steps'][number]>;
}

export class PlanCache {
  readonly #artifacts: ArtifactPort;
  readonly #max: number;
  readonly #entries = new Map<string, Promise<LoadedPlan>>();

  constructor(artifacts: ArtifactPort, max = 32) {
    this.#artifacts = artifacts;
    this.#max = max;
  }

  get(tenantId: string, planRef: PlanRef): Promise<LoadedPlan> {
    const key = `${tenantId}\u0000${planRef.sha256}`;
    const cached = this.#entries.get(key);
    if (cached) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    const loading = this.#load(tenantId, planRef);
    loading.catch(() => this.#entries.delete(key));
    this.#entries.set(key, loading);
    while (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return loading;
  }

  async #load(tenantId: string, planRef: PlanRef): Promise<LoadedPlan> {
    const { plan: raw } = await this.#artifacts.readPlan(tenantId, planRef);
    const plan = parseExecutionPlan(raw as object, planRef);
    return { plan, steps: new Map(plan.steps.map((step) => [step.id, step])) };
  }
}

export function parseExecutionPlan(
  raw: Uint8Array | string | object,
  planRef: PlanRef,
): ExecutionPlan {
  let value: unknown = raw;
  if (typeof raw === 'string' || raw instanceof Uint8Array) {
    const text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ProblemError(
        'PLAN_INVALID',
        `the plan at ${planRef.uri} is not JSON: ${(error as Error).message}`,
      );
    }
  }
  const parsed = ExecutionPlan.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 10)
      .map((issue) => `$.${issue.path.map(String).join('.')}: ${issue.message}`);
    throw new ProblemError(
      'PLAN_INVALID',
      `the plan at ${planRef.uri} is not a dvt.execution-plan/v1 document: ${problems.join('; ')}`,
      { errors: problems },
    );
  }
  const plan = parsed.data;
  if (plan.planId !== planRef.planId || plan.planVersion !== planRef.planVersion) {
    throw new ProblemError(
      'PLAN_INVALID',
      `the PlanRef names plan ${planRef.planId} ${planRef.planVersion} but the document is ${plan.planId} ${plan.planVersion}`,
    );
  }
  return plan;
}

/** What the workflow schedules from: steps in the plan's order, parameters left out. */
export function planSkeleton(plan: ExecutionPlan, defaultApprovalTimeoutMs: number): PlanSkeleton {
  const rank = new Map<string, number>();
  for (const id of plan.order.levels.flat()) if (!rank.has(id)) rank.set(id, rank.size);
  const ordered = [...plan.steps].sort((a, b) => {
    const ra = rank.get(a.id) ?? Number.MAX_SAFE_INTEGER;
    const rb = rank.get(b.id) ?? Number.MAX_SAFE_INTEGER;
    return ra !== rb ? ra - rb : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  const index = new Map(ordered.map((step, i) => [step.id, i]));
  return {
    planId: plan.planId,
    planVersion: plan.planVersion,
    concurrency: plan.concurrency,
    failurePolicy: plan.failurePolicy,
    requiresApproval: plan.requiresApproval,
    approvalReasons: plan.approvalReasons,
    hasDbt: plan.steps.some((step) => step.kind === 'dbt.model' || step.kind === 'dbt.test'),
    steps: ordered.map((step) => {
      const decision = plan.decisions[step.id];
      const needs = (step.needs ?? []).map((id) => {
        const at = index.get(id);
        if (at === undefined) {
          throw new ProblemError(
            'PLAN_INVALID',
            `step ${step.id} needs ${id}, which the plan does not have`,
          );
        }
        return at;
      });
      return {
        id: step.id,
        kind: step.kind,
        needs,
        retry: step.retry,
        timeoutMs: step.timeoutMs,
        ...(decision?.action === 'SKIP' ? { skip: decision.reason || 'skipped by plan' } : {}),
        ...(step.approval?.required && step.kind !== 'approval'
          ? { approval: step.approval.reason ? { reason: step.approval.reason } : {} }
          : {}),
        ...(step.kind === 'approval'
          ? { approvalTimeoutMs: step.with.timeoutMs ?? defaultApprovalTimeoutMs }
          : {}),
      };
    }),
  };
}
