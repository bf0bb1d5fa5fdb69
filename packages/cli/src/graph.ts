/**
 * The plan's DAG as a picture: Mermaid text (`.mmd`) or a self-contained SVG (`.svg`) drawn
 * with a layered layout — one column per topological level, left to right, nodes in a column
 * ordered by the mean row of the steps they need (one barycenter sweep, ties by id), edges as
 * curves from a need to its dependant. SKIP steps are drawn dashed and grey.
 */
import type { CompiledPlanView } from './plan-view.ts';

export type GraphFormat = 'mermaid' | 'svg';

/** `.mmd` / `.mermaid` → mermaid, `.svg` → svg, anything else undefined. */
export function graphFormatOf(file: string): GraphFormat | undefined {
  const lower = file.toLowerCase();
  if (lower.endsWith('.svg')) return 'svg';
  if (lower.endsWith('.mmd') || lower.endsWith('.mermaid')) return 'mermaid';
  return undefined;
}

function isSkipped(view: CompiledPlanView, id: string): boolean {
  return view.decisions[id]?.action === 'SKIP';
}

function mermaidText(text: string): string {
  return text
    .replace(/#/g, '#35;')
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;');
}

export function toMermaid(view: CompiledPlanView): string {
  const nodeId = new Map(view.steps.map((s, i) => [s.id, `s${i}`]));
  const lines = [
    '%% plan ' + mermaidText(`${view.planId} ${view.planVersion}`),
    'flowchart LR',
    '  classDef skip fill:#f2f2f2,stroke:#999,stroke-dasharray:4 3,color:#777',
    '  classDef approval fill:#fff4e0,stroke:#d08700',
  ];
  for (const step of view.steps) {
    lines.push(`  ${nodeId.get(step.id)}["${mermaidText(step.id)}<br/>${mermaidText(step.kind)}"]`);
  }
  for (const step of view.steps) {
    for (const need of step.needs) {
      const from = nodeId.get(need);
      if (from) lines.push(`  ${from} --> ${nodeId.get(step.id)}`);
    }
  }
  const skipped = view.steps.filter((s) => isSkipped(view, s.id)).map((s) => nodeId.get(s.id));
  if (skipped.length) lines.push(`  class ${skipped.join(',')} skip`);
  const approvals = view.steps
    .filter((s) => s.kind === 'approval' && !isSkipped(view, s.id))
    .map((s) => nodeId.get(s.id));
  if (approvals.length) lines.push(`  class ${approvals.join(',')} approval`);
  return lines.join('\n') + '\n';
}

export function escapeXml(text: string): string {
  return (
    text
      // Characters XML 1.0 does not allow at all.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const LAYOUT = {
  margin: 24,
  nodeHeight: 40,
  rowGap: 14,
  columnGap: 64,
  charWidth: 7,
  minNodeWidth: 90,
  maxLabelChars: 40,
  headerHeight: 28,
} as const;

export interface NodeBox {
  id: string;
  level: number;
  row: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Positions of every step: column by level, row by a barycenter sweep over its needs. */
export function layoutPlan(view: CompiledPlanView): {
  nodes: Map<string, NodeBox>;
  width: number;
  height: number;
} {
  const L = LAYOUT;
  const needs = new Map(view.steps.map((s) => [s.id, s.needs]));
  const labelChars = Math.min(
    L.maxLabelChars,
    Math.max(0, ...view.steps.map((s) => Math.max(s.id.length, s.kind.length))),
  );
  const nodeWidth = Math.max(L.minNodeWidth, labelChars * L.charWidth + 20);
  const rowOf = new Map<string, number>();
  const ordered = view.levels.map((level, index) => {
    const rows = [...level];
    if (index > 0) {
      const key = (id: string) => {
        const parents = (needs.get(id) ?? [])
          .map((n) => rowOf.get(n))
          .filter((r) => r !== undefined);
        return parents.length ? parents.reduce((a, b) => a + b, 0) / parents.length : Infinity;
      };
      const keys = new Map(rows.map((id) => [id, key(id)]));
      rows.sort((a, b) => keys.get(a)! - keys.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
    }
    rows.forEach((id, row) => rowOf.set(id, row));
    return rows;
  });
  const nodes = new Map<string, NodeBox>();
  ordered.forEach((rows, level) => {
    rows.forEach((id, row) => {
      nodes.set(id, {
        id,
        level,
        row,
        x: L.margin + level * (nodeWidth + L.columnGap),
        y: L.margin + L.headerHeight + row * (L.nodeHeight + L.rowGap),
        width: nodeWidth,
        height: L.nodeHeight,
      });
    });
  });
  const columns = Math.max(1, ordered.length);
  const tallest = Math.max(1, ...ordered.map((r) => r.length));
  return {
    nodes,
    width: 2 * L.margin + columns * nodeWidth + (columns - 1) * L.columnGap,
    height: 2 * L.margin + L.headerHeight + tallest * L.nodeHeight + (tallest - 1) * L.rowGap,
  };
}

function clip(text: string): string {
  return text.length > LAYOUT.maxLabelChars ? `${text.slice(0, LAYOUT.maxLabelChars - 1)}…` : text;
}

export function toSvg(view: CompiledPlanView): string {
  const { nodes, width, height } = layoutPlan(view);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="12">`,
    `<title>${escapeXml(`plan ${view.planId} version ${view.planVersion}`)}</title>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#667"/></marker></defs>',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  view.levels.forEach((_, level) => {
    const first = [...nodes.values()].find((n) => n.level === level);
    if (first) {
      out.push(
        `<text x="${first.x}" y="${LAYOUT.margin + 12}" fill="#667" font-size="11">level ${level + 1}</text>`,
      );
    }
  });
  out.push('<g class="edges" fill="none" stroke="#889" stroke-width="1.2">');
  for (const step of view.steps) {
    const to = nodes.get(step.id);
    for (const need of step.needs) {
      const from = nodes.get(need);
      if (!from || !to) continue;
      const x1 = from.x + from.width;
      const y1 = from.y + from.height / 2;
      const x2 = to.x;
      const y2 = to.y + to.height / 2;
      const bend = Math.max(24, (x2 - x1) / 2);
      out.push(
        `<path class="edge" data-from="${escapeXml(need)}" data-to="${escapeXml(step.id)}" d="M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>`,
      );
    }
  }
  out.push('</g>', '<g class="steps">');
  const kindOf = new Map(view.steps.map((s) => [s.id, s.kind]));
  for (const node of nodes.values()) {
    const skipped = isSkipped(view, node.id);
    const kind = kindOf.get(node.id) ?? '?';
    const fill = skipped ? '#f2f2f2' : kind === 'approval' ? '#fff4e0' : '#eaf2ff';
    const stroke = skipped ? '#999999' : kind === 'approval' ? '#d08700' : '#3b6fd1';
    const dash = skipped ? ' stroke-dasharray="4 3"' : '';
    const decision = view.decisions[node.id];
    const tooltip = decision?.reason
      ? `${node.id} (${kind}) ${decision.action}: ${decision.reason}`
      : `${node.id} (${kind})`;
    out.push(
      `<g class="step" data-step-id="${escapeXml(node.id)}" data-decision="${escapeXml(decision?.action ?? 'RUN')}">`,
      `<title>${escapeXml(tooltip)}</title>`,
      `<rect x="${node.x}" y="${node.y}" width="${node.width}" height="${node.height}" rx="6" fill="${fill}" stroke="${stroke}"${dash}/>`,
      `<text x="${node.x + 10}" y="${node.y + 17}" fill="${skipped ? '#777' : '#112'}">${escapeXml(clip(node.id))}</text>`,
      `<text x="${node.x + 10}" y="${node.y + 32}" fill="#667" font-size="10">${escapeXml(clip(skipped ? `${kind} · SKIP` : kind))}</text>`,
      '</g>',
    );
  }
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}
