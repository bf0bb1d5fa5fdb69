/**
 * Compiling a plan into an immutable execution plan: validate, check the engine's capabilities,
 * decide which steps run, order them, estimate, and apply the approval policy. Pure: the
 * result depends only on the arguments (`compiledAt` is `options.now`).
 */
import {
  EXECUTION_PLAN_SCHEMA_VERSION,
  type EngineCapabilities,
  type ExecutionPlan,
  type ExecutionStep,
  type ImportReport,
  type PlanIssue,
  type PlanSource,
  type PlanV1,
  type RetryPolicy,
  type Step,
  type StepDecision,
} from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import { capabilityProblem, checkCapabilities, requiredCapabilities } from './capabilities.ts';
import { DEFAULT_STEP_MS, estimatePlan, stepDurations } from './estimate.ts';
import { buildGraph, topologicalLevels } from './graph.ts';
import type { PlanHistory } from './history.ts';
import { approvalPolicy, decideSteps } from './policies.ts';
import { validatePlan, type PlanLimits } from './validate.ts';

/** Retry policy of a step when neither the step nor the plan's defaults give one: no retry. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 1,
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maxIntervalMs: 60_000,
});

/** Step timeout when neither the step nor the plan's defaults give one: one hour. */
export const DEFAULT_STEP_TIMEOUT_MS = 3_600_000;

export interface CompilePlanOptions {
  /** What the engine can run; its limits also bound steps, concurrency and plan size. */
  capabilities: EngineCapabilities;
  /** Earlier outcomes of the plan's steps (durations, checksums); none when absent. */
  history?: PlanHistory;
  /** Run every step, even those unchanged since their last successful run. */
  fullRefresh?: boolean;
  /** Estimated duration above which the plan needs approval, in ms. */
  approvalBudgetMs?: number;
  /** Limits on top of the engine's (the stricter one wins). */
  limits?: Partial<PlanLimits>;
  /** The compile time recorded as `compiledAt`; the current time when absent. */
  now?: Date;
  /** Decisions the dbt importer made, by step id (a preset SKIP always stands). */
  presetDecisions?: Readonly<Record<string, StepDecision>>;
  /** The dbt importer's report, passed through to the execution plan. */
  report?: ImportReport;
  /** Where the plan came from; `{ kind: 'plan' }` when absent. */
  source?: PlanSource;
  /** Duration assumed for a step without history, in ms (default 1000). */
  defaultStepMs?: number;
  /** Size of the plan as received, in bytes; measured when absent. */
  payloadBytes?: number;
}

/**
 * Compiles a plan. Throws ProblemError PLAN_INVALID (with `errors`, every problem) when the
 * plan is invalid, and PLAN_CAPABILITY_MISSING (with `errors`, one per step) when the engine
 * cannot run it.
 */
export function compilePlan(plan: unknown, options: CompilePlanOptions): ExecutionPlan {
  const validated = validatePlan(plan, combinedLimits(options.capabilities, options.limits), {
    ...(options.payloadBytes === undefined ? {} : { payloadBytes: options.payloadBytes }),
  });
  if (!validated.ok) throw invalidPlanProblem(validated.errors, validated.omitted);
  return compileValidPlan(validated.plan, options);
}

/**
 * The part of {@link compilePlan} after validation, for callers that validated the plan
 * themselves (with {@link combinedLimits}). Still checks capabilities.
 */
export function compileValidPlan(valid: PlanV1, options: CompilePlanOptions): ExecutionPlan {
  const missing = checkCapabilities(valid.steps, options.capabilities);
  if (missing.length > 0) throw capabilityProblem(missing);

  const graph = buildGraph(
    valid.steps.map((s) => s.id),
    valid.steps.map((s) => s.needs ?? []),
  );
  const levels = topologicalLevels(graph);
  const decisions = decideSteps(valid.steps, options);
  const defaultStepMs = options.defaultStepMs ?? DEFAULT_STEP_MS;
  const durations = stepDurations(valid.steps, {
    ...(options.history ? { history: options.history } : {}),
    decisions,
    defaultStepMs,
  });
  const { estimate, criticalPath } = estimatePlan(
    graph,
    levels,
    durations,
    valid.concurrency,
    defaultStepMs,
  );
  const approval = approvalPolicy(valid.steps, decisions, estimate, options);

  const defaults = {
    retry: { ...DEFAULT_RETRY, ...valid.defaults?.retry },
    timeoutMs: valid.defaults?.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
  };
  const ordered = levels.flat();
  const steps = ordered.map((i) => resolveStep(valid.steps[i]!, defaults));
  const orderedDecisions: Record<string, StepDecision> = {};
  for (const i of ordered) orderedDecisions[graph.ids[i]!] = decisions[graph.ids[i]!]!;

  return {
    schemaVersion: EXECUTION_PLAN_SCHEMA_VERSION,
    planId: valid.planId,
    planVersion: valid.planVersion,
    compiledAt: (options.now ?? new Date()).toISOString(),
    source: options.source ?? { kind: 'plan' },
    concurrency: valid.concurrency,
    failurePolicy: valid.failurePolicy,
    defaults,
    steps,
    order: {
      levels: levels.map((level) => level.map((i) => graph.ids[i]!)),
      criticalPath: criticalPath.map((i) => graph.ids[i]!),
    },
    decisions: orderedDecisions,
    requiredCapabilities: requiredCapabilities(valid.steps),
    estimate,
    ...approval,
    ...(options.report ? { report: options.report } : {}),
  };
}

/** The problem for an invalid plan: 422 PLAN_INVALID with every issue under `errors`. */
export function invalidPlanProblem(errors: PlanIssue[], omitted = 0): ProblemError {
  const more = omitted > 0 ? ` (${omitted} more not listed)` : '';
  const first = errors[0];
  const summary = first ? `; first: ${first.path}: ${first.message}` : '';
  return new ProblemError(
    'PLAN_INVALID',
    `the plan has ${errors.length + omitted} problem${errors.length + omitted === 1 ? '' : 's'}${more}${summary}`,
    { errors, ...(omitted > 0 ? { omitted } : {}) },
  );
}

/** The caller's limits combined with the engine's: the stricter of each wins. */
export function combinedLimits(
  capabilities: EngineCapabilities,
  own: Partial<PlanLimits> = {},
): Partial<PlanLimits> {
  const engine = capabilities.limits;
  const stricter = (a: number | undefined, b: number) => (a === undefined ? b : Math.min(a, b));
  return {
    ...own,
    maxSteps: stricter(own.maxSteps, engine.maxSteps),
    maxConcurrency: stricter(own.maxConcurrency, engine.maxConcurrency),
    maxPlanBytes: stricter(own.maxPlanBytes, engine.maxPlanBytes),
  };
}

function resolveStep(
  step: Step,
  defaults: { retry: RetryPolicy; timeoutMs: number },
): ExecutionStep {
  return {
    ...step,
    ...(step.needs ? { needs: [...new Set(step.needs)] } : {}),
    retry: { ...defaults.retry, ...step.retry },
    timeoutMs: step.timeoutMs ?? defaults.timeoutMs,
  } as ExecutionStep;
}
