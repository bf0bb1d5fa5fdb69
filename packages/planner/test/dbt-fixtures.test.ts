import { PlanV1 } from '@dvt/contracts';
import { describe, expect, it } from 'vitest';
import { importManifest } from '../src/dbt/index.ts';
import { readFixtureManifest, topologicalPositions } from './fixtures/dbt-fixtures.ts';

interface Pin {
  schema: string;
  /** `manifest.nodes` by resource_type, disabled entries included, as the fixtures README has. */
  nodes: Record<string, number>;
  disabledSection: number;
  models: number;
  tests: number;
  skipped: Record<string, number>;
  /** Steps preset to SKIP (tests the manifest holds without compiled SQL). */
  presetSkips: number;
  /** Total number of `needs` entries over all steps. */
  edges: number;
}

const pins: Record<string, Pin> = {
  'dbt-resto-v4': {
    schema: 'v4',
    nodes: { model: 24, test: 217, operation: 3, seed: 1 },
    disabledSection: 2,
    models: 24,
    tests: 217,
    skipped: { operation: 3, seed: 1 },
    presetSkips: 0,
    edges: 240,
  },
  'fivetran-jira-v5': {
    schema: 'v5',
    nodes: { seed: 21, model: 56, test: 69 },
    disabledSection: 0,
    models: 46,
    tests: 69,
    skipped: { model: 10, seed: 21, source: 17 },
    presetSkips: 0,
    edges: 138,
  },
  'fivetran-zendesk-v6': {
    schema: 'v6',
    nodes: { model: 62, operation: 1, test: 26 },
    disabledSection: 17,
    models: 54,
    tests: 23,
    skipped: { model: 8, operation: 1, source: 16 },
    presetSkips: 0,
    edges: 104,
  },
  'fivetran-ad-reporting-v7': {
    schema: 'v7',
    nodes: { seed: 80, model: 223, test: 370 },
    disabledSection: 4,
    models: 215,
    tests: 364,
    skipped: { metric: 9, model: 8, seed: 80, source: 78 },
    presetSkips: 364,
    edges: 706,
  },
  'jaffle-shop-duckdb-v8': {
    schema: 'v8',
    nodes: { model: 5, seed: 3, test: 20 },
    disabledSection: 0,
    models: 5,
    tests: 20,
    skipped: { metric: 1, seed: 3 },
    presetSkips: 0,
    edges: 26,
  },
  'dbt-constraints-v9': {
    schema: 'v9',
    nodes: { model: 12, test: 108, seed: 6, operation: 1 },
    disabledSection: 0,
    models: 12,
    tests: 107,
    skipped: { operation: 1, seed: 6, source: 6 },
    presetSkips: 0,
    edges: 67,
  },
  'jaffle-shop-versioned-v10': {
    schema: 'v10',
    nodes: { model: 7, seed: 3, test: 24 },
    disabledSection: 0,
    models: 7,
    tests: 24,
    skipped: { seed: 3 },
    presetSkips: 0,
    edges: 33,
  },
  'fivetran-hubspot-v12': {
    schema: 'v12',
    nodes: { seed: 56, model: 154, test: 73 },
    disabledSection: 43,
    models: 150,
    tests: 73,
    skipped: { model: 4, seed: 56, source: 61 },
    presetSkips: 0,
    edges: 241,
  },
  'dbt-core-state-v12': {
    schema: 'v12',
    nodes: { model: 2, snapshot: 1, analysis: 1, test: 3, seed: 1 },
    disabledSection: 9,
    models: 2,
    tests: 3,
    skipped: {
      analysis: 1,
      exposure: 1,
      metric: 4,
      seed: 1,
      semantic_model: 1,
      snapshot: 1,
      source: 1,
    },
    presetSkips: 0,
    edges: 3,
  },
};

function countBy<T>(items: Iterable<T>, key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

describe('every fixture manifest imports', () => {
  for (const [name, pin] of Object.entries(pins)) {
    it(`${name}: pinned counts, a valid plan, every step after all its needs`, () => {
      const manifest = readFixtureManifest(name);
      const nodes = Object.values(manifest.nodes as Record<string, { resource_type: string }>);
      expect(countBy(nodes, (n) => n.resource_type)).toEqual(pin.nodes);
      expect(Object.keys((manifest.disabled as object | undefined) ?? {}).length).toBe(
        pin.disabledSection,
      );

      // dbt-core-state-v12 is parse-only: it imports as a preview.
      const preview = name === 'dbt-core-state-v12';
      const { plan, presetDecisions, report } = importManifest(manifest, { preview });

      expect(plan.metadata?.manifestSchemaVersion).toBe(pin.schema);
      expect(plan.metadata?.preview).toBe(preview);
      expect(countBy(plan.steps, (s) => s.kind)).toEqual({
        'dbt.model': pin.models,
        'dbt.test': pin.tests,
      });
      expect(plan.steps.length).toBe(pin.models + pin.tests);
      expect(countBy(report.skipped, (s) => s.resourceType)).toEqual(pin.skipped);
      expect(Object.keys(presetDecisions).sort()).toEqual(plan.steps.map((s) => s.id).sort());
      expect(Object.values(presetDecisions).filter((d) => d.action === 'SKIP').length).toBe(
        pin.presetSkips,
      );
      expect(plan.steps.reduce((sum, s) => sum + (s.needs?.length ?? 0), 0)).toBe(pin.edges);

      // The plan satisfies the shared contract as it is, and survives a JSON round trip.
      expect(PlanV1.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan);

      const positions = topologicalPositions(plan.steps);
      for (const step of plan.steps) {
        for (const need of step.needs ?? []) {
          expect(positions.get(need)!).toBeLessThan(positions.get(step.id)!);
        }
      }

      // Every parent of a step that is itself a step is among its needs.
      const stepIds = new Set(plan.steps.map((s) => s.id));
      const byId = manifest.nodes as Record<string, { depends_on?: { nodes?: string[] } }>;
      for (const step of plan.steps) {
        for (const parent of byId[step.id]!.depends_on?.nodes ?? []) {
          if (stepIds.has(parent)) expect(step.needs).toContain(parent);
        }
      }

      // Tests need all the selected models they read, models only ever need models.
      for (const step of plan.steps) {
        if (step.kind === 'dbt.model') {
          for (const need of step.needs ?? []) expect(need.startsWith('model.')).toBe(true);
        }
      }
    });
  }

  it('compiled SQL is taken from compiled_sql (v4–v6) and compiled_code (v7+)', () => {
    for (const name of ['fivetran-jira-v5', 'jaffle-shop-duckdb-v8']) {
      const manifest = readFixtureManifest(name);
      const { plan } = importManifest(manifest);
      const nodes = manifest.nodes as Record<
        string,
        { compiled_sql?: string; compiled_code?: string }
      >;
      const models = plan.steps.filter((s) => s.kind === 'dbt.model');
      expect(models.length).toBeGreaterThan(0);
      for (const step of models) {
        const node = nodes[step.id]!;
        expect(step.with.compiledSql).toBe(node.compiled_code ?? node.compiled_sql);
        expect(step.with.compiledSql).toMatch(/select/i);
      }
    }
  });
});
