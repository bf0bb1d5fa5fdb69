/**
 * dbt manifest → `dvt.plan/v1`.
 *
 * What becomes a step, and what does not:
 * - Models materialized as `view` or `table` → `dbt.model`. `incremental` → a table rebuilt in
 *   full (said in the decision reason and `materializationNote`); `materialized_view` → a
 *   table too, with a note. `ephemeral` models get no step: dbt inlines their SQL into the
 *   models that use them, so they are reported as skipped and their dependents' `needs` pass
 *   through them to the nearest real steps. Other materializations are rejected, or skipped
 *   with `policies.unsupportedMaterializations: 'skip'`.
 * - Tests (generic and singular) → `dbt.test`, needing every selected model they read, so a
 *   test with several parents runs once, after all of them. Selection follows dbt's default
 *   eager indirect selection (a test comes along when any parent is selected, exactly the set
 *   `dbt ls` prints); a test that reads a model this plan does not build is kept as a step but
 *   preset to SKIP with a reason naming that model, so it never runs before, or without, it.
 * - Seeds, snapshots, sources, analyses, operations (hooks), exposures, metrics, semantic
 *   models, saved queries, unit tests and functions are not steps: each selected one is listed
 *   in `report.skipped` with a reason naming its resource type, or, when its policy says
 *   `reject`, the import fails with MANIFEST_UNSUPPORTED_RESOURCE. A model that depends on a
 *   skipped seed or snapshot still runs: the relation is assumed to be loaded already.
 */
import {
  DEFAULT_DBT_TARGET,
  type DbtModelStep,
  type DbtTestStep,
  PLAN_ID_PATTERN,
  PLAN_SCHEMA_VERSION,
  type PlanV1,
  STEP_ID_PATTERN,
  type StepDecision,
} from '@dvt/contracts';
import { createHash } from 'node:crypto';
import { ProblemError } from '@dvt/service-kit';
import { buildDbtGraph, parentsOf, type DbtGraph } from './graph.ts';
import { type DbtNode, parseManifest } from './manifest.ts';
import { type IndirectSelection, selectNodes } from './selector.ts';

/** What to do with a selected resource DVT+ does not execute. */
export type ResourcePolicy = 'skip' | 'reject';

export interface DbtImportPolicies {
  seeds?: ResourcePolicy;
  snapshots?: ResourcePolicy;
  sources?: ResourcePolicy;
  analyses?: ResourcePolicy;
  operations?: ResourcePolicy;
  exposures?: ResourcePolicy;
  metrics?: ResourcePolicy;
  semanticModels?: ResourcePolicy;
  savedQueries?: ResourcePolicy;
  unitTests?: ResourcePolicy;
  functions?: ResourcePolicy;
  /** Models with a materialization other than view, table, incremental, materialized_view,
   * ephemeral. Default `reject`: skipping one would leave its dependents reading stale data. */
  unsupportedMaterializations?: ResourcePolicy;
}

export interface DbtImportOptions {
  /** dbt `--select` arguments; each may hold several space-separated selectors. Default: all. */
  select?: string[];
  /** dbt `--exclude` arguments, evaluated against the whole graph, subtracted afterwards. */
  exclude?: string[];
  /** dbt `--indirect-selection`: which tests come with the selected nodes. Default `eager`. */
  indirectSelection?: IndirectSelection;
  /** Plan-only preview: models and tests without compiled SQL get `compiledSql: null`
   * instead of failing with MANIFEST_NOT_COMPILED. */
  preview?: boolean;
  /** Sets `with.simulate` on every dbt step: the engine runs them as noops. */
  simulate?: boolean;
  /** Default: `dbt-<project name>`. */
  planId?: string;
  /** Default: the manifest's invocation_id (or generated_at). */
  planVersion?: string;
  /** The engine's named target for every dbt step. Default `warehouse`. */
  target?: string;
  /** Plan concurrency. Default 4. */
  concurrency?: number;
  /** Per resource type: skip (default) or reject. */
  policies?: DbtImportPolicies;
}

export interface DbtImportReport {
  skipped: { uniqueId: string; resourceType: string; reason: string }[];
  excluded: { uniqueId: string; by: string }[];
  warnings: string[];
}

/** A plan whose steps are all dbt steps (a `PlanV1` with a narrower step type). */
export type DbtPlan = Omit<PlanV1, 'steps'> & { steps: (DbtModelStep | DbtTestStep)[] };

