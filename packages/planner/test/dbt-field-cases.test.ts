import { describe, expect, it } from 'vitest';
import { buildDbtGraph, importManifest, parseManifest, selectNodes } from '../src/dbt/index.ts';
import { levelsOf, readFixtureManifest } from './fixtures/dbt-fixtures.ts';

const V12 = 'https://schemas.getdbt.com/dbt/manifest/v12.json';

/** The ids `selectNodes` picks, sorted. */
function selectIds(manifest: unknown, select?: string[], exclude?: string[]): string[] {
  const parsed = parseManifest(manifest);
  const { graph } = buildDbtGraph(parsed.nodes, parsed.disabledIds);
  const { selected } = selectNodes(graph, parsed.projectName, select, exclude);
  return [...selected].map((i) => graph.nodes[i]!.uniqueId).sort();
}

function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('B08: a dbt test with several parents runs once, after all of them', () => {
  // The input exactly as field-cases.md gives it (it carries no compiled code: a preview).
  const b08 = {
    metadata: { dbt_schema_version: V12 },
    nodes: {
      'model.shop.a': {
        unique_id: 'model.shop.a',
        resource_type: 'model',
        name: 'a',
        package_name: 'shop',
        config: { materialized: 'view', enabled: true },
        depends_on: { nodes: [] },
        original_file_path: 'models/a.sql',
      },
      'model.shop.b': {
        unique_id: 'model.shop.b',
        resource_type: 'model',
        name: 'b',
        package_name: 'shop',
        config: { materialized: 'table', enabled: true },
        depends_on: { nodes: ['model.shop.a'] },
        original_file_path: 'models/b.sql',
      },
      'test.shop.assert_a_b': {
        unique_id: 'test.shop.assert_a_b',
        resource_type: 'test',
        name: 'assert_a_b',
        package_name: 'shop',
        config: { severity: 'ERROR', enabled: true },
        depends_on: { nodes: ['model.shop.a', 'model.shop.b'] },
        original_file_path: 'tests/assert_a_b.sql',
      },
    },
    sources: {},
    exposures: {},
    metrics: {},
    disabled: {},
    parent_map: {
      'model.shop.a': [],
      'model.shop.b': ['model.shop.a'],
      'test.shop.assert_a_b': ['model.shop.a', 'model.shop.b'],
    },
    child_map: {
      'model.shop.a': ['model.shop.b', 'test.shop.assert_a_b'],
      'model.shop.b': ['test.shop.assert_a_b'],
      'test.shop.assert_a_b': [],
    },
  };

  it('imports one dbt.test step needing both parents, ordered [a], [b], [assert_a_b]', () => {
    const { plan, presetDecisions } = importManifest(b08, { preview: true });
    const tests = plan.steps.filter((s) => s.kind === 'dbt.test');
    expect(tests.map((s) => s.id)).toEqual(['test.shop.assert_a_b']);
    expect(tests[0]!.needs).toEqual(['model.shop.a', 'model.shop.b']);
    expect(tests[0]!.with).toMatchObject({
      severity: 'error',
      attachedNodes: ['model.shop.a', 'model.shop.b'],
      compiledSql: null,
    });
    expect(levelsOf(plan.steps)).toEqual([
      ['model.shop.a'],
      ['model.shop.b'],
      ['test.shop.assert_a_b'],
    ]);
    expect(presetDecisions['test.shop.assert_a_b']).toEqual({
      action: 'RUN',
      reason: 'selected test',
    });
  });

  it('without compiled code and without preview, the import is refused', () => {
    const err = thrown(() => importManifest(b08));
    expect(err.code).toBe('MANIFEST_NOT_COMPILED');
    expect(err.message).toContain('2 of 2 selected models have no compiled SQL');
  });

  it('selecting a alone keeps the test (dbt eager selection) but presets SKIP naming b', () => {
    expect(selectIds(b08, ['a'])).toEqual(['model.shop.a', 'test.shop.assert_a_b']);
    const { plan, presetDecisions } = importManifest(b08, { select: ['a'], preview: true });
    expect(plan.steps.map((s) => [s.id, s.needs ?? []])).toEqual([
      ['model.shop.a', []],
      ['test.shop.assert_a_b', ['model.shop.a']],
    ]);
    expect(presetDecisions['test.shop.assert_a_b']!.action).toBe('SKIP');
    expect(presetDecisions['test.shop.assert_a_b']!.reason).toBe(
      'reads model.shop.b, which is not selected: the test would run against a relation this plan does not build (select it too to run the test)',
    );
  });

  it('a generic relationships test on two models is ordered the same way', () => {
    const withRelationships = structuredClone(b08) as typeof b08 & {
      nodes: Record<string, unknown>;
    };
    withRelationships.nodes['test.shop.relationships_b_a_id.1a2b3c'] = {
      unique_id: 'test.shop.relationships_b_a_id.1a2b3c',
      resource_type: 'test',
      name: 'relationships_b_a_id',
      package_name: 'shop',
      config: { severity: 'warn', enabled: true },
      test_metadata: { name: 'relationships', kwargs: { to: "ref('a')", field: 'id' } },
      depends_on: { nodes: ['model.shop.a', 'model.shop.b', 'model.shop.a'] },
      original_file_path: 'models/schema.yml',
    };
    const { plan } = importManifest(withRelationships, { preview: true });
    const rel = plan.steps.find((s) => s.id === 'test.shop.relationships_b_a_id.1a2b3c')!;
    expect(rel.needs).toEqual(['model.shop.a', 'model.shop.b']);
    expect(rel.kind === 'dbt.test' && rel.with.severity).toBe('warn');
    expect(levelsOf(plan.steps)).toEqual([
      ['model.shop.a'],
      ['model.shop.b'],
      ['test.shop.assert_a_b', 'test.shop.relationships_b_a_id.1a2b3c'],
    ]);
  });
});

