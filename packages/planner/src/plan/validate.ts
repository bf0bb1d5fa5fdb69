/**
 * Plan validation: every problem of a `dvt.plan/v1` document at once, each with a stable code,
 * a JSON path and a message.
 *
 * The document is checked in parts rather than with one `PlanV1.safeParse`, for two reasons:
 * a step with an unknown kind must be reported as exactly that (a discriminated union would
 * report it as a mismatch of every kind), and graph checks (duplicates, unknown needs, cycles,
 * depth) still run when some steps have bad parameters, so one pass reports everything.
 */
import {
  PLAN_SCHEMA_VERSION,
  PlanV1,
  StepBase,
  stepKinds,
  stepSchemaByKind,
  type PlanIssue,
  type Step,
  type StepKind,
} from '@dvt/contracts';
import { z } from 'zod';
import { buildGraph, findCycles, topologicalLevels } from './graph.ts';
import { describeValue, mapZodIssues, planIssue } from './issues.ts';

export interface PlanLimits {
  /** Most steps a plan may have. */
  maxSteps: number;
  /** Longest chain of steps (a step, what it needs, what that needs, …), counted in steps. */
  maxDepth: number;
  /** Largest plan document, in bytes of its JSON text. */
  maxPlanBytes: number;
  /** Highest `concurrency` a plan may ask for; unchecked when absent. */
  maxConcurrency?: number;
}

/** The limits applied when the caller names none: generous, but finite. */
export const DEFAULT_PLAN_LIMITS: Readonly<PlanLimits> = Object.freeze({
  maxSteps: 50_000,
  maxDepth: 10_000,
  maxPlanBytes: 16 * 1024 * 1024,
});

export interface ValidatePlanOptions {
  /** Size of the document as received, in bytes; measured with JSON.stringify when absent. */
  payloadBytes?: number;
  /** At most this many issues are listed (default 1000); the rest are counted in `omitted`. */
  maxIssues?: number;
}

export type ValidatePlanResult =
  { ok: true; plan: PlanV1 } | { ok: false; errors: PlanIssue[]; omitted: number };

const kindSet = new Set<string>(stepKinds);
const PlanHeader = PlanV1.omit({ steps: true }).extend({ steps: z.array(z.unknown()) });
const StepCommon = StepBase.omit({ kind: true, with: true });

/** Validates a plan document; reports every problem found, or returns the parsed plan. */
export function validatePlan(
  input: unknown,
  limits: Partial<PlanLimits> = {},
  options: ValidatePlanOptions = {},
): ValidatePlanResult {
  const effective = { ...DEFAULT_PLAN_LIMITS, ...limits };
  const issues: PlanIssue[] = [];

  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    issues.push(
      planIssue(
        'PLAN_BAD_FIELD',
        [],
        `expected a plan object { "schemaVersion": "${PLAN_SCHEMA_VERSION}", "planId", "planVersion", "steps": [...] }, got ${describeValue(input)}`,
      ),
    );
    return fail(issues, options);
  }

  const bytes = options.payloadBytes ?? measureBytes(input);
  if (bytes > effective.maxPlanBytes) {
    issues.push(
      planIssue(
        'PLAN_LIMIT_EXCEEDED',
        [],
        `the plan is ${bytes} bytes; the limit is ${effective.maxPlanBytes} bytes — split it into smaller plans`,
      ),
    );
  }

  const header = PlanHeader.safeParse(input, { reportInput: true });
  if (!header.success)
    issues.push(...mapZodIssues('PLAN_BAD_FIELD', [], header.error.issues, PlanV1));

  const rawSteps = (input as { steps?: unknown }).steps;
  const steps = Array.isArray(rawSteps) ? rawSteps : [];
  if (steps.length > effective.maxSteps) {
    issues.push(
      planIssue(
        'PLAN_LIMIT_EXCEEDED',
        ['steps'],
        `the plan has ${steps.length} steps; the limit is ${effective.maxSteps} — split it into smaller plans`,
      ),
    );
  }
  const concurrency = (input as { concurrency?: unknown }).concurrency;
  if (
    effective.maxConcurrency !== undefined &&
    typeof concurrency === 'number' &&
    concurrency > effective.maxConcurrency
  ) {
    issues.push(
      planIssue(
        'PLAN_LIMIT_EXCEEDED',
        ['concurrency'],
        `concurrency ${concurrency} exceeds the engine's limit of ${effective.maxConcurrency}; lower it`,
      ),
    );
  }

  const parsedSteps: Step[] = [];
  const ids: string[] = [];
  const needsById: string[][] = [];
  const firstIndex = new Map<string, number>();
  let stepsOk = true;

  steps.forEach((raw, i) => {
    const result = checkStep(raw, i);
    if (result.step) parsedSteps.push(result.step);
    else stepsOk = false;
    issues.push(...result.issues);

    const { id, needs } = graphFields(raw);
    if (id === undefined) return;
    const first = firstIndex.get(id);
    if (first !== undefined) {
      issues.push(
        planIssue(
          'PLAN_DUPLICATE_STEP_ID',
          ['steps', i, 'id'],
          `step id ${JSON.stringify(id)} is already used by $.steps[${first}]; step ids must be unique`,
        ),
      );
      return;
    }
    firstIndex.set(id, i);
    ids.push(id);
    needsById.push(needs);
  });

  // Unknown needs, in step order.
  steps.forEach((raw, i) => {
    const { id, needs } = graphFields(raw);
    needs.forEach((need, k) => {
      if (!firstIndex.has(need)) {
        issues.push(
          planIssue(
            'PLAN_UNKNOWN_NEEDS',
            ['steps', i, 'needs', k],
            `step ${JSON.stringify(id ?? `#${i}`)} needs ${JSON.stringify(need)}, but no step has that id`,
          ),
        );
      }
    });
  });

  const graph = buildGraph(ids, needsById);
  const cycles = findCycles(graph);
  for (const cycle of cycles) {
    const names = cycle.map((node) => graph.ids[node]!);
    const first = names[0]!;
    const second = names[1] ?? first;
    const stepIndex = firstIndex.get(first)!;
    const needIndex = needsById[cycle[0]!]!.indexOf(second);
    const spelled = [...names, first].join(' → ');
    issues.push(
      planIssue(
        'PLAN_CYCLE',
        ['steps', stepIndex, 'needs', needIndex],
        names.length === 1
          ? `step ${JSON.stringify(first)} needs itself: ${spelled}; remove it from its own needs`
          : `the steps' needs form a cycle: ${spelled} (each step needs the next); remove one of these needs`,
      ),
    );
  }

  if (cycles.length === 0 && ids.length > 0) {
    const depth = topologicalLevels(graph).length;
    if (depth > effective.maxDepth) {
      issues.push(
        planIssue(
          'PLAN_LIMIT_EXCEEDED',
          ['steps'],
          `the longest chain of needs is ${depth} steps; the limit is ${effective.maxDepth} — shorten the chain or split the plan`,
        ),
      );
    }
  }

  if (issues.length > 0 || !header.success || !stepsOk) return fail(issues, options);
  return { ok: true, plan: { ...header.data, steps: parsedSteps } as PlanV1 };
}