export interface DbtImportResult {
  plan: DbtPlan;
  /** A decision for every step: RUN with what was decided on the way, or SKIP with why. */
  presetDecisions: Record<string, StepDecision>;
  report: DbtImportReport;
}

type PolicyKey = keyof DbtImportPolicies;

/**
 * The manifest's invocation id names the plan built from all of it with default options. Any
 * other selection or option gives other steps, so it gets a version of its own — the base plus
 * a short hash of those options — instead of colliding with the first plan stored under the
 * invocation id (plan versions are immutable).
 */
function defaultPlanVersion(base: string, options: DbtImportOptions): string {
  const shaping = {
    select: options.select ?? [],
    exclude: options.exclude ?? [],
    preview: options.preview ?? false,
    simulate: options.simulate ?? false,
    target: options.target ?? 'warehouse',
    concurrency: options.concurrency ?? 4,
    policies: options.policies ?? {},
    // Only when set, so the versions of plans imported before the option existed stay put.
    ...(options.indirectSelection && options.indirectSelection !== 'eager'
      ? { indirectSelection: options.indirectSelection }
      : {}),
  };
  const isDefault =
    shaping.select.length === 0 &&
    shaping.exclude.length === 0 &&
    !shaping.preview &&
    !shaping.simulate &&
    shaping.target === 'warehouse' &&
    shaping.concurrency === 4 &&
    Object.keys(shaping.policies).length === 0 &&
    shaping.indirectSelection === undefined;
  if (isDefault) return base.slice(0, 64);
  const hash = createHash('sha256').update(JSON.stringify(shaping)).digest('hex').slice(0, 12);
  return `${base.slice(0, 51)}-${hash}`;
}

/** Resource types that never become steps: the policy that governs them and why. */
const nonExecutable: Record<string, { policy: PolicyKey; reason: string }> = {
  seed: {
    policy: 'seeds',
    reason: 'seed: DVT+ does not load seed files; the relation is assumed to be loaded (dbt seed)',
  },
  snapshot: {
    policy: 'snapshots',
    reason:
      'snapshot: DVT+ does not run snapshots; the relation is assumed to exist (dbt snapshot)',
  },
  source: { policy: 'sources', reason: 'source: an external table, nothing to run' },
  analysis: { policy: 'analyses', reason: 'analysis: compiled only, dbt never executes analyses' },
  operation: {
    policy: 'operations',
    reason: 'operation: on-run-start/on-run-end hooks are not executed by DVT+',
  },
  sql_operation: { policy: 'operations', reason: 'sql_operation: not executed by DVT+' },
  rpc: { policy: 'operations', reason: 'rpc: not executed by DVT+' },
  exposure: { policy: 'exposures', reason: 'exposure: documents a downstream use, nothing to run' },
  metric: { policy: 'metrics', reason: 'metric: a semantic-layer definition, nothing to run' },
  semantic_model: {
    policy: 'semanticModels',
    reason: 'semantic_model: a semantic-layer definition, nothing to run',
  },
  saved_query: {
    policy: 'savedQueries',
    reason: 'saved_query: a semantic-layer query, not executed by DVT+',
  },
  unit_test: { policy: 'unitTests', reason: 'unit_test: dbt unit tests are not run by DVT+' },
  function: {
    policy: 'functions',
    reason: 'function: user-defined functions are not created by DVT+',
  },
};

const policyNames: Record<PolicyKey, string> = {
  seeds: 'seed',
  snapshots: 'snapshot',
  sources: 'source',
  analyses: 'analysis',
  operations: 'operation',
  exposures: 'exposure',
  metrics: 'metric',
  semanticModels: 'semantic model',
  savedQueries: 'saved query',
  unitTests: 'unit test',
  functions: 'function',
  unsupportedMaterializations: 'model with an unsupported materialization',
};

type ModelShape =
  | { kind: 'step'; materialization: 'view' | 'table'; note?: string }
  | { kind: 'ephemeral' }
  | { kind: 'unsupported'; materialized: string };