function model(name: string, needs: string[], extra: Record<string, unknown> = {}) {
  return {
    unique_id: `model.shop.${name}`,
    resource_type: 'model',
    name,
    package_name: 'shop',
    fqn: ['shop', name],
    schema: 's',
    database: 'db',
    config: { materialized: 'view', enabled: true, ...(extra.config as object) },
    tags: extra.tags ?? [],
    depends_on: { nodes: needs, macros: [] },
    original_file_path: extra.path ?? `models/${name}.sql`,
    raw_code: `select 1 as ${name}`,
    compiled_code: extra.compiled ?? `select 1 as ${name}`,
    relation_name: extra.relation ?? `"db"."s"."${name}"`,
  };
}

function manifestOf(nodes: ReturnType<typeof model>[], extra: Record<string, unknown> = {}) {
  return {
    metadata: { dbt_schema_version: V12, project_name: 'shop' },
    nodes: Object.fromEntries(nodes.map((n) => [n.unique_id, n])),
    sources: {},
    exposures: {},
    metrics: {},
    disabled: {},
    ...extra,
  };
}

describe('B09: --exclude graph selectors resolve against the whole manifest', () => {
  const b09 = manifestOf([
    model('root', []),
    model('child', ['model.shop.root']),
    model('side', ['model.shop.root'], { tags: ['x'] }),
  ]);

  it('select +child, exclude +tag:x gives exactly {child}; root and side reported as excluded', () => {
    expect(selectIds(b09, ['+child'], ['+tag:x'])).toEqual(['model.shop.child']);
    const { plan, report } = importManifest(b09, { select: ['+child'], exclude: ['+tag:x'] });
    expect(plan.steps.map((s) => [s.kind, s.id])).toEqual([['dbt.model', 'model.shop.child']]);
    expect(plan.steps[0]!.needs).toBeUndefined();
    expect(report.excluded).toEqual([
      { uniqueId: 'model.shop.root', by: '+tag:x' },
      { uniqueId: 'model.shop.side', by: '+tag:x' },
    ]);
  });

  it('control: excluding tag:x without the graph operator gives {root, child}', () => {
    expect(selectIds(b09, ['+child'], ['tag:x'])).toEqual(['model.shop.child', 'model.shop.root']);
    const { plan, report } = importManifest(b09, { select: ['+child'], exclude: ['tag:x'] });
    expect(plan.steps.map((s) => [s.id, s.needs])).toEqual([
      ['model.shop.child', ['model.shop.root']],
      ['model.shop.root', undefined],
    ]);
    expect(report.excluded).toEqual([{ uniqueId: 'model.shop.side', by: 'tag:x' }]);
  });
});

