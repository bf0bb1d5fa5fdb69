import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { escapeXml, graphFormatOf, layoutPlan, toMermaid, toSvg } from '../src/graph.ts';
import { levelsOf, normalizeCompiledPlan, type CompiledPlanView } from '../src/plan-view.ts';

function view(
  steps: { id: string; kind?: string; needs?: string[] }[],
  skip: string[] = [],
): CompiledPlanView {
  const full = steps.map((s) => ({ id: s.id, kind: s.kind ?? 'noop', needs: s.needs ?? [] }));
  return normalizeCompiledPlan({
    planId: 'p',
    planVersion: '1',
    steps: full,
    decisions: Object.fromEntries(
      full.map((s) => [
        s.id,
        skip.includes(s.id)
          ? { action: 'SKIP', reason: 'unchanged' }
          : { action: 'RUN', reason: 'selected' },
      ]),
    ),
  });
}

const diamond = view(
  [
    { id: 'extract', kind: 'http' },
    { id: 'load', kind: 'sql', needs: ['extract'] },
    { id: 'report', needs: ['extract'] },
    { id: 'sign-off', kind: 'approval', needs: ['load', 'report'] },
  ],
  ['report'],
);

describe('levels', () => {
  it('orders steps by depth with ties by id, and strands a cycle in a last level', () => {
    expect(diamond.levels).toEqual([['extract'], ['load', 'report'], ['sign-off']]);
    expect(
      levelsOf([
        { id: 'b', kind: 'noop', needs: ['c'] },
        { id: 'c', kind: 'noop', needs: ['b'] },
        { id: 'a', kind: 'noop', needs: [] },
      ]),
    ).toEqual([['a'], ['b', 'c']]);
  });
});

describe('Mermaid', () => {
  it('writes nodes, edges and classes for SKIP and approval steps', () => {
    expect(toMermaid(diamond)).toBe(
      [
        '%% plan p 1',
        'flowchart LR',
        '  classDef skip fill:#f2f2f2,stroke:#999,stroke-dasharray:4 3,color:#777',
        '  classDef approval fill:#fff4e0,stroke:#d08700',
        '  s0["extract<br/>http"]',
        '  s1["load<br/>sql"]',
        '  s2["report<br/>noop"]',
        '  s3["sign-off<br/>approval"]',
        '  s0 --> s1',
        '  s0 --> s2',
        '  s1 --> s3',
        '  s2 --> s3',
        '  class s2 skip',
        '  class s3 approval',
        '',
      ].join('\n'),
    );
  });

  it('escapes quotes and angle brackets in labels', () => {
    const text = toMermaid(view([{ id: 'a', kind: 'x"<y>#' }]));
    expect(text).toContain('s0["a<br/>x#quot;#lt;y#gt;#35;"]');
  });
});

describe('SVG', () => {
  it('is well-formed XML with one group per step and one path per edge', () => {
    const svg = toSvg(diamond);
    expect(XMLValidator.validate(svg)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(svg);
    const groups = doc.svg.g.find((g: { class: string }) => g.class === 'steps').g;
    expect(
      groups.map((g: Record<string, string>) => [g['data-step-id'], g['data-decision']]),
    ).toEqual([
      ['extract', 'RUN'],
      ['load', 'RUN'],
      ['report', 'SKIP'],
      ['sign-off', 'RUN'],
    ]);
    const edges = doc.svg.g.find((g: { class: string }) => g.class === 'edges').path;
    expect(edges.map((e: Record<string, string>) => `${e['data-from']}->${e['data-to']}`)).toEqual([
      'extract->load',
      'extract->report',
      'load->sign-off',
      'report->sign-off',
    ]);
  });

  it('lays levels out left to right and never overlaps two steps', () => {
    const { nodes } = layoutPlan(diamond);
    const x = (id: string) => nodes.get(id)!.x;
    expect(x('extract')).toBeLessThan(x('load'));
    expect(x('load')).toBe(x('report'));
    expect(x('report')).toBeLessThan(x('sign-off'));
    const boxes = [...nodes.values()];
    for (const a of boxes) {
      for (const b of boxes) {
        if (a === b) continue;
        const apart =
          a.x + a.width <= b.x ||
          b.x + b.width <= a.x ||
          a.y + a.height <= b.y ||
          b.y + b.height <= a.y;
        expect(apart, `${a.id} overlaps ${b.id}`).toBe(true);
      }
    }
  });

  it('stays well-formed with XML-special and control characters, and holds every step of a large plan', () => {
    const steps = Array.from({ length: 300 }, (_, i) => ({
      id: `model.shop.m${i}`,
      kind: i === 0 ? 'dbt.model <"&\'>\u0001' : 'dbt.model',
      needs: i === 0 ? [] : [`model.shop.m${Math.floor((i - 1) / 3)}`],
    }));
    const svg = toSvg(view(steps));
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const s of steps) expect(svg).toContain(`data-step-id="${s.id}"`);
    expect(svg).toContain('dbt.model &lt;&quot;&amp;&apos;&gt;</text>');
  });

  it('escapes the five XML specials', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });

  it('picks the format from the file name', () => {
    expect([
      graphFormatOf('x.svg'),
      graphFormatOf('X.MMD'),
      graphFormatOf('x.mermaid'),
      graphFormatOf('x.png'),
    ]).toEqual(['svg', 'mermaid', 'mermaid', undefined]);
  });
});
