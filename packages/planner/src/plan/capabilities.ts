/**
 * What a plan needs from the engine (step kinds, dbt materializations, named targets), and the
 * check against what the engine advertises. A dbt step with `simulate: true` runs as a noop, so
 * it needs only its kind.
 */
import {
  DEFAULT_DBT_TARGET,
  EngineCapabilities,
  type PlanIssue,
  type RequiredCapabilities,
  type Step,
} from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import { compareIds } from './graph.ts';
import { planIssue } from './issues.ts';

export interface StepRequirements {
  kind: string;
  materialization?: string;
  target?: string;
}

/** What one step needs. */
export function stepRequirements(step: Step): StepRequirements {
  switch (step.kind) {
    case 'sql':
      return { kind: step.kind, target: step.with.target };
    case 'dbt.model':
      return step.with.simulate === true
        ? { kind: step.kind }
        : {
            kind: step.kind,
            materialization: step.with.materialization,
            target: step.with.target ?? DEFAULT_DBT_TARGET,
          };
    case 'dbt.test':
      return step.with.simulate === true
        ? { kind: step.kind }
        : { kind: step.kind, target: step.with.target ?? DEFAULT_DBT_TARGET };
    default:
      return { kind: step.kind };
  }
}

/** The union of what the steps need, each list sorted. */
export function requiredCapabilities(steps: readonly Step[]): RequiredCapabilities {
  const kinds = new Set<string>();
  const materializations = new Set<string>();
  const targets = new Set<string>();
  for (const step of steps) {
    const needs = stepRequirements(step);
    kinds.add(needs.kind);
    if (needs.materialization) materializations.add(needs.materialization);
    if (needs.target) targets.add(needs.target);
  }
  const sorted = (set: Set<string>) => [...set].sort(compareIds);
  return {
    kinds: sorted(kinds),
    materializations: sorted(materializations),
    targets: sorted(targets),
  };
}

/**
 * One PLAN_CAPABILITY_MISSING issue per step the engine cannot run, at `$.steps[i]` (the
 * step's index in `steps`), naming what is missing. Empty when the engine can run everything.
 */
export function checkCapabilities(
  steps: readonly Step[],
  capabilities: EngineCapabilities,
): PlanIssue[] {
  const kinds = new Set(capabilities.kinds);
  const materializations = new Set(capabilities.materializations);
  const targets = new Set(capabilities.targets);
  const issues: PlanIssue[] = [];
  steps.forEach((step, i) => {
    const needs = stepRequirements(step);
    const missing: string[] = [];
    if (!kinds.has(needs.kind)) {
      missing.push(
        `kind ${JSON.stringify(needs.kind)} (the engine runs ${listOf(capabilities.kinds)})`,
      );
    }
    if (needs.materialization && !materializations.has(needs.materialization)) {
      missing.push(
        `materialization ${JSON.stringify(needs.materialization)} (the engine builds ${listOf(capabilities.materializations)})`,
      );
    }
    if (needs.target && !targets.has(needs.target)) {
      missing.push(
        `target ${JSON.stringify(needs.target)} (the engine has ${listOf(capabilities.targets)})`,
      );
    }
    if (missing.length > 0) {
      issues.push(
        planIssue(
          'PLAN_CAPABILITY_MISSING',
          ['steps', i],
          `step ${JSON.stringify(step.id)} needs ${missing.join(' and ')}, which the engine does not offer`,
        ),
      );
    }
  });
  return issues;
}

/** The problem thrown when the engine cannot run a plan; `errors` lists each step. */
export function capabilityProblem(issues: PlanIssue[]): ProblemError {
  const ids = issues.map((issue) => /^step ("(?:[^"\\]|\\.)*")/.exec(issue.message)?.[1]);
  const named = ids.slice(0, 5).join(', ') + (ids.length > 5 ? `, and ${ids.length - 5} more` : '');
  return new ProblemError(
    'PLAN_CAPABILITY_MISSING',
    `the engine cannot run ${issues.length} step${issues.length === 1 ? '' : 's'} of this plan: ${named}; see errors for what each needs`,
    { errors: issues },
  );
}

function listOf(values: readonly string[]): string {
  return values.length === 0 ? 'none' : [...values].sort(compareIds).join(', ');
}

export interface FetchCapabilitiesOptions {
  /** The engine's base URL (ENGINE_URL). */
  engineUrl: string;
  /** Sent as X-Internal-Token. */
  internalToken: string;
  /** How long to wait for the engine, in ms (default 2000). */
  timeoutMs?: number;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
}

/**
 * Asks the engine what it can run (`GET /internal/v1/capabilities`). Throws ProblemError
 * DEPENDENCY_UNAVAILABLE (503, `dependency: "engine"`) when the engine does not answer in
 * time, answers with an error status, or sends something that is not a capability list.
 */
export async function fetchEngineCapabilities(
  options: FetchCapabilitiesOptions,
): Promise<EngineCapabilities> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const base = options.engineUrl.endsWith('/') ? options.engineUrl : `${options.engineUrl}/`;
  const url = new URL('internal/v1/capabilities', base);
  const unavailable = (reason: string, cause?: unknown) =>
    new ProblemError(
      'DEPENDENCY_UNAVAILABLE',
      `the engine did not provide its capabilities (GET /internal/v1/capabilities): ${reason}; retry later, or send "capabilities" in the request`,
      { dependency: 'engine' },
      cause === undefined ? undefined : { cause },
    );
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      headers: { 'x-internal-token': options.internalToken, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    throw unavailable(timedOut ? `no answer within ${timeoutMs} ms` : 'connection failed', error);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw unavailable(`it answered with status ${response.status}`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw unavailable('its answer is not JSON', error);
  }
  const parsed = EngineCapabilities.safeParse(body);
  if (!parsed.success) throw unavailable('its answer is not a capability list');
  return parsed.data;
}
