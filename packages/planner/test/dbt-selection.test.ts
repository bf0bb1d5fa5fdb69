import { describe, expect, it } from 'vitest';
import {
  buildDbtGraph,
  importManifest,
  parseManifest,
  selectNodes,
  type IndirectSelection,
} from '../src/dbt/index.ts';
import { readLocalFixture, topologicalPositions } from './fixtures/dbt-fixtures.ts';

interface RecordedCase {
  name: string;
  select: string[];
  exclude: string[];
  resourceTypes: string[];
  indirectSelection?: IndirectSelection;
  expected: string[];
}

// Recorded from `dbt ls` by scripts/dbt-compile-example.sh on examples/dbt-shop.
const shop = readLocalFixture<Record<string, unknown>>('dbt-shop/manifest.json');
const recorded = readLocalFixture<{ recordedWith: string; cases: RecordedCase[] }>(
  'dbt-shop/selections.json',
);

/** `dbt ls` lists these resource types unless --resource-type says otherwise. */
const lsDefaultTypes = [
  'model',
  'snapshot',
  'seed',
  'test',
  'source',
  'exposure',
  'metric',
  'saved_query',
  'semantic_model',
  'unit_test',
];

const parsed = parseManifest(shop);
const { graph } = buildDbtGraph(parsed.nodes, parsed.disabledIds);

function select(
  selectArgs: string[],
  excludeArgs: string[] = [],
  indirect: IndirectSelection = 'eager',
): string[] {
  const { selected } = selectNodes(graph, parsed.projectName, selectArgs, excludeArgs, indirect);
  return [...selected].map((i) => graph.nodes[i]!.uniqueId).sort();
}

function thrown(fn: () => unknown): { code?: string; message: string; extensions?: unknown } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('selection matches dbt ls on examples/dbt-shop', () => {
  it('the recording covers at least 15 expressions with graph operators, methods and set operations', () => {
    expect(recorded.recordedWith).toBe('1.10.15');
    expect(recorded.cases.length).toBeGreaterThanOrEqual(15);
    const all = recorded.cases.flatMap((c) => [...c.select, ...c.exclude]).join(' ');
    for (const token of [
      '+',
      '@',
      '1+',
      '+1',
      'tag:',
      'path:',
      'resource_type:',
      'package:',
      ',',
    ]) {
      expect(all).toContain(token);
    }
    expect(recorded.cases.some((c) => c.exclude.some((e) => e.includes('+')))).toBe(true);
    const modes = new Set(recorded.cases.map((c) => c.indirectSelection ?? 'eager'));
    expect([...modes].sort()).toEqual(['buildable', 'cautious', 'eager', 'empty']);
  });

  for (const c of recorded.cases) {
    const mode = c.indirectSelection ? ` --indirect-selection ${c.indirectSelection}` : '';
    it(`${c.name}: --select ${JSON.stringify(c.select)} --exclude ${JSON.stringify(c.exclude)}${mode}`, () => {
      const types = new Set(c.resourceTypes.length > 0 ? c.resourceTypes : lsDefaultTypes);
      const ours = select(c.select, c.exclude, c.indirectSelection).filter((id) =>
        types.has(graph.nodes[graph.index.get(id)!]!.resourceType),
      );
      expect(ours).toEqual(c.expected);
    });
  }

  it('imports the whole project: models, tests, skipped seeds, snapshot, source, exposure, analysis', () => {
    const { plan, report, presetDecisions } = importManifest(shop);
    const kinds: Record<string, number> = {};
    for (const s of plan.steps) kinds[s.kind] = (kinds[s.kind] ?? 0) + 1;
    expect(kinds).toEqual({ 'dbt.model': 10, 'dbt.test': 18 });
    expect(report.skipped.map((s) => `${s.resourceType} ${s.uniqueId}`)).toEqual([
      'analysis analysis.dbt_shop.revenue_by_country',
      'exposure exposure.dbt_shop.revenue_dashboard',
      'model model.dbt_shop.int_order_amounts',
      'seed seed.dbt_shop.raw_customers',
      'seed seed.dbt_shop.raw_order_lines',
      'seed seed.dbt_shop.raw_orders',
      'snapshot snapshot.dbt_shop.customers_snapshot',
      'source source.dbt_shop.legacy.gift_cards',
    ]);
    expect(presetDecisions['model.dbt_shop.fct_daily_revenue']).toEqual({
      action: 'RUN',
      reason: 'incremental treated as full rebuild',
    });
    const byId = new Map(plan.steps.map((s) => [s.id, s]));
    // fct_orders reads the ephemeral int_order_amounts, which reads stg_order_lines.
    expect(byId.get('model.dbt_shop.fct_orders')!.needs).toEqual([
      'model.dbt_shop.stg_order_lines',
      'model.dbt_shop.stg_orders',
    ]);
    // The singular test with two parents, and the warn-severity tests.
    const twoParents = byId.get('test.dbt_shop.assert_customer_value_matches_orders')!;
    expect(twoParents.needs).toEqual(['model.dbt_shop.dim_customers', 'model.dbt_shop.fct_orders']);
    const severities = plan.steps
      .filter((s) => s.kind === 'dbt.test' && s.with.severity === 'warn')
      .map((s) => s.id);
    expect(severities).toEqual([
      'test.dbt_shop.accepted_values_stg_customers_country_code__NL__BR__IT__DE__KR.03432ddff6',
      'test.dbt_shop.warn_unusually_large_orders',
    ]);
    // A model of the local package shop_utils, and versioned models keyed by unique_id.
    expect(byId.get('model.shop_utils.util_calendar')!.with).toMatchObject({
      packageName: 'shop_utils',
      materialization: 'view',
    });
    expect(byId.get('model.dbt_shop.dim_products.v2')!.with).toMatchObject({
      name: 'dim_products',
      identifier: 'dim_products_v2',
    });
    const positions = topologicalPositions(plan.steps);
    for (const step of plan.steps) {
      for (const need of step.needs ?? []) {
        expect(positions.get(need)!).toBeLessThan(positions.get(step.id)!);
      }
    }
  });
});

