import type { DbtModelStep } from '@dvt/contracts';
import { describe, expect, it } from 'vitest';
import { buildDbtGraph, importManifest, parseManifest, selectNodes } from '../src/dbt/index.ts';
import { readFixtureManifest, readLocalFixture } from './fixtures/dbt-fixtures.ts';

type Json = Record<string, unknown>;
type Node = Json & { unique_id: string; resource_type: string; depends_on?: { nodes?: string[] } };

function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

function nodesOf(manifest: Json): Node[] {
  return Object.values(manifest.nodes as Record<string, Node>);
}

function tiny(version: number, nodes: Json[], extra: Json = {}): Json {
  return {
    metadata: { dbt_schema_version: `https://schemas.getdbt.com/dbt/manifest/v${version}.json` },
    nodes: Object.fromEntries(nodes.map((n) => [n.unique_id as string, n])),
    ...extra,
  };
}

const view = (name: string, deps: string[] = [], extra: Json = {}): Json => ({
  unique_id: `model.p.${name}`,
  resource_type: 'model',
  name,
  package_name: 'p',
  schema: 'analytics',
  config: { materialized: 'view', enabled: true },
  depends_on: { nodes: deps },
  raw_code: 'select 1',
  compiled_code: 'select 1',
  ...extra,
});