function modelShape(node: DbtNode): ModelShape {
  const materialized = node.materialized ?? 'view';
  switch (materialized) {
    case 'view':
    case 'table':
      return { kind: 'step', materialization: materialized };
    case 'incremental':
      return {
        kind: 'step',
        materialization: 'table',
        note: 'incremental treated as full rebuild',
      };
    case 'materialized_view':
      return {
        kind: 'step',
        materialization: 'table',
        note: 'materialized_view built as a table (no materialized-view support in DVT+)',
      };
    case 'ephemeral':
      return { kind: 'ephemeral' };
    default:
      return { kind: 'unsupported', materialized };
  }
}

function listIds(ids: readonly string[], max = 10): string {
  const shown = ids.slice(0, max).join(', ');
  return ids.length > max ? `${shown} and ${ids.length - max} more` : shown;
}

function defaultPlanId(projectName: string | null): string {
  const candidate = `dbt-${projectName ?? 'project'}`
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 200);
  return PLAN_ID_PATTERN.test(candidate) ? candidate : 'dbt-project';
}

function normaliseSeverity(node: DbtNode, warnings: string[]): 'error' | 'warn' {
  const raw = node.config.severity;
  if (raw === undefined || raw === null) return 'error';
  const value = String(raw).toLowerCase();
  if (value === 'warn' || value === 'error') return value;
  warnings.push(
    `${node.uniqueId}: config.severity ${JSON.stringify(raw)} is not error or warn; treated as error`,
  );
  return 'error';
}

/** Policies come from callers: a misspelt key or value must not silently mean the default. */
function checkPolicies(policies: DbtImportPolicies | undefined): void {
  if (policies === undefined) return;
  const known = Object.keys(policyNames);
  for (const [key, value] of Object.entries(policies)) {
    if (!known.includes(key)) {
      throw new ProblemError(
        'VALIDATION_FAILED',
        `policies.${key} is not an import policy; the policies are ${known.join(', ')}`,
      );
    }
    if (value !== 'skip' && value !== 'reject') {
      throw new ProblemError(
        'VALIDATION_FAILED',
        `policies.${key} is ${JSON.stringify(value)}; a policy is 'skip' or 'reject'`,
      );
    }
  }
}

/** What the steps of a plan need, walking through nodes that are no steps of their own. */
class Dependencies {
  private readonly memo = new Map<number, { steps: number[]; unbuilt: number[] }>();
  private readonly graph: DbtGraph;
  private readonly isStep: (i: number) => boolean;
  private readonly isPassThrough: (i: number) => boolean;
  private readonly isUnbuilt: (i: number) => boolean;

  constructor(
    graph: DbtGraph,
    isStep: (i: number) => boolean,
    isPassThrough: (i: number) => boolean,
    isUnbuilt: (i: number) => boolean,
  ) {
    this.graph = graph;
    this.isStep = isStep;
    this.isPassThrough = isPassThrough;
    this.isUnbuilt = isUnbuilt;
  }

  /** Steps node i needs, and models it reads that this plan does not build. */
  of(i: number): { steps: number[]; unbuilt: number[] } {
    for (const parent of parentsOf(this.graph, i)) {
      if (this.#walksThrough(parent)) this.#through(parent);
    }
    return this.#collect(i);
  }

  #walksThrough(i: number): boolean {
    return !this.isStep(i) && this.isPassThrough(i);
  }

  /** What node i's parents give, each pass-through parent already in the memo. */
  #collect(i: number): { steps: number[]; unbuilt: number[] } {
    const steps = new Set<number>();
    const unbuilt = new Set<number>();
    for (const parent of parentsOf(this.graph, i)) {
      if (this.isStep(parent)) {
        steps.add(parent);
      } else if (this.isPassThrough(parent)) {
        const through = this.memo.get(parent)!;
        for (const s of through.steps) steps.add(s);
        for (const u of through.unbuilt) unbuilt.add(u);
      } else if (this.isUnbuilt(parent)) {
        unbuilt.add(parent);
      }
    }
    return { steps: [...steps], unbuilt: [...unbuilt] };
  }

  /**
   * Fills the memo for pass-through node `root` and every pass-through node above it, with an
   * explicit stack (a chain of ten thousand ephemeral models must not overflow the call
   * stack). A pass-through node met again on its own path is a cycle dbt itself refuses.
   */
  #through(root: number): void {
    if (this.memo.has(root)) return;
    const stack: { node: number; expanded: boolean }[] = [{ node: root, expanded: false }];
    const onPath = new Set<number>();
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.expanded) {
        stack.pop();
        onPath.delete(top.node);
        this.memo.set(top.node, this.#collect(top.node));
        continue;
      }
      if (this.memo.has(top.node)) {
        stack.pop();
        continue;
      }
      top.expanded = true;
      onPath.add(top.node);
      for (const parent of parentsOf(this.graph, top.node)) {
        if (!this.#walksThrough(parent) || this.memo.has(parent)) continue;
        if (onPath.has(parent)) throw this.#cycle(stack, parent);
        stack.push({ node: parent, expanded: false });
      }
    }
  }

  #cycle(stack: { node: number; expanded: boolean }[], again: number): ProblemError {
    const path = stack.filter((entry) => entry.expanded).map((entry) => entry.node);
    const loop = [...path.slice(path.indexOf(again)), again].map(
      (i) => this.graph.nodes[i]!.uniqueId,
    );
    return new ProblemError(
      'MANIFEST_INVALID',
      `The manifest has a cycle through models that are no steps of their own (ephemeral): ${loop.join(' -> ')}. dbt refuses such a project; fix the ref() calls and compile again.`,
    );
  }
}

