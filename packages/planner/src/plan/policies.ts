/**
 * Planner policies: which steps run (skip unchanged), and whether a plan needs approval.
 *
 * Skip unchanged: a step whose `with.checksum` equals the checksum of its last successful run
 * is SKIP, unless a full refresh is asked. A decision the dbt importer made (`presetDecisions`)
 * to SKIP a node stands as it is; a preset RUN gives its reason unless the step is unchanged.
 */
import type { PlanEstimate, Step, StepDecision } from '@dvt/contracts';
import type { PlanHistory } from './history.ts';

export interface DecideStepsOptions {
  history?: PlanHistory;
  /** Run every step, even the unchanged ones. */
  fullRefresh?: boolean;
  presetDecisions?: Readonly<Record<string, StepDecision>>;
}

function checksumOf(step: Step): string | null {
  if (step.kind !== 'dbt.model' && step.kind !== 'dbt.test') return null;
  return step.with.checksum ?? null;
}

/** One decision per step, keyed by step id, in the order of `steps`. */
export function decideSteps(
  steps: readonly Step[],
  options: DecideStepsOptions = {},
): Record<string, StepDecision> {
  const decisions: Record<string, StepDecision> = {};
  for (const step of steps) decisions[step.id] = decideStep(step, options);
  return decisions;
}

function decideStep(step: Step, options: DecideStepsOptions): StepDecision {
  const preset = options.presetDecisions?.[step.id];
  if (preset?.action === 'SKIP') return { action: 'SKIP', reason: preset.reason };
  const checksum = checksumOf(step);
  const last = options.history?.get(step.id);
  const runBecause = (reason: string): StepDecision => ({
    action: 'RUN',
    reason: preset ? preset.reason : reason,
  });
  if (checksum === null) return runBecause('run: the step has no checksum to compare');
  if (options.fullRefresh) return runBecause('run: full refresh requested');
  if (!last || last.lastSuccessfulChecksum === null) {
    return runBecause('run: no earlier successful run recorded');
  }
  if (last.lastSuccessfulChecksum === checksum) {
    return {
      action: 'SKIP',
      reason: `unchanged: checksum ${checksum} equals last successful run`,
    };
  }
  return runBecause(
    `run: checksum ${checksum} differs from last successful run (${last.lastSuccessfulChecksum})`,
  );
}

export interface ApprovalOptions {
  /** Estimated duration above which the plan needs approval, in ms; no budget when absent. */
  approvalBudgetMs?: number;
}

/** Whether the plan needs approval before it runs, and every reason why. */
export function approvalPolicy(
  steps: readonly Step[],
  decisions: Readonly<Record<string, StepDecision>>,
  estimate: PlanEstimate,
  options: ApprovalOptions = {},
): { requiresApproval: boolean; approvalReasons: string[] } {
  const reasons: string[] = [];
  const budget = options.approvalBudgetMs;
  if (budget !== undefined && estimate.durationMs > budget) {
    reasons.push(
      `estimated duration ${estimate.durationMs} ms exceeds the approval budget of ${budget} ms`,
    );
  }
  for (const step of steps) {
    if (decisions[step.id]?.action === 'SKIP') continue;
    if (step.approval?.required) {
      const why = step.approval.reason ? `: ${step.approval.reason}` : '';
      reasons.push(`step ${JSON.stringify(step.id)} requires approval${why}`);
    } else if (step.kind === 'approval') {
      reasons.push(`step ${JSON.stringify(step.id)} is an approval step`);
    }
  }
  return { requiresApproval: reasons.length > 0, approvalReasons: reasons };
}