describe('things in real manifests that a parser can trip on', () => {
  it('v4–v6 raw_sql/compiled_sql and v7+ raw_code/compiled_code; v5 seeds with compiled: true and empty SQL', () => {
    const jira = readFixtureManifest('fivetran-jira-v5');
    const seeds = nodesOf(jira).filter((n) => n.resource_type === 'seed');
    expect(seeds.length).toBe(21);
    expect(seeds.every((s) => s.compiled === true && s.compiled_sql === '')).toBe(true);
    const { plan, report } = importManifest(jira);
    expect(plan.steps.some((s) => s.id.startsWith('seed.'))).toBe(false);
    expect(report.skipped.filter((s) => s.resourceType === 'seed').length).toBe(21);
    expect(nodesOf(jira).some((n) => 'language' in n)).toBe(false);

    const old = tiny(6, [
      {
        ...view('a'),
        raw_code: undefined,
        compiled_code: undefined,
        raw_sql: 'select 2',
        compiled_sql: 'select 2',
      },
    ]);
    expect(importManifest(old).plan.steps[0]!.with).toMatchObject({ compiledSql: 'select 2' });
  });

  it('refs as a list of lists (≤ v9) and as objects (v10+) both import; edges come from depends_on', () => {
    for (const [version, refs] of [
      [9, [['a'], ['p', 'a']]],
      [10, [{ name: 'a', package: null, version: null }]],
    ] as const) {
      const manifest = tiny(version, [view('a'), view('b', ['model.p.a'], { refs })]);
      const { plan } = importManifest(manifest);
      expect(plan.steps.map((s) => [s.id, s.needs])).toEqual([
        ['model.p.a', undefined],
        ['model.p.b', ['model.p.a']],
      ]);
    }
  });

  it('seeds whose depends_on has no nodes key (v8+), and macro-only dependencies', () => {
    const seed = {
      unique_id: 'seed.p.s',
      resource_type: 'seed',
      name: 's',
      package_name: 'p',
      config: { enabled: true },
      depends_on: { macros: [] },
    };
    const macroOnly = view('m', [], { depends_on: { macros: ['macro.dbt_utils.star'] } });
    const manifest = tiny(8, [seed, macroOnly, view('x', ['seed.p.s'])]);
    const { plan, report } = importManifest(manifest);
    expect(plan.steps.map((s) => [s.id, s.needs])).toEqual([
      ['model.p.m', undefined],
      // x reads the seed, which is skipped: x still runs (the seed is assumed to be loaded).
      ['model.p.x', undefined],
    ]);
    expect(report.skipped).toEqual([
      {
        uniqueId: 'seed.p.s',
        resourceType: 'seed',
        reason:
          'seed: DVT+ does not load seed files; the relation is assumed to be loaded (dbt seed)',
      },
    ]);
  });

  it('duplicate entries in depends_on.nodes (78 nodes of ad-reporting) give each need once', () => {
    const ad = readFixtureManifest('fivetran-ad-reporting-v7');
    const duplicated = nodesOf(ad).filter((n) => {
      const deps = n.depends_on?.nodes ?? [];
      return new Set(deps).size !== deps.length;
    });
    expect(duplicated.length).toBe(78);
    const { plan } = importManifest(ad);
    for (const step of plan.steps) {
      expect(new Set(step.needs ?? []).size).toBe((step.needs ?? []).length);
    }
    const dup = tiny(12, [view('a'), view('b', ['model.p.a', 'model.p.a'])]);
    expect(importManifest(dup).plan.steps[1]!.needs).toEqual(['model.p.a']);
  });

  it('disabled nodes in nodes (config.enabled false) and in disabled are ignored', () => {
    const ad = readFixtureManifest('fivetran-ad-reporting-v7');
    const disabledInNodes = nodesOf(ad)
      .filter((n) => (n.config as Json).enabled === false)
      .map((n) => n.unique_id);
    expect(disabledInNodes.length).toBe(6);
    const { plan, report } = importManifest(ad);
    const seen = new Set([
      ...plan.steps.map((s) => s.id),
      ...report.skipped.map((s) => s.uniqueId),
    ]);
    for (const id of disabledInNodes) expect(seen.has(id)).toBe(false);

    const state = readFixtureManifest('dbt-core-state-v12');
    const disabledIds = Object.keys(state.disabled as Json);
    const types = new Set(
      Object.values(state.disabled as Record<string, Node[]>).flatMap((list) =>
        list.map((n) => n.resource_type),
      ),
    );
    expect([...types].sort()).toEqual([
      'analysis',
      'exposure',
      'metric',
      'model',
      'seed',
      'snapshot',
      'source',
      'test',
    ]);
    const imported = importManifest(state, { preview: true });
    const listed = new Set([
      ...imported.plan.steps.map((s) => s.id),
      ...imported.report.skipped.map((s) => s.uniqueId),
    ]);
    for (const id of disabledIds) {
      const enabledTwin = id in (state.nodes as Json) || id in (state.sources as Json);
      if (!enabledTwin) expect(listed.has(id)).toBe(false);
    }
  });

  it('operation nodes (hooks) are skipped as operations, whatever config.materialized says', () => {
    const zendesk = readFixtureManifest('fivetran-zendesk-v6');
    const hooks = nodesOf(zendesk).filter((n) => n.resource_type === 'operation');
    expect(hooks.map((h) => (h.config as Json).materialized)).toEqual(['table']);
    const { plan, report } = importManifest(zendesk);
    expect(plan.steps.some((s) => s.id === hooks[0]!.unique_id)).toBe(false);
    expect(report.skipped.find((s) => s.uniqueId === hooks[0]!.unique_id)).toEqual({
      uniqueId: hooks[0]!.unique_id,
      resourceType: 'operation',
      reason: 'operation: on-run-start/on-run-end hooks are not executed by DVT+',
    });
  });

  it('ephemeral models (relation_name null, __dbt__cte__ in children) never appear in needs', () => {
    const jira = readFixtureManifest('fivetran-jira-v5');
    const ephemeral = new Set(
      nodesOf(jira)
        .filter((n) => (n.config as Json).materialized === 'ephemeral')
        .map((n) => n.unique_id),
    );
    expect(ephemeral.size).toBe(10);
    const { plan } = importManifest(jira);
    for (const step of plan.steps) {
      for (const need of step.needs ?? []) expect(ephemeral.has(need)).toBe(false);
    }
    const inlined = plan.steps.filter(
      (s) => s.kind === 'dbt.model' && (s.with.compiledSql ?? '').includes('__dbt__cte__'),
    );
    expect(inlined.length).toBeGreaterThan(0);
  });

  it('partial compiled code: the models without it are named, and preview turns them into null SQL', () => {
    const manifest = tiny(12, [view('a'), view('b', ['model.p.a'], { compiled_code: undefined })]);
    const err = thrown(() => importManifest(manifest));
    expect(err.code).toBe('MANIFEST_NOT_COMPILED');
    expect(err.message).toBe(
      '1 of 2 selected models have no compiled SQL (model.p.b). The manifest was written by a parse-only command or by `dbt compile --select` of other nodes: run `dbt compile` (or `dbt docs generate`) for this selection first, or ask for a preview (preview: true) to get a plan without SQL.',
    );
    expect(importManifest(manifest, { select: ['a'] }).plan.steps.map((s) => s.id)).toEqual([
      'model.p.a',
    ]);
    const { plan } = importManifest(manifest, { preview: true });
    expect(plan.steps.map((s) => s.kind === 'dbt.model' && s.with.compiledSql)).toEqual([
      'select 1',
      null,
    ]);
    expect(plan.metadata).toMatchObject({ preview: true, uncompiledCount: 1 });
  });

  it('a parse-only manifest (dbt-core-state-v12) is refused unless preview', () => {
    const state = readFixtureManifest('dbt-core-state-v12');
    const err = thrown(() => importManifest(state));
    expect(err.code).toBe('MANIFEST_NOT_COMPILED');
    expect(err.message).toContain('run `dbt compile` (or `dbt docs generate`)');
    expect(err.message).toContain('preview');
    const { plan } = importManifest(state, { preview: true });
    expect(plan.steps.every((s) => s.with.compiledSql === null)).toBe(true);
  });

  it('tests without compiled SQL in a `dbt run` manifest stay selected but are preset to SKIP', () => {
    const { presetDecisions, report } = importManifest(
      readFixtureManifest('fivetran-ad-reporting-v7'),
    );
    const skips = Object.values(presetDecisions).filter((d) => d.action === 'SKIP');
    expect(skips.length).toBe(364);
    expect(skips[0]!.reason).toBe(
      'no compiled SQL in the manifest: run `dbt compile` (or `dbt build`) so the test can run',
    );
    expect(
      report.warnings.some((w) => w.startsWith('364 selected tests have no compiled SQL')),
    ).toBe(true);
  });

  it('versioned models share a name and are keyed by unique_id', () => {
    const versioned = readFixtureManifest('jaffle-shop-versioned-v10');
    const { plan } = importManifest(versioned);
    const customers = plan.steps.filter(
      (s) => s.kind === 'dbt.model' && s.with.name === 'customers',
    );
    expect(customers.map((s) => s.id)).toEqual([
      'model.jaffle_shop.customers.v1',
      'model.jaffle_shop.customers.v2',
    ]);
    const parsed = parseManifest(versioned);
    const { graph } = buildDbtGraph(parsed.nodes, parsed.disabledIds);
    const pick = (arg: string) =>
      [...selectNodes(graph, null, [arg], ['resource_type:test']).selected]
        .map((i) => graph.nodes[i]!.uniqueId)
        .sort();
    expect(pick('customers')).toEqual([
      'model.jaffle_shop.customers.v1',
      'model.jaffle_shop.customers.v2',
    ]);
    expect(pick('customers.v1')).toEqual(['model.jaffle_shop.customers.v1']);
    expect(pick('customers_v2')).toEqual(['model.jaffle_shop.customers.v2']);
  });

  it('nodes sharing a name (cut-short test names, a seed and a source both issue_link) stay apart', () => {
    const constraints = readFixtureManifest('dbt-constraints-v9');
    const byName = new Map<string, string[]>();
    for (const n of nodesOf(constraints)) {
      if ((n.config as Json).enabled === false) continue;
      byName.set(n.name as string, [...(byName.get(n.name as string) ?? []), n.unique_id]);
    }
    const shared = [...byName.values()].filter((ids) => ids.length === 4);
    expect(shared.length).toBe(1);
    const stepIds = new Set(importManifest(constraints).plan.steps.map((s) => s.id));
    for (const id of shared[0]!) expect(stepIds.has(id)).toBe(true);

    const jira = importManifest(readFixtureManifest('fivetran-jira-v5'));
    const issueLink = jira.report.skipped.filter((s) => s.uniqueId.endsWith('.issue_link'));
    expect(issueLink.map((s) => s.resourceType).sort()).toEqual(['seed', 'source']);
  });

  it('long identifiers (309-character unique_ids) are step ids as they are', () => {
    const { plan } = importManifest(readFixtureManifest('fivetran-ad-reporting-v7'));
    const longest = Math.max(...plan.steps.map((s) => s.id.length));
    expect(longest).toBe(309);
  });

  it('non-ASCII text (Vietnamese letters in dbt-resto) passes through byte for byte', () => {
    const resto = readFixtureManifest('dbt-resto-v4');
    const { plan } = importManifest(resto);
    const nodes = resto.nodes as Record<string, { compiled_sql?: string }>;
    // eslint-disable-next-line no-control-regex
    const nonAscii = plan.steps.filter((s) => /[^\u0000-\u007f]/.test(s.with.compiledSql ?? ''));
    expect(nonAscii.length).toBeGreaterThan(0);
    for (const step of nonAscii) expect(step.with.compiledSql).toBe(nodes[step.id]!.compiled_sql);
  });

  it('checksums: sha256 kept, tests ("none") and path checksums become null', () => {
    const shop = readLocalFixture<Json>('dbt-shop/manifest.json');
    const { plan } = importManifest(shop);
    const model = plan.steps.find((s) => s.id === 'model.dbt_shop.fct_orders')!;
    expect(model.with.checksum).toMatch(/^[0-9a-f]{64}$/);
    // Generic tests carry {name: "none"}; singular tests have a file and a sha256.
    const shopNodes = shop.nodes as Record<string, { test_metadata?: unknown }>;
    const tests = plan.steps.filter((s) => s.kind === 'dbt.test');
    const generic = tests.filter((s) => shopNodes[s.id]!.test_metadata !== undefined);
    expect(generic.length).toBe(16);
    expect(generic.every((s) => s.with.checksum === null)).toBe(true);
    const singular = tests.filter((s) => shopNodes[s.id]!.test_metadata === undefined);
    expect(singular.map((s) => /^[0-9a-f]{64}$/.test(s.with.checksum ?? ''))).toEqual([true, true]);
    const pathChecksum = tiny(12, [
      view('a', [], { checksum: { name: 'path', checksum: 'seeds/big.csv' } }),
    ]);
    expect(importManifest(pathChecksum).plan.steps[0]!.with.checksum).toBeNull();
  });

  it('fields and sections added under an unchanged version label are accepted', () => {
    const hubspot = readFixtureManifest('fivetran-hubspot-v12');
    expect(Object.keys(hubspot)).toContain('functions');
    expect(importManifest(hubspot).plan.steps.length).toBe(223);
    const future = tiny(
      12,
      [
        view('a', [], {
          brand_new_field: { x: 1 },
          config: { materialized: 'view', enabled: true, future_setting: [1] },
        }),
      ],
      {
        metadata: {
          dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json',
          invocation_started_at: '2026-01-01T00:00:00Z',
          run_started_at: '2026-01-01T00:00:00Z',
          quoting: { identifier: true },
        },
        functions: {},
        groups: {},
        unit_tests: {},
        saved_queries: {},
        something_from_2027: [1, 2, 3],
      },
    );
    expect(importManifest(future).plan.steps.map((s) => s.id)).toEqual(['model.p.a']);
  });

  it('older manifests have no project_name: the plan id falls back, package:this matches nothing', () => {
    const jira = readFixtureManifest('fivetran-jira-v5');
    expect((jira.metadata as Json).project_name).toBeUndefined();
    const { plan, report } = importManifest(jira, { select: ['package:this'] });
    expect(plan.planId).toBe('dbt-project');
    expect(plan.steps).toEqual([]);
    expect(report.warnings).toContain('the selector "package:this" matches no enabled node');
  });

  it('a string where config.enabled wants a boolean ("True and True") is read as enabled, with a warning', () => {
    const ad = readFixtureManifest('fivetran-ad-reporting-v7');
    const { report } = importManifest(ad);
    expect(report.warnings).toContain(
      'source.apple_search_ads_source.apple_search_ads.search_term_report: config.enabled is "True and True", not a boolean; treated as enabled',
    );
    expect(
      report.skipped.some(
        (s) => s.uniqueId === 'source.apple_search_ads_source.apple_search_ads.search_term_report',
      ),
    ).toBe(true);
    const off = tiny(12, [
      view('a', [], { config: { materialized: 'view', enabled: 'False' } }),
      view('b'),
    ]);
    const result = importManifest(off);
    expect(result.plan.steps.map((s) => s.id)).toEqual(['model.p.b']);
    expect(result.report.warnings).toEqual([
      'model.p.a: config.enabled is "False", not a boolean; treated as disabled',
    ]);
  });

  it("null tags and installed packages' nodes", () => {
    const manifest = tiny(12, [
      view('a', [], { tags: null }),
      view('b', ['model.p.a'], { package_name: 'dep', unique_id: 'model.dep.b', tags: ['t'] }),
    ]);
    const { plan } = importManifest(manifest, { select: ['package:dep'] });
    expect(plan.steps.map((s) => [s.id, s.with.packageName])).toEqual([['model.dep.b', 'dep']]);
    expect(importManifest(manifest, { select: ['tag:t'] }).plan.steps.length).toBe(1);
  });
});