function checkStep(raw: unknown, i: number): { step?: Step; issues: PlanIssue[] } {
  const base = ['steps', i];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      issues: [
        planIssue(
          'PLAN_BAD_PARAMETERS',
          base,
          `expected a step object { "id", "kind", "with" }, got ${describeValue(raw)}`,
        ),
      ],
    };
  }
  const kind = (raw as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !kindSet.has(kind)) {
    const common = StepCommon.safeParse(raw, { reportInput: true });
    const commonIssues = common.success
      ? []
      : mapZodIssues('PLAN_BAD_PARAMETERS', base, common.error.issues, StepCommon);
    const kindIssue =
      typeof kind === 'string'
        ? planIssue('PLAN_UNKNOWN_KIND', [...base, 'kind'], unknownKindMessage(kind))
        : planIssue(
            'PLAN_BAD_PARAMETERS',
            [...base, 'kind'],
            `missing or not a string: expected a step kind (one of ${stepKinds.join(', ')}), got ${describeValue(kind)}`,
          );
    return { issues: [kindIssue, ...commonIssues] };
  }
  const schema = stepSchemaByKind[kind as StepKind];
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return { step: result.data as Step, issues: [] };
  return { issues: mapZodIssues('PLAN_BAD_PARAMETERS', base, result.error.issues, schema) };
}

function unknownKindMessage(kind: string): string {
  const near = stepKinds.find((known) => editDistance(known, kind.toLowerCase()) <= 2);
  const hint = near ? `; did you mean ${JSON.stringify(near)}?` : '';
  return `unknown step kind ${JSON.stringify(kind)}: expected one of ${stepKinds.join(', ')}${hint}`;
}

/** The id and needs of a raw step, read leniently so graph checks run even on bad steps. */
function graphFields(raw: unknown): { id?: string; needs: string[] } {
  if (typeof raw !== 'object' || raw === null) return { needs: [] };
  const { id, needs } = raw as { id?: unknown; needs?: unknown };
  return {
    ...(typeof id === 'string' ? { id } : {}),
    needs: Array.isArray(needs) ? needs.filter((n): n is string => typeof n === 'string') : [],
  };
}

function measureBytes(input: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(input) ?? '', 'utf8');
  } catch {
    return 0;
  }
}

function fail(issues: PlanIssue[], options: ValidatePlanOptions): ValidatePlanResult {
  const max = options.maxIssues ?? 1000;
  return { ok: false, errors: issues.slice(0, max), omitted: Math.max(0, issues.length - max) };
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