describe('selector methods beyond the recording', () => {
  it('source:, exposure:, file:, config.severity (case-insensitive), fqn with package', () => {
    expect(select(['source:legacy.gift_cards'])).toEqual([
      'source.dbt_shop.legacy.gift_cards',
      'test.dbt_shop.source_not_null_legacy_gift_cards_card_code.cf8f66dc3f',
    ]);
    expect(select(['exposure:revenue_dashboard'])).toEqual(['exposure.dbt_shop.revenue_dashboard']);
    expect(select(['file:stg_orders'])).toEqual(select(['path:models/staging/stg_orders.sql']));
    expect(select(['config.severity:WARN'])).toEqual([
      'test.dbt_shop.accepted_values_stg_customers_country_code__NL__BR__IT__DE__KR.03432ddff6',
      'test.dbt_shop.warn_unusually_large_orders',
    ]);
    expect(select(['dbt_shop.marts.fct_orders'])).toEqual(select(['fct_orders']));
    expect(select(['fqn:dbt_shop.staging.stg_ord*'])).toEqual(
      select(['stg_orders', 'stg_order_lines']),
    );
  });

  it('two --select arguments are a union, 2+ limits the depth', () => {
    expect(select(['stg_customers', 'stg_orders'])).toEqual(select(['stg_customers stg_orders']));
    expect(select(['2+dim_customers'], ['resource_type:test'])).toEqual([
      'model.dbt_shop.dim_customers',
      'model.dbt_shop.fct_orders',
      'model.dbt_shop.int_order_amounts',
      'model.dbt_shop.stg_customers',
      'model.dbt_shop.stg_orders',
      'seed.dbt_shop.raw_customers',
    ]);
  });

  it('a blank --select selects nothing, with a warning, as dbt does (an unset variable is not "all")', () => {
    for (const blank of [[''], [' '], ['  ', '']]) {
      const { plan, report } = importManifest(shop, { select: blank });
      expect(plan.steps).toEqual([]);
      expect(report.warnings).toContain('the selector "" matches no enabled node');
    }
    // no --select at all, or an empty list, is everything
    expect(importManifest(shop, { select: [] }).plan.steps.length).toBeGreaterThan(20);
  });

  it('a selector matching nothing yields a warning, not an error', () => {
    const { plan, report } = importManifest(shop, { select: ['no_such_model'] });
    expect(plan.steps).toEqual([]);
    expect(report.warnings).toContain('the selector "no_such_model" matches no enabled node');
  });
});