describe('options and policies', () => {
  const shop = readLocalFixture<Json>('dbt-shop/manifest.json');

  it('simulate, target, planId, planVersion and concurrency reach the plan', () => {
    const { plan } = importManifest(shop, {
      simulate: true,
      target: 'analytics_pg',
      planVersion: '7',
      concurrency: 2,
      select: ['stg_orders'],
    });
    expect(plan.planId).toBe('dbt-dbt_shop');
    expect(plan.planVersion).toBe('7');
    expect(plan.concurrency).toBe(2);
    expect(
      plan.steps.every((s) => s.with.simulate === true && s.with.target === 'analytics_pg'),
    ).toBe(true);
    expect(plan.metadata).toMatchObject({
      simulate: true,
      select: ['stg_orders'],
      projectName: 'dbt_shop',
      manifestSchemaVersion: 'v12',
    });
    const defaults = importManifest(shop, { select: ['stg_orders'] }).plan;
    expect(
      defaults.steps.every((s) => s.with.target === 'warehouse' && s.with.simulate === undefined),
    ).toBe(true);
    const invocationId = String((shop.metadata as Json).invocation_id);
    expect(defaults.planVersion).toMatch(new RegExp(`^${invocationId}-[0-9a-f]{12}$`));
  });

  it('versions a plan by the manifest invocation and the options that shape it', () => {
    const invocationId = String((shop.metadata as Json).invocation_id);
    const whole = importManifest(shop, {}).plan.planVersion;
    const some = importManifest(shop, { select: ['stg_orders'] }).plan.planVersion;
    const again = importManifest(shop, { select: ['stg_orders'] }).plan.planVersion;
    const other = importManifest(shop, { select: ['+fct_orders'] }).plan.planVersion;
    const simulated = importManifest(shop, { simulate: true }).plan.planVersion;
    expect(whole).toBe(invocationId);
    expect(some).toBe(again);
    expect(new Set([whole, some, other, simulated]).size).toBe(4);
    expect(some.length).toBeLessThanOrEqual(64);
  });

  it('policy reject for snapshots or seeds refuses the selection naming the resources', () => {
    const err = thrown(() => importManifest(shop, { policies: { snapshots: 'reject' } }));
    expect(err.code).toBe('MANIFEST_UNSUPPORTED_RESOURCE');
    expect(err.message).toBe(
      "The selection contains resources the import policy rejects: 1 snapshot(s) with policy snapshots: 'reject' (snapshot.dbt_shop.customers_snapshot). Exclude them from the selection (e.g. --exclude resource_type:snapshot) or set policies.snapshots to 'skip'.",
    );
    // Excluding them makes the same policy pass.
    const ok = importManifest(shop, {
      policies: { snapshots: 'reject' },
      exclude: ['resource_type:snapshot'],
    });
    expect(ok.report.skipped.some((s) => s.resourceType === 'snapshot')).toBe(false);
    expect(thrown(() => importManifest(shop, { policies: { seeds: 'reject' } })).message).toContain(
      "3 seed(s) with policy seeds: 'reject'",
    );
  });

  it('an unknown materialization is rejected by default, skipped by policy', () => {
    const manifest = tiny(12, [
      view('a', [], { config: { materialized: 'dynamic_table', enabled: true } }),
      view('b', ['model.p.a']),
    ]);
    const err = thrown(() => importManifest(manifest));
    expect(err.code).toBe('MANIFEST_UNSUPPORTED_RESOURCE');
    expect(err.message).toContain('model.p.a (materialized: dynamic_table)');
    const { plan, report } = importManifest(manifest, {
      policies: { unsupportedMaterializations: 'skip' },
    });
    expect(plan.steps.map((s) => [s.id, s.needs])).toEqual([['model.p.b', undefined]]);
    expect(report.skipped[0]!.reason).toContain('materialization "dynamic_table" is not supported');
  });

  it('materialized_view becomes a table with a note', () => {
    const { plan, presetDecisions } = importManifest(readFixtureManifest('dbt-resto-v4'));
    const mv = plan.steps.filter(
      (s): s is DbtModelStep =>
        s.kind === 'dbt.model' &&
        s.with.materializationNote?.startsWith('materialized_view') === true,
    );
    expect(mv.map((s) => [s.id, s.with.materialization])).toEqual([
      ['model.integration_tests.verify_materialized_view', 'table'],
    ]);
    expect(presetDecisions[mv[0]!.id]!.reason).toBe(
      'materialized_view built as a table (no materialized-view support in DVT+)',
    );
  });
});

