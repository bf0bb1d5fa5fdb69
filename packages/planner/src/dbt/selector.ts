/**
 * dbt node selection (`--select` / `--exclude`), evaluated the way dbt-core 1.x does:
 *
 * - Each argument is split on spaces (a union) and each piece on commas (an intersection).
 * - A criterion is `[@][n+]method[.arg]:value[+n]`; without a method the value is a path when
 *   it holds a `/` (or `\`), a file name when it ends in .sql/.py/.csv, else an fqn.
 * - Graph operators apply per criterion, on the whole graph: `+x` ancestors, `x+` descendants,
 *   `n+x`/`x+n` limited to n generations, `@x` descendants plus all their ancestors.
 * - Each criterion then adds the tests around it by the indirect selection mode (dbt's
 *   `--indirect-selection`): `eager` (the default) every test or unit test that is a direct
 *   child of a selected node; `cautious` only tests whose parents are all selected; `buildable`
 *   also tests whose parents are selected nodes' ancestors (or sources); `empty` none. Under
 *   cautious and buildable a test left out by one criterion can come back when a union or
 *   intersection selects its other parents, as in dbt.
 * - The final set is (union of --select) minus (union of --exclude), both computed against the
 *   full graph, and nodes whose SQL is blank are dropped (dbt's `empty` nodes, never seeds).
 */
import { type IndirectSelection, indirectSelectionModes } from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import { type DbtGraph, ancestorsOf, childrenOf, descendantsOf } from './graph.ts';
import type { DbtNode } from './manifest.ts';
import { type PathGlob, compilePathGlob, fnmatch, hasWildcard } from './patterns.ts';

export const selectorMethods = [
  'fqn',
  'tag',
  'group',
  'access',
  'source',
  'path',
  'file',
  'package',
  'config',
  'test_name',
  'test_type',
  'resource_type',
  'exposure',
  'metric',
  'semantic_model',
  'saved_query',
  'unit_test',
  'version',
] as const;
type SelectorMethod = (typeof selectorMethods)[number];

/** Methods dbt has that need artifacts of an earlier run; DVT+ refuses them clearly. */
const stateMethods = ['state', 'result', 'source_status'] as const;

/** dbt's NodeType values, the values `resource_type:` accepts. */
export const dbtResourceTypes = [
  'model',
  'analysis',
  'test',
  'snapshot',
  'operation',
  'seed',
  'rpc',
  'sql_operation',
  'doc',
  'source',
  'macro',
  'exposure',
  'metric',
  'group',
  'saved_query',
  'semantic_model',
  'unit_test',
  'fixture',
  'function',
] as const;

export interface SelectorCriterion {
  raw: string;
  method: SelectorMethod;
  methodArguments: string[];
  value: string;
  childrensParents: boolean;
  parents: boolean;
  parentsDepth: number | null;
  children: boolean;
  childrenDepth: number | null;
}

/** One space-separated piece of an argument: the intersection of its comma-separated parts. */
export interface SelectorIntersection {
  raw: string;
  criteria: SelectorCriterion[];
}

export type SelectorOption = 'select' | 'exclude';

function selectorError(
  option: SelectorOption,
  argument: number,
  text: string,
  position: number,
  problem: string,
): ProblemError {
  return new ProblemError(
    'SELECTOR_INVALID',
    `--${option} argument ${argument + 1} ${JSON.stringify(text)} is invalid at position ${position}: ${problem}`,
    { option, argument: argument + 1, selector: text, position },
  );
}

const CRITERION = /^(@)?(?:(\d*)\+)?(?:([\w.]+):)?(.*?)(?:\+(\d*))?$/su;

function defaultMethod(value: string): SelectorMethod {
  if (value.includes('/') || value.includes('\\')) return 'path';
  if (/\.(sql|py|csv)$/i.test(value)) return 'file';
  return 'fqn';
}

