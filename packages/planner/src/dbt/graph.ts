/**
 * The dbt graph as dbt's selector sees it: every enabled member of the manifest (nodes,
 * sources, exposures, metrics, semantic models, saved queries, unit tests, functions) and
 * an edge parent → child for each entry of the child's `depends_on.nodes`. Members are
 * numbered; adjacency is kept in flat integer arrays, so walks are linear in nodes + edges.
 */
import type { DbtNode } from './manifest.ts';

export interface DbtGraph {
  nodes: readonly DbtNode[];
  index: ReadonlyMap<string, number>;
  /** Parents of node i: `parentList[parentStart[i] .. parentStart[i + 1])`. */
  parentStart: Int32Array;
  parentList: Int32Array;
  childStart: Int32Array;
  childList: Int32Array;
}

export interface GraphBuildResult {
  graph: DbtGraph;
  /** `depends_on.nodes` entries naming a disabled node or nothing at all. */
  dangling: { from: string; to: string; disabled: boolean }[];
}

export function buildDbtGraph(
  nodes: readonly DbtNode[],
  disabledIds: ReadonlySet<string>,
): GraphBuildResult {
  const index = new Map<string, number>();
  nodes.forEach((node, i) => index.set(node.uniqueId, i));
  const dangling: GraphBuildResult['dangling'] = [];

  const parentStart = new Int32Array(nodes.length + 1);
  const parents: number[] = [];
  const childCount = new Int32Array(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    parentStart[i] = parents.length;
    for (const dep of nodes[i]!.dependsOn) {
      const j = index.get(dep);
      if (j === undefined) {
        dangling.push({ from: nodes[i]!.uniqueId, to: dep, disabled: disabledIds.has(dep) });
        continue;
      }
      parents.push(j);
      childCount[j]!++;
    }
  }
  parentStart[nodes.length] = parents.length;
  const parentList = Int32Array.from(parents);

  const childStart = new Int32Array(nodes.length + 1);
  for (let i = 0; i < nodes.length; i++) childStart[i + 1] = childStart[i]! + childCount[i]!;
  const fill = childStart.slice(0, nodes.length);
  const childList = new Int32Array(parentList.length);
  for (let i = 0; i < nodes.length; i++) {
    for (let k = parentStart[i]!; k < parentStart[i + 1]!; k++) {
      const p = parentList[k]!;
      childList[fill[p]!++] = i;
    }
  }
  return { graph: { nodes, index, parentStart, parentList, childStart, childList }, dangling };
}

function walk(
  starts: Iterable<number>,
  start: Int32Array,
  list: Int32Array,
  maxDepth: number | null,
): Set<number> {
  const found = new Set<number>();
  let layer = [...starts];
  let depth = 0;
  while (layer.length > 0 && (maxDepth === null || depth < maxDepth)) {
    const next: number[] = [];
    for (const node of layer) {
      for (let k = start[node]!; k < start[node + 1]!; k++) {
        const other = list[k]!;
        if (found.has(other)) continue;
        found.add(other);
        next.push(other);
      }
    }
    layer = next;
    depth++;
  }
  return found;
}

/** Ancestors of the set, up to `maxDepth` generations (null: all). */
export function ancestorsOf(
  graph: DbtGraph,
  selected: Iterable<number>,
  maxDepth: number | null = null,
): Set<number> {
  return walk(selected, graph.parentStart, graph.parentList, maxDepth);
}

/** Descendants of the set, up to `maxDepth` generations (null: all). */
export function descendantsOf(
  graph: DbtGraph,
  selected: Iterable<number>,
  maxDepth: number | null = null,
): Set<number> {
  return walk(selected, graph.childStart, graph.childList, maxDepth);
}

export function parentsOf(graph: DbtGraph, node: number): Int32Array {
  return graph.parentList.subarray(graph.parentStart[node]!, graph.parentStart[node + 1]!);
}

export function childrenOf(graph: DbtGraph, node: number): Int32Array {
  return graph.childList.subarray(graph.childStart[node]!, graph.childStart[node + 1]!);
}