/**
 * Imports a dbt manifest (object, JSON string or bytes) into a plan.
 * Throws ProblemError: MANIFEST_INVALID, MANIFEST_NOT_COMPILED, MANIFEST_UNSUPPORTED_RESOURCE,
 * SELECTOR_INVALID.
 */
export function importManifest(manifest: unknown, options: DbtImportOptions = {}): DbtImportResult {
  checkPolicies(options.policies);
  const parsed = parseManifest(manifest);
  const warnings = [...parsed.warnings];
  const { graph, dangling } = buildDbtGraph(parsed.nodes, parsed.disabledIds);
  if (dangling.length > 0) {
    const disabled = dangling.filter((d) => d.disabled);
    const missing = dangling.filter((d) => !d.disabled);
    if (disabled.length > 0) {
      warnings.push(
        `${disabled.length} dependencies on disabled nodes were ignored (e.g. ${disabled[0]!.from} → ${disabled[0]!.to})`,
      );
    }
    if (missing.length > 0) {
      warnings.push(
        `${missing.length} dependencies on ids found nowhere in the manifest were ignored (e.g. ${missing[0]!.from} → ${missing[0]!.to})`,
      );
    }
  }

  const selection = selectNodes(
    graph,
    parsed.projectName,
    options.select,
    options.exclude,
    options.indirectSelection,
  );
  for (const raw of selection.unmatched) {
    warnings.push(`the selector ${JSON.stringify(raw)} matches no enabled node`);
  }

  const policies = options.policies ?? {};
  const policyOf = (key: PolicyKey): ResourcePolicy =>
    policies[key] ?? (key === 'unsupportedMaterializations' ? 'reject' : 'skip');
  const target = options.target ?? DEFAULT_DBT_TARGET;
  const selected = [...selection.selected].sort((a, b) =>
    graph.nodes[a]!.uniqueId < graph.nodes[b]!.uniqueId ? -1 : 1,
  );

  const skipped: DbtImportReport['skipped'] = [];
  const rejected = new Map<PolicyKey, string[]>();
  const stepNodes = new Set<number>();
  const shapes = new Map<number, ModelShape>();
  const reject = (key: PolicyKey, id: string) => {
    const list = rejected.get(key) ?? [];
    list.push(id);
    rejected.set(key, list);
  };

  for (const i of selected) {
    const node = graph.nodes[i]!;
    if (node.resourceType === 'model') {
      const shape = modelShape(node);
      shapes.set(i, shape);
      if (shape.kind === 'step') {
        stepNodes.add(i);
      } else if (shape.kind === 'ephemeral') {
        skipped.push({
          uniqueId: node.uniqueId,
          resourceType: 'model',
          reason: 'ephemeral: compiled into dependents',
        });
      } else if (policyOf('unsupportedMaterializations') === 'reject') {
        reject(
          'unsupportedMaterializations',
          `${node.uniqueId} (materialized: ${shape.materialized})`,
        );
      } else {
        skipped.push({
          uniqueId: node.uniqueId,
          resourceType: 'model',
          reason: `materialization "${shape.materialized}" is not supported by DVT+; skipped by policy, its relation is assumed to exist`,
        });
      }
    } else if (node.resourceType === 'test') {
      stepNodes.add(i);
    } else {
      const rule = nonExecutable[node.resourceType];
      const key = rule?.policy ?? 'operations';
      if (policyOf(key) === 'reject') {
        reject(key, node.uniqueId);
      } else {
        skipped.push({
          uniqueId: node.uniqueId,
          resourceType: node.resourceType,
          reason: rule?.reason ?? `${node.resourceType}: a resource type DVT+ does not execute`,
        });
      }
    }
  }

  if (rejected.size > 0) {
    const parts = [...rejected].map(
      ([key, ids]) =>
        `${ids.length} ${policyNames[key]}(s) with policy ${key}: 'reject' (${listIds(ids)})`,
    );
    const keys = [...rejected.keys()];
    // The exclusion to suggest: by materialization for models (resource_type:model would
    // drop every model), by resource type for the rest.
    const [firstKey, firstIds] = [...rejected][0]!;
    const example =
      firstKey === 'unsupportedMaterializations'
        ? `config.materialized:${/\(materialized: (.*)\)$/.exec(firstIds[0]!)?.[1] ?? '…'}`
        : `resource_type:${firstIds[0]!.split('.')[0]}`;
    throw new ProblemError(
      'MANIFEST_UNSUPPORTED_RESOURCE',
      `The selection contains resources the import policy rejects: ${parts.join('; ')}. Exclude them from the selection (e.g. --exclude ${example}) or set ${keys.map((k) => `policies.${k}`).join(', ')} to 'skip'.`,
      { rejected: Object.fromEntries(rejected) },
    );
  }

  const badIds = [...stepNodes]
    .map((i) => graph.nodes[i]!.uniqueId)
    .filter((id) => id.length > 512 || !STEP_ID_PATTERN.test(id));
  if (badIds.length > 0) {
    throw new ProblemError(
      'MANIFEST_INVALID',
      `${badIds.length} unique_id(s) cannot be used as step ids (at most 512 characters of [A-Za-z0-9_.:@/-]): ${listIds(badIds.map((id) => JSON.stringify(id)))}.`,
      { uniqueIds: badIds.slice(0, 50) },
    );
  }

  const hasNoSql = (node: DbtNode) =>
    node.compiledSql === undefined || node.compiledSql.trim() === '';
  const uncompiledModels = [...stepNodes]
    .map((i) => graph.nodes[i]!)
    .filter((node) => node.resourceType === 'model' && hasNoSql(node))
    .map((node) => node.uniqueId);
  const uncompiledTests = [...stepNodes]
    .map((i) => graph.nodes[i]!)
    .filter((node) => node.resourceType === 'test' && hasNoSql(node))
    .map((node) => node.uniqueId);
  const preview = options.preview === true;
  const modelCount = [...stepNodes].filter((i) => graph.nodes[i]!.resourceType === 'model').length;
  if (uncompiledModels.length > 0 && !preview) {
    throw new ProblemError(
      'MANIFEST_NOT_COMPILED',
      `${uncompiledModels.length} of ${modelCount} selected models have no compiled SQL (${listIds(uncompiledModels)}). The manifest was written by a parse-only command or by \`dbt compile --select\` of other nodes: run \`dbt compile\` (or \`dbt docs generate\`) for this selection first, or ask for a preview (preview: true) to get a plan without SQL.`,
      { uncompiled: uncompiledModels.slice(0, 50), uncompiledCount: uncompiledModels.length },
    );
  }
  // `dbt run` compiles models only; its manifest still lists tests, without SQL. Those tests
  // stay in the plan (the selection is dbt's), preset to SKIP, and a warning says how to fix it.
  const testsWithoutSql = new Set(preview ? [] : uncompiledTests);
  if (testsWithoutSql.size > 0) {
    warnings.push(
      `${testsWithoutSql.size} selected tests have no compiled SQL and are preset to SKIP (e.g. ${uncompiledTests[0]}); the manifest probably comes from \`dbt run\`, which compiles models only: run \`dbt compile\` (or \`dbt build\`, \`dbt docs generate\`) to get them`,
    );
  }

  const isEphemeral = (i: number) => {
    const node = graph.nodes[i]!;
    return node.resourceType === 'model' && modelShape(node).kind === 'ephemeral';
  };
  const isUnbuilt = (i: number) => {
    const node = graph.nodes[i]!;
    return node.resourceType === 'model' && !selection.selected.has(i);
  };
  const deps = new Dependencies(graph, (i) => stepNodes.has(i), isEphemeral, isUnbuilt);

  const steps: (DbtModelStep | DbtTestStep)[] = [];
  const presetDecisions: Record<string, StepDecision> = {};
  let schemaless = 0;
  for (const i of selected) {
    if (!stepNodes.has(i)) continue;
    const node = graph.nodes[i]!;
    const { steps: needIdx, unbuilt } = deps.of(i);
    const needs = needIdx.map((n) => graph.nodes[n]!.uniqueId).sort();
    const compiledSql =
      node.compiledSql === undefined || node.compiledSql.trim() === '' ? null : node.compiledSql;
    const common = { ...(options.simulate ? { simulate: true } : {}) };
    if (node.resourceType === 'model') {
      const shape = shapes.get(i) as Extract<ModelShape, { kind: 'step' }>;
      if (!node.schema) schemaless++;
      steps.push({
        id: node.uniqueId,
        kind: 'dbt.model',
        ...(needs.length > 0 ? { needs } : {}),
        with: {
          uniqueId: node.uniqueId,
          name: node.name,
          packageName: node.packageName,
          materialization: shape.materialization,
          database: node.database,
          schema: node.schema || 'public',
          identifier: node.alias || node.name,
          compiledSql,
          checksum: node.checksum,
          ...(node.originalFilePath ? { originalFilePath: node.originalFilePath } : {}),
          target,
          ...common,
          ...(shape.note ? { materializationNote: shape.note } : {}),
        },
      });
      presetDecisions[node.uniqueId] = {
        action: 'RUN',
        reason: shape.note ?? `selected ${shape.materialization} model`,
      };
    } else {
      const attachedNodes = [...new Set(node.dependsOn)].sort();
      steps.push({
        id: node.uniqueId,
        kind: 'dbt.test',
        ...(needs.length > 0 ? { needs } : {}),
        with: {
          uniqueId: node.uniqueId,
          name: node.name,
          packageName: node.packageName,
          compiledSql,
          severity: normaliseSeverity(node, warnings),
          attachedNodes,
          checksum: node.checksum,
          target,
          ...common,
        },
      });
      const missing = unbuilt.map((u) => graph.nodes[u]!.uniqueId).sort();
      presetDecisions[node.uniqueId] = testsWithoutSql.has(node.uniqueId)
        ? {
            action: 'SKIP',
            reason:
              'no compiled SQL in the manifest: run `dbt compile` (or `dbt build`) so the test can run',
          }
        : missing.length > 0
          ? {
              action: 'SKIP',
              reason: `reads ${listIds(missing)}, which ${missing.length === 1 ? 'is' : 'are'} not selected: the test would run against a relation this plan does not build (select ${missing.length === 1 ? 'it' : 'them'} too to run the test)`,
            }
          : { action: 'RUN', reason: 'selected test' };
    }
  }
  if (schemaless > 0) {
    warnings.push(
      `${schemaless} model(s) have no schema in the manifest; the schema "public" is used`,
    );
  }

  const excluded = [...selection.excluded]
    .map(([i, by]) => ({ uniqueId: graph.nodes[i]!.uniqueId, by }))
    .sort((a, b) => (a.uniqueId < b.uniqueId ? -1 : a.uniqueId > b.uniqueId ? 1 : 0));

  const plan: DbtPlan = {
    schemaVersion: PLAN_SCHEMA_VERSION,
    planId: options.planId ?? defaultPlanId(parsed.projectName),
    planVersion:
      options.planVersion ??
      defaultPlanVersion(parsed.invocationId ?? parsed.generatedAt ?? 'unversioned', options),
    concurrency: options.concurrency ?? 4,
    failurePolicy: 'stop',
    steps,
    metadata: {
      source: 'dbt',
      manifestSchemaVersion: `v${parsed.schemaVersion}`,
      dbtVersion: parsed.dbtVersion,
      projectName: parsed.projectName,
      adapterType: parsed.adapterType,
      invocationId: parsed.invocationId,
      generatedAt: parsed.generatedAt,
      preview,
      simulate: options.simulate === true,
      select: options.select ?? [],
      exclude: options.exclude ?? [],
      ...(preview ? { uncompiledCount: uncompiledModels.length + uncompiledTests.length } : {}),
    },
  };
  return { plan, presetDecisions, report: { skipped, excluded, warnings } };
}