describe('B10: ephemeral models get no step of their own, and dependencies pass through', () => {
  const b10 = manifestOf([
    model('stg', []),
    model('eph', ['model.shop.stg'], { config: { materialized: 'ephemeral' }, relation: null }),
    model('mart', ['model.shop.eph'], {
      config: { materialized: 'table' },
      compiled:
        'with __dbt__cte__eph as (\nselect * from "db"."s"."stg"\n) select * from __dbt__cte__eph',
    }),
  ]);
  (b10.nodes['model.shop.eph'] as { relation_name: unknown }).relation_name = null;

  it('imports: eph is reported as skipped, mart needs stg through it', () => {
    const { plan, report, presetDecisions } = importManifest(b10);
    expect(plan.steps.map((s) => [s.id, s.needs])).toEqual([
      ['model.shop.mart', ['model.shop.stg']],
      ['model.shop.stg', undefined],
    ]);
    expect(report.skipped).toEqual([
      {
        uniqueId: 'model.shop.eph',
        resourceType: 'model',
        reason: 'ephemeral: compiled into dependents',
      },
    ]);
    expect(presetDecisions['model.shop.eph']).toBeUndefined();
    const mart = plan.steps.find((s) => s.id === 'model.shop.mart')!;
    expect(mart.with).toMatchObject({ materialization: 'table', schema: 's', identifier: 'mart' });
    expect(mart.kind === 'dbt.model' && mart.with.compiledSql).toContain('__dbt__cte__eph');
  });

  it('+mart selects {stg, eph, mart}, with eph still skipped', () => {
    expect(selectIds(b10, ['+mart'])).toEqual([
      'model.shop.eph',
      'model.shop.mart',
      'model.shop.stg',
    ]);
    const { plan, report } = importManifest(b10, { select: ['+mart'] });
    expect(plan.steps.map((s) => s.id)).toEqual(['model.shop.mart', 'model.shop.stg']);
    expect(report.skipped.map((s) => s.uniqueId)).toEqual(['model.shop.eph']);
  });

  it('a chain of ephemeral models passes through transitively, and selecting mart alone needs nothing', () => {
    const chain = manifestOf([
      model('stg', []),
      model('e1', ['model.shop.stg'], { config: { materialized: 'ephemeral' } }),
      model('e2', ['model.shop.e1', 'model.shop.stg'], { config: { materialized: 'ephemeral' } }),
      model('mart', ['model.shop.e2'], { config: { materialized: 'table' } }),
    ]);
    expect(importManifest(chain).plan.steps.map((s) => [s.id, s.needs])).toEqual([
      ['model.shop.mart', ['model.shop.stg']],
      ['model.shop.stg', undefined],
    ]);
    expect(
      importManifest(chain, { select: ['mart'] }).plan.steps.map((s) => [s.id, s.needs]),
    ).toEqual([['model.shop.mart', undefined]]);
  });
});

