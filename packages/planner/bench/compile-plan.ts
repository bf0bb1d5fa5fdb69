/**
 * Compile time of synthetic 20,000-step plans (a random DAG, a chain, a fan-out), each as a
 * ratio to JSON.parse of the same bytes in the same run, with peak RSS.
 * Run: node --conditions=source packages/planner/bench/compile-plan.ts
 */
import { compilePlan } from '../src/plan/index.ts';

const capabilities = {
  kinds: ['noop', 'sql'],
  materializations: [],
  signals: [],
  targets: ['warehouse'],
  limits: { maxSteps: 100_000, maxConcurrency: 256, maxPlanBytes: 256 * 1024 * 1024 },
};

function plan(shape: 'dag' | 'chain' | 'fan', n: number) {
  let seed = 42;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const steps = Array.from({ length: n }, (_, i) => {
    const needs =
      shape === 'chain'
        ? i === 0
          ? []
          : [`s${i - 1}`]
        : shape === 'fan'
          ? i === 0
            ? []
            : ['s0']
          : i === 0
            ? []
            : Array.from(
                { length: 1 + Math.floor(random() * 3) },
                () => `s${Math.floor(random() * i)}`,
              );
    return {
      id: `s${i}`,
      kind: 'sql',
      needs: [...new Set(needs)],
      with: { target: 'warehouse', sql: `select ${i}` },
    };
  });
  return JSON.stringify({
    schemaVersion: 'dvt.plan/v1',
    planId: 'bench',
    planVersion: '1',
    concurrency: 16,
    steps,
  });
}

function best(fn: () => void, runs = 5): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    min = Math.min(min, performance.now() - start);
  }
  return min;
}

for (const shape of ['dag', 'chain', 'fan'] as const) {
  const text = plan(shape, 20_000);
  const parseMs = best(() => JSON.parse(text));
  const compileMs = best(() =>
    compilePlan(JSON.parse(text), {
      capabilities,
      limits: { maxDepth: 20_000 },
      payloadBytes: text.length,
    }),
  );
  console.log(
    `${shape.padEnd(5)} 20000 steps, ${(text.length / 1e6).toFixed(1)} MB: JSON.parse ${parseMs.toFixed(1)} ms, parse+compile ${compileMs.toFixed(1)} ms (${(compileMs / parseMs).toFixed(1)}x the floor)`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
