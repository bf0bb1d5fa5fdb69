/**
 * Benchmark of the dbt import: manifest → selection → plan, for the largest fixture
 * (fivetran-ad-reporting-v7) and for a 20,000-node manifest built from its shapes.
 * Each time is given as a ratio to JSON.parse of the same bytes, measured in the same run.
 *
 *   node --conditions=source --expose-gc packages/planner/bench/compile-manifest.ts
 *
 * Settings: DVT_FIXTURES_DIR (default ../shared/fixtures next to the repository),
 * BENCH_RUNS (timed repetitions per figure, default 5; the median is printed).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importManifest } from '../src/dbt/index.ts';
import type { DbtImportOptions } from '../src/dbt/index.ts';

type Json = Record<string, unknown>;
interface RawNode extends Json {
  unique_id: string;
  depends_on?: { nodes?: string[] };
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = process.env.DVT_FIXTURES_DIR
  ? resolve(repoRoot, process.env.DVT_FIXTURES_DIR)
  : resolve(repoRoot, '../shared/fixtures');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const gc = (globalThis as { gc?: () => void }).gc;

let peakHeap = 0;
function sampleMemory(): void {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function time(fn: () => unknown): number {
  gc?.();
  const start = performance.now();
  const result = fn();
  const elapsed = performance.now() - start;
  sampleMemory();
  void result;
  return elapsed;
}

/**
 * Copies of the template's nodes and sources with renamed ids, until `target` nodes: each copy
 * keeps its internal edges, and its root models also depend on a model of the previous copy,
 * so the graph is one deep component, not thirty small ones.
 */
function synthesize(template: Json, target: number): Json {
  const nodes = Object.values(template.nodes as Record<string, RawNode>).filter(
    (n) => (n.config as Json | undefined)?.enabled !== false,
  );
  const sources = Object.values((template.sources ?? {}) as Record<string, RawNode>);
  const order = topological(nodes);
  const rename = (id: string, copy: number) => `${id}_c${copy}`;
  const anchor = order.find(
    (n) => n.resource_type === 'model' && (n.config as Json).materialized !== 'ephemeral',
  )!;
  const outNodes: Record<string, RawNode> = {};
  const outSources: Record<string, RawNode> = {};
  let copy = 0;
  while (Object.keys(outNodes).length < target) {
    for (const source of sources) {
      const id = rename(source.unique_id, copy);
      outSources[id] = { ...source, unique_id: id, name: `${String(source.name)}_c${copy}` };
    }
    for (const node of order) {
      if (Object.keys(outNodes).length >= target) break;
      const id = rename(node.unique_id, copy);
      const deps = (node.depends_on?.nodes ?? []).map((d) => rename(d, copy));
      if (
        copy > 0 &&
        node.resource_type === 'model' &&
        deps.every((d) => !d.startsWith('model.'))
      ) {
        deps.push(rename(anchor.unique_id, copy - 1));
      }
      outNodes[id] = {
        ...node,
        unique_id: id,
        name: `${String(node.name)}_c${copy}`,
        fqn: [...((node.fqn as string[]) ?? []).slice(0, -1), `${String(node.name)}_c${copy}`],
        depends_on: { ...node.depends_on, nodes: deps },
      };
    }
    copy++;
  }
  return { ...template, nodes: outNodes, sources: outSources, parent_map: {}, child_map: {} };
}

function topological(nodes: RawNode[]): RawNode[] {
  const byId = new Map(nodes.map((n) => [n.unique_id, n]));
  const done = new Set<string>();
  const out: RawNode[] = [];
  const visit = (node: RawNode) => {
    if (done.has(node.unique_id)) return;
    done.add(node.unique_id);
    for (const dep of node.depends_on?.nodes ?? []) {
      const parent = byId.get(dep);
      if (parent) visit(parent);
    }
    out.push(node);
  };
  nodes.forEach(visit);
  return out;
}

function measure(label: string, text: string, options: DbtImportOptions): void {
  const parseTimes: number[] = [];
  const importTimes: number[] = [];
  const totalTimes: number[] = [];
  let steps = 0;
  let nodes = 0;
  for (let i = 0; i < runs; i++) {
    parseTimes.push(time(() => JSON.parse(text)));
    const parsed = JSON.parse(text) as Json;
    nodes = Object.keys(parsed.nodes as Json).length;
    importTimes.push(
      time(() => {
        const result = importManifest(parsed, options);
        steps = result.plan.steps.length;
        return result;
      }),
    );
    totalTimes.push(time(() => importManifest(JSON.parse(text), options)));
  }
  const parseMs = median(parseTimes);
  const importMs = median(importTimes);
  const totalMs = median(totalTimes);
  console.log(
    [
      `${label}`,
      `  bytes ${text.length.toLocaleString('en')}, nodes ${nodes.toLocaleString('en')}, steps ${steps.toLocaleString('en')}, select ${JSON.stringify(options.select ?? [])}`,
      `  JSON.parse            ${parseMs.toFixed(1)} ms (floor, 1.00x)`,
      `  import+select         ${importMs.toFixed(1)} ms = ${(importMs / parseMs).toFixed(2)}x JSON.parse`,
      `  parse+import+select   ${totalMs.toFixed(1)} ms = ${(totalMs / parseMs).toFixed(2)}x JSON.parse`,
    ].join('\n'),
  );
}

const largestText = readFileSync(
  resolve(fixtures, 'dbt/fivetran-ad-reporting-v7/manifest.json'),
  'utf8',
);
const largest = JSON.parse(largestText) as Json;
const synthetic = JSON.stringify(synthesize(largest, 20_000));
sampleMemory();

console.log(
  `dbt import benchmark: median of ${runs} runs, Node ${process.version}${gc ? '' : ' (run with --expose-gc for steadier figures)'}`,
);
measure('fivetran-ad-reporting-v7, whole project', largestText, {});
measure('fivetran-ad-reporting-v7, graph selection', largestText, {
  select: ['+ad_reporting__ad_report+', 'tag:*'],
  exclude: ['resource_type:seed'],
});
measure('synthetic 20,000 nodes, whole project', synthetic, {});
measure('synthetic 20,000 nodes, graph selection', synthetic, {
  select: ['@stg_google_ads__ad_history_c15', 'package:ad_reporting+'],
  exclude: ['+tag:nothing_has_this'],
});
const usage = process.memoryUsage();
console.log(
  `memory: peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (process high-water), heapUsed high-water ${(peakHeap / 2 ** 20).toFixed(0)} MiB (sampled after each timed call, before its result is freed), final RSS ${(usage.rss / 2 ** 20).toFixed(0)} MiB`,
);