describe('B11: graph maps that disagree with nodes', () => {
  const orders = model('orders', [], { tags: ['finance'] });
  const lonely = model('lonely', []);
  const base = {
    exposures: {
      'exposure.shop.dash': {
        unique_id: 'exposure.shop.dash',
        resource_type: 'exposure',
        name: 'dash',
        package_name: 'shop',
        fqn: ['shop', 'dash'],
        tags: [],
        depends_on: { nodes: ['model.shop.orders'] },
        original_file_path: 'models/exposures.yml',
      },
    },
    semantic_models: {
      'semantic_model.shop.orders_sm': {
        unique_id: 'semantic_model.shop.orders_sm',
        resource_type: 'semantic_model',
        name: 'orders_sm',
        package_name: 'shop',
        fqn: ['shop', 'orders_sm'],
        tags: null,
        config: { enabled: true },
        depends_on: { nodes: ['model.shop.orders'] },
        original_file_path: 'models/semantic.yml',
      },
    },
    saved_queries: {
      'saved_query.shop.weekly_orders': {
        unique_id: 'saved_query.shop.weekly_orders',
        resource_type: 'saved_query',
        name: 'weekly_orders',
        package_name: 'shop',
        fqn: ['shop', 'weekly_orders'],
        tags: null,
        config: { enabled: true },
        depends_on: { nodes: ['semantic_model.shop.orders_sm'] },
        original_file_path: 'models/semantic.yml',
      },
    },
    unit_tests: {
      'unit_test.shop.orders.test_orders_shape': {
        unique_id: 'unit_test.shop.orders.test_orders_shape',
        resource_type: 'unit_test',
        name: 'test_orders_shape',
        package_name: 'shop',
        fqn: ['shop', 'orders', 'test_orders_shape'],
        config: { enabled: true },
        depends_on: { nodes: ['model.shop.orders'] },
        original_file_path: 'models/unit.yml',
      },
    },
    parent_map: {
      'model.shop.orders': [],
      'exposure.shop.dash': ['model.shop.orders'],
      'semantic_model.shop.orders_sm': ['model.shop.orders'],
    },
  };
  const variants = {
    'child_map lists ids outside nodes under orders': {
      'model.shop.orders': ['exposure.shop.dash', 'semantic_model.shop.orders_sm'],
    },
    'child_map has no key for the leaf orders': {
      'exposure.shop.dash': [],
      'semantic_model.shop.orders_sm': [],
    },
  };

  for (const [variant, childMap] of Object.entries(variants)) {
    it(`${variant}: imports with edges from depends_on.nodes, non-steps skipped by type`, () => {
      const b11 = manifestOf([orders, lonely], { ...base, child_map: childMap });
      const { plan, report } = importManifest(b11);
      expect(plan.steps.map((s) => s.id)).toEqual(['model.shop.lonely', 'model.shop.orders']);
      expect(report.skipped).toEqual([
        {
          uniqueId: 'exposure.shop.dash',
          resourceType: 'exposure',
          reason: 'exposure: documents a downstream use, nothing to run',
        },
        {
          uniqueId: 'saved_query.shop.weekly_orders',
          resourceType: 'saved_query',
          reason: 'saved_query: a semantic-layer query, not executed by DVT+',
        },
        {
          uniqueId: 'semantic_model.shop.orders_sm',
          resourceType: 'semantic_model',
          reason: 'semantic_model: a semantic-layer definition, nothing to run',
        },
        {
          uniqueId: 'unit_test.shop.orders.test_orders_shape',
          resourceType: 'unit_test',
          reason: 'unit_test: dbt unit tests are not run by DVT+',
        },
      ]);

      // tag:finance meets a semantic model and saved query with `tags: null` and copes.
      expect(selectIds(b11, ['tag:finance'])).toEqual([
        'model.shop.orders',
        'unit_test.shop.orders.test_orders_shape',
      ]);
      expect(selectIds(b11, ['lonely'])).toEqual(['model.shop.lonely']);
      expect(selectIds(b11, ['orders+'])).toEqual([
        'exposure.shop.dash',
        'model.shop.orders',
        'saved_query.shop.weekly_orders',
        'semantic_model.shop.orders_sm',
        'unit_test.shop.orders.test_orders_shape',
      ]);
      expect(importManifest(b11, { select: ['orders+'] }).plan.steps.map((s) => s.id)).toEqual([
        'model.shop.orders',
      ]);
    });
  }
});

describe('Windows paths (astronomer-cosmos PR #1601)', () => {
  const windows = manifestOf([
    model('stg', [], { path: 'models\\staging\\stg.sql' }),
    model('stg_mixed', [], { path: 'models/staging\\stg_mixed.sql' }),
    model('mart', ['model.shop.stg'], { path: 'models\\marts\\mart.sql' }),
  ]);

  it('path:models/staging matches models\\staging\\stg.sql and mixed separators', () => {
    const staging = ['model.shop.stg', 'model.shop.stg_mixed'];
    expect(selectIds(windows, ['path:models/staging'])).toEqual(staging);
    expect(selectIds(windows, ['path:models\\staging'])).toEqual(staging);
    expect(selectIds(windows, ['models/staging'])).toEqual(staging);
    expect(selectIds(windows, ['path:models/staging/stg.sql'])).toEqual(['model.shop.stg']);
    expect(selectIds(windows, ['path:models/*/mart.sql'])).toEqual(['model.shop.mart']);
    expect(selectIds(windows, ['stg.sql'])).toEqual(['model.shop.stg']);
  });

  it('the plan carries forward-slash paths', () => {
    const { plan } = importManifest(windows, { select: ['path:models/staging'] });
    expect(plan.steps.map((s) => s.kind === 'dbt.model' && s.with.originalFilePath)).toEqual([
      'models/staging/stg.sql',
      'models/staging/stg_mixed.sql',
    ]);
  });

  it('real manifests written on Windows (dbt-resto, backslash paths) select by folder', () => {
    const resto = readFixtureManifest('dbt-resto-v4');
    const ids = selectIds(resto, ['path:models/vietlot'], ['resource_type:test']);
    expect(ids.length).toBe(10);
    expect(ids.every((id) => id.startsWith('model.'))).toBe(true);
    expect(selectIds(resto, ['path:models/vietlot']).length).toBe(157);
  });
});

