/**
 * Duration estimate of a plan: per-step durations (from history when there is one, else a
 * stated default), the critical path, and a simulation of the engine's scheduling with the
 * plan's concurrency (list scheduling: whenever a slot is free, the ready step with the
 * smallest id starts).
 *
 * Defaults, when a step has no recorded duration: a noop takes its `delayMs` (0 without one);
 * a dbt step with `simulate: true` runs as a noop, so 0; a skipped step 0; every other step
 * `defaultStepMs` (1000 ms unless the caller says otherwise).
 */
import type { PlanEstimate, Step, StepDecision } from '@dvt/contracts';
import { compareIds, criticalPath, type StepGraph } from './graph.ts';
import { MinHeap } from './heap.ts';
import type { PlanHistory } from './history.ts';

/** Duration assumed for a step with no history, in ms. */
export const DEFAULT_STEP_MS = 1000;

export interface StepDurations {
  /** Per node of the graph, in ms. */
  durations: Float64Array;
  basis: PlanEstimate['basis'];
}

/** Duration of each step (indexed like `steps`, which must be in graph order). */
export function stepDurations(
  steps: readonly Step[],
  options: {
    history?: PlanHistory;
    decisions?: Readonly<Record<string, StepDecision>>;
    defaultStepMs?: number;
  } = {},
): StepDurations {
  const defaultStepMs = options.defaultStepMs ?? DEFAULT_STEP_MS;
  const durations = new Float64Array(steps.length);
  let fromHistory = 0;
  let fromDefault = 0;
  steps.forEach((step, i) => {
    if (options.decisions?.[step.id]?.action === 'SKIP') return;
    const recorded = options.history?.get(step.id)?.lastDurationMs;
    if (recorded !== null && recorded !== undefined) {
      durations[i] = recorded;
      fromHistory++;
      return;
    }
    fromDefault++;
    durations[i] = defaultDuration(step, defaultStepMs);
  });
  const basis = fromHistory === 0 ? 'default' : fromDefault === 0 ? 'history' : 'mixed';
  return { durations, basis };
}

function defaultDuration(step: Step, defaultStepMs: number): number {
  switch (step.kind) {
    case 'noop':
      return step.with.delayMs ?? 0;
    case 'dbt.model':
    case 'dbt.test':
      return step.with.simulate === true ? 0 : defaultStepMs;
    default:
      return defaultStepMs;
  }
}

/**
 * Simulated wall-clock duration of the graph with `concurrency` slots. O((n + e) log n).
 * Steps finishing at the same instant release their dependents before new steps start.
 */
export function simulateSchedule(
  graph: StepGraph,
  durations: ArrayLike<number>,
  concurrency: number,
): number {
  const n = graph.ids.length;
  const rank = idRanks(graph.ids);
  const finish = new Float64Array(n);
  const remaining = new Int32Array(n);
  const ready = new MinHeap((a, b) => rank[a]! < rank[b]!);
  const running = new MinHeap((a, b) =>
    finish[a] === finish[b] ? rank[a]! < rank[b]! : finish[a]! < finish[b]!,
  );
  for (let i = 0; i < n; i++) {
    remaining[i] = graph.needs[i]!.length;
    if (remaining[i] === 0) ready.push(i);
  }
  let now = 0;
  while (ready.size > 0 || running.size > 0) {
    while (running.size < concurrency && ready.size > 0) {
      const node = ready.pop()!;
      finish[node] = now + durations[node]!;
      running.push(node);
    }
    now = finish[running.peek()!]!;
    while (running.size > 0 && finish[running.peek()!] === now) {
      const done = running.pop()!;
      for (const dependent of graph.dependents[done]!) {
        if (--remaining[dependent]! === 0) ready.push(dependent);
      }
    }
  }
  return now;
}

/** The estimate of a validated, acyclic graph. */
export function estimatePlan(
  graph: StepGraph,
  levels: readonly (readonly number[])[],
  durations: StepDurations,
  concurrency: number,
  defaultStepMs = DEFAULT_STEP_MS,
): { estimate: PlanEstimate; criticalPath: number[] } {
  const critical = criticalPath(graph, levels, durations.durations);
  return {
    estimate: {
      durationMs: simulateSchedule(graph, durations.durations, concurrency),
      basis: durations.basis,
      defaultStepMs,
      criticalPathMs: critical.totalMs,
    },
    criticalPath: critical.path,
  };
}

function idRanks(ids: readonly string[]): Int32Array {
  const order = ids.map((_, i) => i).sort((a, b) => compareIds(ids[a]!, ids[b]!));
  const rank = new Int32Array(ids.length);
  order.forEach((node, position) => (rank[node] = position));
  return rank;
}
