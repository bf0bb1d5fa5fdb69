/**
 * The step graph as integer arrays, and the graph algorithms the planner needs: cycles
 * (Tarjan's strongly connected components, then a shortest cycle inside each), topological
 * levels (Kahn's algorithm, ties broken by id) and longest paths. Everything is linear in
 * steps + edges, apart from the sorts by id, so 20,000-step plans stay fast.
 *
 * Direction: `needs[i]` lists the nodes node i depends on; `dependents[j]` the nodes that
 * depend on j.
 */

export interface StepGraph {
  ids: readonly string[];
  needs: readonly (readonly number[])[];
  dependents: readonly (readonly number[])[];
}

/** Builds the graph; `needs` entries that name no node are dropped, duplicates merged. */
export function buildGraph(
  ids: readonly string[],
  needsById: readonly (readonly string[])[],
): StepGraph {
  const index = new Map<string, number>();
  ids.forEach((id, i) => index.set(id, i));
  const needs: number[][] = [];
  const dependents: number[][] = ids.map(() => []);
  for (let i = 0; i < ids.length; i++) {
    const own: number[] = [];
    const seen = new Set<number>();
    for (const need of needsById[i] ?? []) {
      const j = index.get(need);
      if (j === undefined || seen.has(j)) continue;
      seen.add(j);
      own.push(j);
      dependents[j]!.push(i);
    }
    needs.push(own);
  }
  return { ids, needs, dependents };
}

/** Compares ids by UTF-16 code units: the same order on every machine and locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One cycle per strongly connected component that has one, each as node indices starting at
 * the component's smallest id and following `needs` (`[a, b, c]` means a needs b, b needs c,
 * c needs a). A self-dependency is the cycle `[a]`. Cycles are sorted by their first id.
 */
export function findCycles(graph: StepGraph): number[][] {
  const components = stronglyConnectedComponents(graph);
  const cycles: number[][] = [];
  for (const component of components) {
    if (component.length === 1) {
      const only = component[0]!;
      if (graph.needs[only]!.includes(only)) cycles.push([only]);
      continue;
    }
    cycles.push(shortestCycleThrough(graph, component));
  }
  return cycles.sort((x, y) => compareIds(graph.ids[x[0]!]!, graph.ids[y[0]!]!));
}

/** Tarjan's algorithm without recursion (plans can be chains of 20,000 steps). */
function stronglyConnectedComponents(graph: StepGraph): number[][] {
  const n = graph.ids.length;
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const components: number[][] = [];
  const work: { node: number; next: number }[] = [];
  let counter = 0;

  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    work.push({ node: root, next: 0 });
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = graph.needs[frame.node]!;
      if (frame.next < edges.length) {
        const to = edges[frame.next++]!;
        if (order[to] === -1) {
          order[to] = low[to] = counter++;
          stack.push(to);
          onStack[to] = 1;
          work.push({ node: to, next: 0 });
        } else if (onStack[to]) {
          low[frame.node] = Math.min(low[frame.node]!, order[to]!);
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low[parent.node] = Math.min(low[parent.node]!, low[frame.node]!);
      if (low[frame.node] === order[frame.node]) {
        const component: number[] = [];
        let member: number;
        do {
          member = stack.pop()!;
          onStack[member] = 0;
          component.push(member);
        } while (member !== frame.node);
        components.push(component);
      }
    }
  }
  return components;
}

/** Breadth-first search inside the component from its smallest id back to itself. */
function shortestCycleThrough(graph: StepGraph, component: number[]): number[] {
  const members = new Set(component);
  const start = component.reduce((best, i) =>
    compareIds(graph.ids[i]!, graph.ids[best]!) < 0 ? i : best,
  );
  const previous = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    // Visit needs in id order, so the cycle reported is the same on every run.
    const next = graph.needs[node]!.filter((j) => members.has(j)).sort((a, b) =>
      compareIds(graph.ids[a]!, graph.ids[b]!),
    );
    for (const to of next) {
      if (to === start) {
        const cycle = [node];
        while (cycle[cycle.length - 1] !== start)
          cycle.push(previous.get(cycle[cycle.length - 1]!)!);
        return cycle.reverse();
      }
      if (!previous.has(to)) {
        previous.set(to, node);
        queue.push(to);
      }
    }
  }
  // Unreachable: every node of a strongly connected component reaches every other.
  throw new Error('strongly connected component without a cycle');
}

/**
 * Topological levels: level 0 holds the steps that need nothing, level k the steps whose
 * deepest need is in level k-1; each level sorted by id. Throws on a cycle (validate first).
 */
export function topologicalLevels(graph: StepGraph): number[][] {
  const n = graph.ids.length;
  const remaining = new Int32Array(n);
  let current: number[] = [];
  for (let i = 0; i < n; i++) {
    remaining[i] = graph.needs[i]!.length;
    if (remaining[i] === 0) current.push(i);
  }
  const levels: number[][] = [];
  let placed = 0;
  while (current.length > 0) {
    current.sort((a, b) => compareIds(graph.ids[a]!, graph.ids[b]!));
    levels.push(current);
    placed += current.length;
    const next: number[] = [];
    for (const node of current) {
      for (const dependent of graph.dependents[node]!) {
        if (--remaining[dependent]! === 0) next.push(dependent);
      }
    }
    current = next;
  }
  if (placed !== n) throw new Error('the step graph has a cycle; validate the plan first');
  return levels;
}

/**
 * The longest path by duration: the chain whose durations add up to the most, found in
 * topological order. Equal durations go to the chain of more steps, then to the smaller id,
 * so the path is deterministic (and meaningful when every duration is 0).
 */
export function criticalPath(
  graph: StepGraph,
  levels: readonly (readonly number[])[],
  durations: ArrayLike<number>,
): { path: number[]; totalMs: number } {
  const n = graph.ids.length;
  const finish = new Float64Array(n);
  const hops = new Int32Array(n);
  const via = new Int32Array(n).fill(-1);
  const longer = (a: number, b: number) =>
    b === -1 ||
    finish[a]! > finish[b]! ||
    (finish[a] === finish[b] &&
      (hops[a]! > hops[b]! ||
        (hops[a] === hops[b] && compareIds(graph.ids[a]!, graph.ids[b]!) < 0)));
  let end = -1;
  for (const level of levels) {
    for (const node of level) {
      let best = -1;
      for (const need of graph.needs[node]!) if (longer(need, best)) best = need;
      via[node] = best;
      finish[node] = (best === -1 ? 0 : finish[best]!) + durations[node]!;
      hops[node] = best === -1 ? 1 : hops[best]! + 1;
      if (longer(node, end)) end = node;
    }
  }
  const path: number[] = [];
  for (let node = end; node !== -1; node = via[node]!) path.push(node);
  path.reverse();
  return { path, totalMs: end === -1 ? 0 : finish[end]! };
}