function parseCriterion(
  part: string,
  fail: (offset: number, problem: string) => ProblemError,
): SelectorCriterion {
  const match = CRITERION.exec(part);
  if (!match) throw fail(0, 'not a selector');
  const [, at, parentsDepth, methodText, value = '', childrenDepth] = match;
  const parents = match[2] !== undefined;
  const children = match[5] !== undefined;
  const methodStart = (at ? 1 : 0) + (parents ? (parentsDepth ?? '').length + 1 : 0);
  const valueStart = methodStart + (methodText !== undefined ? methodText.length + 1 : 0);
  if (at && children) {
    throw fail(
      part.length - 1 - (childrenDepth ?? '').length,
      '"@" and a trailing "+" cannot be combined',
    );
  }
  if (value === '') {
    throw fail(valueStart, 'expected a node name or method:value');
  }
  const bad = /[+@]/.exec(value);
  if (bad) throw fail(valueStart + bad.index, `unexpected "${bad[0]}" inside the value`);

  let method: SelectorMethod;
  let methodArguments: string[] = [];
  if (methodText === undefined) {
    method = defaultMethod(value);
  } else {
    const [name = '', ...args] = methodText.split('.');
    if ((stateMethods as readonly string[]).includes(name)) {
      throw fail(
        methodStart,
        `the method "${name}:" needs artifacts of an earlier dbt invocation, which DVT+ does not use; select by name, tag, path or another method`,
      );
    }
    if (!(selectorMethods as readonly string[]).includes(name)) {
      throw fail(
        methodStart,
        `"${name}" is not a selector method; expected one of ${selectorMethods.join(', ')}`,
      );
    }
    method = name as SelectorMethod;
    methodArguments = args;
    if (method === 'config' && args.length === 0) {
      throw fail(methodStart, 'config needs a key, e.g. config.materialized:table');
    }
    if (method !== 'config' && args.length > 0) {
      throw fail(methodStart + name.length, `the method "${name}" takes no ".${args.join('.')}"`);
    }
    checkValue(method, value, (problem) => fail(valueStart, problem));
  }
  return {
    raw: part,
    method,
    methodArguments,
    value,
    childrensParents: Boolean(at),
    parents,
    parentsDepth: parentsDepth ? Number(parentsDepth) : null,
    children,
    childrenDepth: childrenDepth ? Number(childrenDepth) : null,
  };
}

function checkValue(
  method: SelectorMethod,
  value: string,
  fail: (problem: string) => ProblemError,
): void {
  const parts = value.split('.').length;
  if (method === 'resource_type' && !(dbtResourceTypes as readonly string[]).includes(value)) {
    throw fail(
      `"${value}" is not a dbt resource type; expected one of ${dbtResourceTypes.join(', ')}`,
    );
  }
  if (
    method === 'test_type' &&
    !['generic', 'schema', 'data', 'singular', 'unit'].includes(value)
  ) {
    throw fail(`"${value}" is not a test type; expected generic, singular, unit or data`);
  }
  if (method === 'version' && !(versionKinds as readonly string[]).includes(value)) {
    throw fail(`"${value}" is not a version kind; expected one of ${versionKinds.join(', ')}`);
  }
  if (method === 'source' && parts > 3) {
    throw fail(
      'a source is selected as source_name, source_name.table or package.source_name.table',
    );
  }
  if (
    ['exposure', 'metric', 'semantic_model', 'saved_query', 'unit_test'].includes(method) &&
    parts > 2
  ) {
    throw fail(`a ${method} is selected as name or package.name`);
  }
  if (method === 'path' && /^([\\/]|[A-Za-z]:)/.test(value)) {
    throw fail('path: takes a path relative to the project root, e.g. path:models/staging');
  }
}