describe('chains and cycles through ephemeral models', () => {
  const ephemeral = (name: string, needs: string[]) =>
    model(name, needs, { config: { materialized: 'ephemeral' } });

  it('a chain of 10,000 ephemeral models passes its root through to the model on top', () => {
    const chain = Array.from({ length: 10_000 }, (_, i) =>
      ephemeral(`e${i}`, i === 0 ? ['model.shop.root'] : [`model.shop.e${i - 1}`]),
    );
    const manifest = manifestOf([model('root', []), ...chain, model('top', ['model.shop.e9999'])]);
    const { plan } = importManifest(manifest);
    expect(plan.steps.map((s) => [s.id, s.needs])).toEqual([
      ['model.shop.root', undefined],
      ['model.shop.top', ['model.shop.root']],
    ]);
  });

  it('a cycle between ephemeral models is MANIFEST_INVALID naming the loop', () => {
    const manifest = manifestOf([
      ephemeral('a', ['model.shop.b']),
      ephemeral('b', ['model.shop.a']),
      model('c', ['model.shop.a']),
    ]);
    let error: { code?: string; message?: string } = {};
    try {
      importManifest(manifest);
    } catch (e) {
      error = e as typeof error;
    }
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toContain(
      'cycle through models that are no steps of their own (ephemeral): model.shop.a -> model.shop.b -> model.shop.a',
    );
  });
});

describe('bad input to the import says what is wrong', () => {
  const codeAndMessage = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return `${(e as { code?: string }).code}: ${(e as Error).message}`;
    }
    throw new Error('expected an error');
  };

  it('an unsupported materialization suggests excluding that materialization, not every model', () => {
    const manifest = manifestOf([model('a', [], { config: { materialized: 'snapshotish' } })]);
    expect(codeAndMessage(() => importManifest(manifest))).toContain(
      "(e.g. --exclude config.materialized:snapshotish) or set policies.unsupportedMaterializations to 'skip'",
    );
  });

  it('a materialization that is no string is unsupported, not a view', () => {
    const manifest = manifestOf([model('a', [], { config: { materialized: 5 } })]);
    expect(codeAndMessage(() => importManifest(manifest))).toContain(
      'MANIFEST_UNSUPPORTED_RESOURCE: The selection contains resources the import policy rejects: 1 model with an unsupported materialization(s)',
    );
    expect(codeAndMessage(() => importManifest(manifest))).toContain('(materialized: 5)');
  });

  it('a misspelt policy key or value is refused, not read as the default', () => {
    const manifest = manifestOf([model('a', [])]);
    expect(
      codeAndMessage(() => importManifest(manifest, { policies: { seed: 'reject' } as never })),
    ).toMatch(
      /^VALIDATION_FAILED: policies\.seed is not an import policy; the policies are seeds, /,
    );
    expect(
      codeAndMessage(() => importManifest(manifest, { policies: { seeds: 'explode' } as never })),
    ).toBe(`VALIDATION_FAILED: policies.seeds is "explode"; a policy is 'skip' or 'reject'`);
  });

  it('null is named as null, and a byte-order mark before the JSON is accepted', () => {
    expect(codeAndMessage(() => importManifest(null))).toBe(
      "MANIFEST_INVALID: The manifest must be a JSON object (dbt's target/manifest.json), got null.",
    );
    const text = `\uFEFF${JSON.stringify(manifestOf([model('a', [])]))}`;
    expect(importManifest(text).plan.steps.map((s) => s.id)).toEqual(['model.shop.a']);
    expect(importManifest(Buffer.from(text)).plan.steps.map((s) => s.id)).toEqual(['model.shop.a']);
  });
});
