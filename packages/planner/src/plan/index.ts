export {
  capabilityProblem,
  checkCapabilities,
  fetchEngineCapabilities,
  requiredCapabilities,
  stepRequirements,
} from './capabilities.ts';
export type { FetchCapabilitiesOptions, StepRequirements } from './capabilities.ts';
export {
  combinedLimits,
  compilePlan,
  compileValidPlan,
  DEFAULT_RETRY,
  DEFAULT_STEP_TIMEOUT_MS,
  invalidPlanProblem,
} from './compile.ts';
export type { CompilePlanOptions } from './compile.ts';
export { DEFAULT_STEP_MS, estimatePlan, simulateSchedule, stepDurations } from './estimate.ts';
export type { StepDurations } from './estimate.ts';
export { buildGraph, compareIds, criticalPath, findCycles, topologicalLevels } from './graph.ts';
export type { StepGraph } from './graph.ts';
export { PlannerHistory, recordStepOutcome, recordStepOutcomes } from './history.ts';
export type {
  HistoryScope,
  PlanHistory,
  StepHistoryRecord,
  StepOutcome,
  StepOutcomeStatus,
} from './history.ts';
export { jsonPath } from './issues.ts';
export { approvalPolicy, decideSteps } from './policies.ts';
export type { ApprovalOptions, DecideStepsOptions } from './policies.ts';
export { DEFAULT_PLAN_LIMITS, validatePlan } from './validate.ts';
export type { PlanLimits, ValidatePlanOptions, ValidatePlanResult } from './validate.ts';