/** Parses `--select` or `--exclude` arguments; throws SELECTOR_INVALID with the position. */
export function parseSelectorArgs(
  args: readonly string[],
  option: SelectorOption,
): SelectorIntersection[] {
  const out: SelectorIntersection[] = [];
  args.forEach((arg, argument) => {
    if (typeof arg !== 'string') {
      throw new ProblemError(
        'SELECTOR_INVALID',
        `--${option} argument ${argument + 1} must be a string, got ${typeof arg}`,
        { option, argument: argument + 1 },
      );
    }
    let offset = 0;
    for (const piece of arg.split(' ')) {
      const pieceStart = offset;
      offset += piece.length + 1;
      if (piece === '') continue;
      const criteria: SelectorCriterion[] = [];
      let partStart = pieceStart;
      for (const part of piece.split(',')) {
        const start = partStart;
        partStart += part.length + 1;
        const fail = (at: number, problem: string) =>
          selectorError(option, argument, arg, start + at, problem);
        if (part === '') throw fail(0, 'empty selector next to ","');
        criteria.push(parseCriterion(part, fail));
      }
      out.push({ raw: piece, criteria });
    }
  });
  return out;
}

// ---- evaluation ------------------------------------------------------------------------------

export { indirectSelectionModes, type IndirectSelection };

interface Scope {
  graph: DbtGraph;
  projectName: string | null;
  indirect: IndirectSelection;
}

/**
 * A selection as dbt carries it up the expression: `direct` is what is selected, `indirect`
 * holds tests left out for now because some parent is missing (cautious and buildable only).
 */
interface Bundle {
  direct: Set<number>;
  indirect: Set<number>;
}

const nonSourceCollections = new Set([
  'nodes',
  'exposures',
  'metrics',
  'unit_tests',
  'semantic_models',
  'saved_queries',
]);

/** dbt's fqn match, including the rules for versioned models and the `*`/`?`/`[]` slurp. */
function isSelectedFqn(fqn: readonly string[], selector: string, versioned: boolean): boolean {
  const selectorParts = selector.split('.');
  if (versioned) {
    if (fqn[fqn.length - 2] === selector) return true;
    if (fqn.slice(-2).join('_') === selectorParts.slice(-2).join('_')) return true;
  } else if (fqn[fqn.length - 1] === selector) {
    return true;
  }
  const flat = fqn.flatMap((segment) => segment.split('.'));
  if (flat.length < selectorParts.length) return false;
  for (let i = 0; i < selectorParts.length; i++) {
    const part = selectorParts[i]!;
    if (hasWildcard(part)) {
      return fnmatch(flat.slice(i).join('.'), selectorParts.slice(i).join('.'));
    }
    if (flat[i] !== part) return false;
  }
  return true;
}

function pathMatches(glob: PathGlob, node: DbtNode): boolean {
  const segments = node.pathSegments;
  for (let n = segments.length; n >= 0; n--) {
    if (glob.matches(segments.slice(0, n))) return true;
  }
  return node.patchPathSegments !== null && glob.matches(node.patchPathSegments);
}