describe('MANIFEST_INVALID says what was found', () => {
  const cases: [string, unknown, string][] = [
    ['not JSON', '{"metadata": ', 'The manifest is not valid JSON ('],
    [
      'an array',
      [],
      "The manifest must be a JSON object (dbt's target/manifest.json), got an array.",
    ],
    [
      'no schema version',
      { metadata: {}, nodes: {} },
      'The manifest cannot be read: metadata.dbt_schema_version: metadata.dbt_schema_version is missing; is this a dbt manifest.json?',
    ],
    [
      'v3',
      {
        metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v3.json' },
        nodes: {},
      },
      'The manifest\'s schema version "https://schemas.getdbt.com/dbt/manifest/v3.json" is not supported; DVT+ reads dbt manifests v4 to v12',
    ],
    [
      'v13',
      {
        metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v13.json' },
        nodes: {},
      },
      'is not supported; DVT+ reads dbt manifests v4 to v12',
    ],
    [
      'a label that is no version',
      { metadata: { dbt_schema_version: 'latest' }, nodes: {} },
      'The manifest\'s schema version "latest" is not supported',
    ],
    [
      'no nodes',
      { metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json' } },
      'The manifest cannot be read: nodes:',
    ],
    [
      'a node without resource_type',
      tiny(12, [{ unique_id: 'model.p.a' }]),
      'The manifest cannot be read: nodes["model.p.a"].resource_type:',
    ],
    [
      'a key that is not its unique_id',
      {
        metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json' },
        nodes: { 'model.p.x': view('a') },
      },
      'nodes["model.p.x"].unique_id: is "model.p.a", expected the key it is stored under',
    ],
  ];
  for (const [what, input, message] of cases) {
    it(`rejects ${what}`, () => {
      const err = thrown(() => importManifest(input));
      expect(err.code).toBe('MANIFEST_INVALID');
      expect(err.message).toContain(message);
    });
  }

  it('a unique_id that cannot be a step id is named', () => {
    const err = thrown(() =>
      importManifest(tiny(12, [view('a b', [], { unique_id: 'model.p.a b' })])),
    );
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.message).toBe(
      '1 unique_id(s) cannot be used as step ids (at most 512 characters of [A-Za-z0-9_.:@/-]): "model.p.a b".',
    );
  });
});