describe('SELECTOR_INVALID says where the selector is wrong', () => {
  const cases: [string[], string][] = [
    [
      ['tag:'],
      '--select argument 1 "tag:" is invalid at position 4: expected a node name or method:value',
    ],
    [
      ['stg_orders tag:x,,y'],
      '--select argument 1 "stg_orders tag:x,,y" is invalid at position 17: empty selector next to ","',
    ],
    [
      ['@stg_orders+'],
      '--select argument 1 "@stg_orders+" is invalid at position 11: "@" and a trailing "+" cannot be combined',
    ],
    [
      ['a', 'colour:red'],
      '--select argument 2 "colour:red" is invalid at position 0: "colour" is not a selector method',
    ],
    [
      ['resource_type:table'],
      '--select argument 1 "resource_type:table" is invalid at position 14: "table" is not a dbt resource type',
    ],
    [
      ['state:modified'],
      '--select argument 1 "state:modified" is invalid at position 0: the method "state:" needs artifacts of an earlier dbt invocation',
    ],
    [
      ['version:newest'],
      '--select argument 1 "version:newest" is invalid at position 8: "newest" is not a version kind; expected one of latest, prerelease, old, none',
    ],
    [
      ['config:table'],
      '--select argument 1 "config:table" is invalid at position 0: config needs a key, e.g. config.materialized:table',
    ],
    [
      ['source:a.b.c.d'],
      '--select argument 1 "source:a.b.c.d" is invalid at position 7: a source is selected as source_name',
    ],
    [
      ['test_type:fuzzy'],
      '--select argument 1 "test_type:fuzzy" is invalid at position 10: "fuzzy" is not a test type',
    ],
    [
      ['a+b'],
      '--select argument 1 "a+b" is invalid at position 1: unexpected "+" inside the value',
    ],
    [
      ['path:/etc'],
      '--select argument 1 "path:/etc" is invalid at position 5: path: takes a path relative to the project root',
    ],
  ];
  for (const [args, message] of cases) {
    it(`rejects ${JSON.stringify(args)}`, () => {
      const err = thrown(() => importManifest(shop, { select: args }));
      expect(err.code).toBe('SELECTOR_INVALID');
      expect(err.message.startsWith(message)).toBe(true);
    });
  }

  it('names --exclude when the exclusion is wrong', () => {
    const err = thrown(() => importManifest(shop, { exclude: ['+'] }));
    expect(err.code).toBe('SELECTOR_INVALID');
    expect(err.message).toBe(
      '--exclude argument 1 "+" is invalid at position 1: expected a node name or method:value',
    );
  });
});

describe('version: compares versions the way dbt does', () => {
  // Three version groups: numbers, number-like text ("10" is above "9"), and text that is not
  // a number ("v10" sorts below "v9" as text). The recorded dbt ls cases cover dbt-shop's one
  // versioned model (v1 old, v2 latest); these cover prerelease and the ordering rules, which
  // follow dbt-core's VersionSelectorMethod and UnparsedVersion.__lt__.
  const versioned = (name: string, v: string | number, latest: string | number | null) => ({
    unique_id: `model.shop.${name}.v${v}`,
    resource_type: 'model',
    name,
    package_name: 'shop',
    fqn: ['shop', name, `v${v}`],
    version: v,
    latest_version: latest,
    config: { materialized: 'view', enabled: true },
    depends_on: { nodes: [] },
    original_file_path: `models/${name}_v${v}.sql`,
    raw_code: 'select 1',
  });
  const manifest = {
    metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json' },
    nodes: Object.fromEntries(
      [
        versioned('orders', 1, 2),
        versioned('orders', 2, 2),
        versioned('orders', 3, 2),
        versioned('accounts', '9', '9'),
        versioned('accounts', '10', '9'),
        versioned('labels', 'v9', 'v9'),
        versioned('labels', 'v10', 'v9'),
        {
          ...versioned('plain', 0, null),
          unique_id: 'model.shop.plain',
          version: null,
          fqn: ['shop', 'plain'],
        },
        {
          ...versioned('seedling', 0, null),
          unique_id: 'seed.shop.seedling',
          resource_type: 'seed',
          version: null,
        },
      ].map((n) => [n.unique_id, n]),
    ),
  };
  const parsedVersions = parseManifest(manifest);
  const versionGraph = buildDbtGraph(parsedVersions.nodes, parsedVersions.disabledIds).graph;
  const pick = (kind: string) =>
    [...selectNodes(versionGraph, null, [`version:${kind}`], []).selected]
      .map((i) => versionGraph.nodes[i]!.uniqueId)
      .sort();

  it('latest is the version equal to latest_version', () => {
    expect(pick('latest')).toEqual([
      'model.shop.accounts.v9',
      'model.shop.labels.vv9',
      'model.shop.orders.v2',
    ]);
  });

  it('prerelease and old compare as numbers when both read as numbers, else as text', () => {
    expect(pick('prerelease')).toEqual(['model.shop.accounts.v10', 'model.shop.orders.v3']);
    expect(pick('old')).toEqual(['model.shop.labels.vv10', 'model.shop.orders.v1']);
  });

  it('none is every model without a version, and never a seed', () => {
    expect(pick('none')).toEqual(['model.shop.plain']);
  });
});
