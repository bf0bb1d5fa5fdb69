import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildGraph,
  compilePlan,
  criticalPath,
  findCycles,
  simulateSchedule,
  topologicalLevels,
  validatePlan,
} from '../src/plan/index.ts';
import { allCapabilities, noop, planOf } from './helpers.ts';

/** A random DAG: node i may need only nodes with a smaller index; ids shuffled. */
const dagArb = fc
  .integer({ min: 1, max: 60 })
  .chain((n) =>
    fc.record({
      ids: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), {
        minLength: n,
        maxLength: n,
      }),
      edges: fc.array(fc.array(fc.integer({ min: 0, max: Math.max(0, n - 1) }), { maxLength: 4 }), {
        minLength: n,
        maxLength: n,
      }),
    }),
  )
  .map(({ ids, edges }) => {
    const needs = ids.map((_, i) =>
      [...new Set(edges[i]!.filter((j) => j < i))].map((j) => ids[j]!),
    );
    return { ids, needs };
  });

describe('ordering', () => {
  it('orders random DAGs with every dependency in an earlier level, and levels minimal', () => {
    fc.assert(
      fc.property(dagArb, ({ ids, needs }) => {
        const graph = buildGraph(ids, needs);
        const levels = topologicalLevels(graph);
        const levelOf = new Map<string, number>();
        levels.forEach((level, k) => level.forEach((i) => levelOf.set(ids[i]!, k)));
        expect(levelOf.size).toBe(ids.length);
        ids.forEach((id, i) => {
          const own = levelOf.get(id)!;
          const depLevels = needs[i]!.map((need) => levelOf.get(need)!);
          for (const depLevel of depLevels) expect(depLevel).toBeLessThan(own);
          // Minimal: one level after the deepest need (0 without needs).
          expect(own).toBe(depLevels.length === 0 ? 0 : Math.max(...depLevels) + 1);
        });
        for (const level of levels) {
          const names = level.map((i) => ids[i]!);
          expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        }
        expect(findCycles(graph)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects random graphs with an injected cycle, reporting a cycle whose edges exist', () => {
    fc.assert(
      fc.property(
        dagArb.filter((d) => d.ids.length >= 2),
        fc.nat(),
        fc.nat(),
        (dag, x, y) => {
          const ids = dag.ids;
          const needs = dag.needs.map((list) => [...list]);
          // Close a cycle: take a node and make one of its ancestors (or itself) need it.
          const from = x % ids.length;
          const chain = [from];
          let current = from;
          while (needs[current]!.length > 0 && chain.length < 1 + (y % 5)) {
            current = ids.indexOf(needs[current]![y % needs[current]!.length]!);
            chain.push(current);
          }
          const last = chain[chain.length - 1]!;
          needs[last] = [...needs[last]!, ids[from]!];

          const result = validatePlan(planOf(ids.map((id, i) => noop(id, needs[i]))));
          expect(result.ok).toBe(false);
          if (result.ok) return;
          const cycles = result.errors.filter((e) => e.code === 'PLAN_CYCLE');
          expect(cycles.length).toBeGreaterThan(0);
          for (const issue of cycles) {
            const spelled = /: ([^\s;]+(?: → [^\s;]+)+)/.exec(issue.message)![1]!.split(' → ');
            expect(spelled[0]).toBe(spelled[spelled.length - 1]);
            for (let k = 0; k + 1 < spelled.length; k++) {
              const step = ids.indexOf(spelled[k]!);
              expect(needs[step]).toContain(spelled[k + 1]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('produces the same execution plan for the same input', () => {
    fc.assert(
      fc.property(dagArb, ({ ids, needs }) => {
        const plan = planOf(ids.map((id, i) => noop(id, needs[i], (i * 37) % 500)));
        const now = new Date('2025-01-01T00:00:00Z');
        const first = compilePlan(plan, { capabilities: allCapabilities, now });
        const second = compilePlan(structuredClone(plan), { capabilities: allCapabilities, now });
        expect(JSON.stringify(second)).toBe(JSON.stringify(first));
      }),
      { numRuns: 50 },
    );
  });

  it('breaks ties by id, whatever order the steps come in', () => {
    const steps = [noop('b'), noop('c', ['a']), noop('a'), noop('d', ['b', 'a'])];
    const levelsOf = (list: typeof steps) =>
      compilePlan(planOf(list), { capabilities: allCapabilities }).order.levels;
    expect(levelsOf(steps)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(levelsOf([...steps].reverse())).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  it('finds the critical path by duration, not by step count', () => {
    // a(10) → b(10) → c(10) is 30 ms; x(100) → y(1) is 101 ms.
    const graph = buildGraph(['a', 'b', 'c', 'x', 'y'], [[], ['a'], ['b'], [], ['x']]);
    const levels = topologicalLevels(graph);
    const { path, totalMs } = criticalPath(graph, levels, [10, 10, 10, 100, 1]);
    expect(path.map((i) => graph.ids[i])).toEqual(['x', 'y']);
    expect(totalMs).toBe(101);
  });

  it('simulates the schedule with the given concurrency', () => {
    // Four independent 100 ms steps then one 50 ms step needing all of them.
    const graph = buildGraph(['a', 'b', 'c', 'd', 'z'], [[], [], [], [], ['a', 'b', 'c', 'd']]);
    const durations = [100, 100, 100, 100, 50];
    expect(simulateSchedule(graph, durations, 1)).toBe(450);
    expect(simulateSchedule(graph, durations, 2)).toBe(250);
    expect(simulateSchedule(graph, durations, 3)).toBe(250);
    expect(simulateSchedule(graph, durations, 4)).toBe(150);
    expect(simulateSchedule(graph, durations, 64)).toBe(150);
  });

  it('handles 20,000 steps in a long chain and a wide fan-out', () => {
    const n = 20_000;
    const chain = Array.from({ length: n }, (_, i) => noop(`s${i}`, i === 0 ? [] : [`s${i - 1}`]));
    const compiled = compilePlan(planOf(chain), {
      capabilities: allCapabilities,
      limits: { maxDepth: n },
    });
    expect(compiled.order.levels.length).toBe(n);
    expect(compiled.order.criticalPath.length).toBe(n);

    const fan = Array.from({ length: n }, (_, i) => noop(`s${i}`, i === 0 ? [] : ['s0']));
    const wide = compilePlan(planOf(fan, { concurrency: 8 }), {
      capabilities: allCapabilities,
      defaultStepMs: 1000,
    });
    expect(wide.order.levels.map((l) => l.length)).toEqual([1, n - 1]);

    const cycle = Array.from({ length: n }, (_, i) => noop(`s${i}`, [`s${(i + 1) % n}`]));
    const result = validatePlan(planOf(cycle));
    expect(result.ok ? [] : result.errors.map((e) => e.code)).toEqual(['PLAN_CYCLE']);
  });
});