function configValue(config: Record<string, unknown>, keys: readonly string[]): unknown {
  let value: unknown = config;
  for (const key of keys) {
    if (typeof value !== 'object' || value === null || !(key in value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function configMatches(value: unknown, selector: string, caseInsensitive: boolean): boolean {
  const equal = (candidate: unknown) =>
    typeof candidate === 'string' &&
    (caseInsensitive ? candidate.toUpperCase() === selector.toUpperCase() : candidate === selector);
  const lowered = selector.toLowerCase();
  if (Array.isArray(value)) {
    return (
      value.some(equal) ||
      (lowered === 'true' && value.includes(true)) ||
      (lowered === 'false' && value.includes(false))
    );
  }
  return (
    equal(value) ||
    (lowered === 'true' && value === true) ||
    (lowered === 'false' && value === false)
  );
}

function nameInCollection(node: DbtNode, value: string): boolean {
  const [a = '', b] = value.split('.');
  const [pkg, name] = b === undefined ? ['*', a] : [a, b];
  return fnmatch(node.packageName, pkg) && fnmatch(node.name, name);
}

/** The predicate of one criterion's method, before graph operators. */
function matcher(criterion: SelectorCriterion, scope: Scope): (node: DbtNode) => boolean {
  const { value } = criterion;
  switch (criterion.method) {
    case 'fqn':
      return (node) =>
        nonSourceCollections.has(node.collection) &&
        (isSelectedFqn(node.fqn, value, node.versioned) ||
          isSelectedFqn(node.fqn.slice(1), value, node.versioned));
    case 'tag':
      return (node) => node.tags.some((tag) => fnmatch(tag, value));
    case 'group':
      return (node) => {
        if (node.collection !== 'nodes' && node.collection !== 'metrics') return false;
        const group = node.config.group;
        return typeof group === 'string' && group !== '' && fnmatch(group, value);
      };
    case 'access':
      return (node) =>
        node.collection === 'nodes' && node.resourceType === 'model' && node.access === value;
    case 'source': {
      const parts = value.split('.');
      const [pkg, source, table] =
        parts.length === 1
          ? ['*', parts[0]!, '*']
          : parts.length === 2
            ? ['*', parts[0]!, parts[1]!]
            : [parts[0]!, parts[1]!, parts[2]!];
      return (node) =>
        node.collection === 'sources' &&
        fnmatch(node.packageName, pkg) &&
        fnmatch(node.sourceName ?? '', source) &&
        fnmatch(node.name, table);
    }
    case 'path': {
      const glob = compilePathGlob(value);
      return (node) => pathMatches(glob, node);
    }
    case 'file':
      return (node) => {
        const base = node.pathSegments[node.pathSegments.length - 1] ?? '';
        const stem = base.includes('.') ? base.slice(0, base.lastIndexOf('.')) : base;
        return fnmatch(base, value) || fnmatch(stem, value);
      };
    case 'package': {
      const pkg = value === 'this' && scope.projectName !== null ? scope.projectName : value;
      return (node) => fnmatch(node.packageName, pkg);
    }
    case 'config': {
      const keys = criterion.methodArguments;
      const caseInsensitive = keys.length === 1 && keys[0] === 'severity';
      return (node) => {
        if (node.collection !== 'nodes' && node.collection !== 'sources') return false;
        const found = configValue(node.config, keys);
        return found !== undefined && configMatches(found, value, caseInsensitive);
      };
    }
    case 'resource_type':
      return (node) => node.resourceType === value;
    case 'test_name':
      return (node) =>
        (node.collection === 'nodes' &&
          node.resourceType === 'test' &&
          node.testMetadataName !== null &&
          fnmatch(node.testMetadataName, value)) ||
        (node.collection === 'unit_tests' && fnmatch(node.name, value));
    case 'test_type': {
      const generic = ['generic', 'schema', 'data'].includes(value);
      const singular = ['singular', 'data'].includes(value);
      const unit = value === 'unit';
      return (node) => {
        if (node.collection === 'unit_tests') return unit;
        if (node.collection !== 'nodes' || node.resourceType !== 'test') return false;
        return node.testMetadataName !== null ? generic : singular;
      };
    }
    case 'version':
      return (node) => versionMatches(node, value);
    case 'exposure':
    case 'metric':
    case 'semantic_model':
    case 'saved_query':
    case 'unit_test': {
      const collection = namedCollections[criterion.method];
      return (node) => node.collection === collection && nameInCollection(node, value);
    }
  }
}

const versionKinds = ['latest', 'prerelease', 'old', 'none'] as const;

/**
 * dbt's `version:` method, for models only: `latest` is the version equal to the group's
 * `latest_version`, `prerelease` and `old` are above and below it, `none` is an unversioned
 * model. Versions compare as numbers when both read as numbers, else as text (so "10" > "9"
 * but "v10" < "v9"), and a version or latest_version of 0 or "" counts as unset, as in dbt.
 */
function versionMatches(node: DbtNode, kind: string): boolean {
  if (node.collection !== 'nodes' || node.resourceType !== 'model') return false;
  const { version, latestVersion } = node;
  switch (kind) {
    case 'latest':
      return version !== null && version === latestVersion;
    case 'none':
      return version === null;
    case 'prerelease':
    case 'old': {
      if (!version || !latestVersion) return false;
      const order = compareVersions(version, latestVersion);
      return kind === 'prerelease' ? order > 0 : order < 0;
    }
    default:
      return false;
  }
}

function compareVersions(a: string | number, b: string | number): number {
  const x = versionNumber(a);
  const y = versionNumber(b);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  const [p, q] = [String(a), String(b)];
  return p < q ? -1 : p > q ? 1 : 0;
}

/** The number a version reads as (Python's float() on it), or undefined. */
function versionNumber(v: string | number): number | undefined {
  if (typeof v === 'number') return v;
  const text = v.trim().replaceAll(/(?<=\d)_(?=\d)/g, '');
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text);
  if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(text)) return Number.NaN;
  return undefined;
}

const namedCollections = {
  exposure: 'exposures',
  metric: 'metrics',
  semantic_model: 'semantic_models',
  saved_query: 'saved_queries',
  unit_test: 'unit_tests',
} as const;

function isTest(node: DbtNode): boolean {
  return node.resourceType === 'test' || node.resourceType === 'unit_test';
}

/** One criterion against the full graph: method, graph operators, then the tests around it. */
function evaluateCriterion(criterion: SelectorCriterion, scope: Scope): Bundle {
  const { graph } = scope;
  const predicate = matcher(criterion, scope);
  const collected = new Set<number>();
  graph.nodes.forEach((node, i) => {
    if (predicate(node)) collected.add(i);
  });
  const selected = new Set(collected);
  if (criterion.childrensParents) {
    const down = descendantsOf(graph, collected);
    for (const i of collected) down.add(i);
    for (const i of ancestorsOf(graph, down)) selected.add(i);
    for (const i of down) selected.add(i);
  }
  if (criterion.parents) {
    for (const i of ancestorsOf(graph, collected, criterion.parentsDepth)) selected.add(i);
  }
  if (criterion.children) {
    for (const i of descendantsOf(graph, collected, criterion.childrenDepth)) selected.add(i);
  }
  return addTests(selected, scope);
}

/** dbt's expand_selection: the tests that are children of `selected`, by the mode. */
function addTests(selected: Set<number>, scope: Scope): Bundle {
  const { graph, indirect: mode } = scope;
  const direct = new Set(selected);
  const indirect = new Set<number>();
  if (mode === 'empty') return { direct, indirect };
  const buildable = mode === 'buildable' ? withAncestors(selected, scope, true) : undefined;
  for (const i of selected) {
    for (const child of childrenOf(graph, i)) {
      const test = graph.nodes[child]!;
      if (!isTest(test)) continue;
      if (mode === 'eager' || parentsWithin(test, selected, scope)) direct.add(child);
      else if (buildable && parentsWithin(test, buildable, scope)) direct.add(child);
      else indirect.add(child);
    }
  }
  return { direct, indirect };
}

/**
 * dbt's incorporate_indirect_nodes, after a union or intersection: a test held back comes in
 * once all its parents are selected (cautious) or are selected nodes or their ancestors
 * (buildable). Unit tests held back stay out, as in dbt.
 */
function incorporate(direct: Set<number>, indirect: Set<number>, scope: Scope): Set<number> {
  const { graph, indirect: mode } = scope;
  if (mode !== 'cautious' && mode !== 'buildable') return direct;
  const within = mode === 'buildable' ? withAncestors(direct, scope, false) : direct;
  const out = new Set(direct);
  for (const i of indirect) {
    const node = graph.nodes[i]!;
    if (node.collection === 'nodes' && parentsWithin(node, within, scope)) out.add(i);
  }
  return out;
}

/** `set` and every ancestor of it, and (as dbt's expand_selection does) every source. */
function withAncestors(set: Set<number>, scope: Scope, sources: boolean): Set<number> {
  const out = new Set(set);
  for (const i of ancestorsOf(scope.graph, set)) out.add(i);
  if (sources) scope.graph.nodes.forEach((n, i) => n.collection === 'sources' && out.add(i));
  return out;
}

function parentsWithin(node: DbtNode, set: Set<number>, scope: Scope): boolean {
  return node.dependsOn.every((id) => {
    const i = scope.graph.index.get(id);
    return i !== undefined && set.has(i);
  });
}

function combine(bundles: Bundle[], how: 'union' | 'intersection', scope: Scope): Bundle {
  const pick = how === 'union' ? unite : intersect;
  const direct = pick(bundles.map((b) => b.direct));
  const all = pick(bundles.map((b) => new Set([...b.direct, ...b.indirect])));
  return { direct: incorporate(direct, all, scope), indirect: all };
}

function unite(sets: Set<number>[]): Set<number> {
  const out = new Set<number>();
  for (const set of sets) for (const i of set) out.add(i);
  return out;
}

function intersect(sets: Set<number>[]): Set<number> {
  const [first, ...rest] = [...sets].sort((a, b) => a.size - b.size);
  if (!first) return new Set();
  const out = new Set<number>();
  for (const i of first) if (rest.every((set) => set.has(i))) out.add(i);
  return out;
}

function evaluateIntersection(part: SelectorIntersection, scope: Scope): Bundle {
  return combine(
    part.criteria.map((criterion) => evaluateCriterion(criterion, scope)),
    'intersection',
    scope,
  );
}

/** The pieces of one --select or --exclude, each evaluated, and their union's selection. */
function evaluateUnion(
  pieces: SelectorIntersection[],
  scope: Scope,
  unmatched: string[],
): { parts: Bundle[]; union: Set<number> } {
  const parts = pieces.map((piece) => {
    const found = evaluateIntersection(piece, scope);
    if (found.direct.size === 0) unmatched.push(piece.raw);
    return found;
  });
  return { parts, union: combine(parts, 'union', scope).direct };
}

export interface SelectionResult {
  /** Selected node indexes (after exclusion and dropping empty nodes). */
  selected: Set<number>;
  /** Every node the --exclude expression matched, with the piece that matched it first. */
  excluded: Map<number, string>;
  /** Pieces of --select / --exclude that matched no node. */
  unmatched: string[];
}

/**
 * Evaluates `--select` and `--exclude` against the full graph and subtracts afterwards.
 * No `select` (or an empty list) selects every member, as dbt does; a `select` whose
 * arguments are all blank selects nothing, as dbt does too.
 */
export function selectNodes(
  graph: DbtGraph,
  projectName: string | null,
  select: readonly string[] | undefined,
  exclude: readonly string[] | undefined,
  indirect: IndirectSelection = 'eager',
): SelectionResult {
  const scope: Scope = { graph, projectName, indirect };
  const includes = parseSelectorArgs(select ?? [], 'select');
  const excludes = parseSelectorArgs(exclude ?? [], 'exclude');
  const unmatched: string[] = [];

  let included: Set<number>;
  if (includes.length === 0 && (select ?? []).length > 0) {
    // `--select ""` (an unset CI variable, say) selects nothing, as in dbt — not everything.
    included = new Set();
    unmatched.push(select!.join(' ').trim());
  } else if (includes.length === 0) {
    included = new Set(graph.nodes.map((_, i) => i));
  } else {
    included = evaluateUnion(includes, scope, unmatched).union;
  }

  // The difference takes the exclusion's direct selection only: a test the exclusion held
  // back under cautious or buildable is not excluded (dbt's SelectionDifference). Each
  // excluded node is reported with the first piece that matched it.
  const excluded = new Map<number, string>();
  if (excludes.length > 0) {
    const { parts, union } = evaluateUnion(excludes, scope, unmatched);
    for (const i of union) {
      const by = excludes.find((_, k) => parts[k]!.direct.has(i)) ?? excludes[0]!;
      excluded.set(i, by.raw);
    }
  }

  const selected = new Set<number>();
  for (const i of included) {
    if (!excluded.has(i) && !graph.nodes[i]!.empty) selected.add(i);
  }
  return { selected, excluded, unmatched };
}
