import { describe, expect, it } from 'vitest';
import { parseSse, type SseMessage } from '../src/sse.ts';

async function parse(chunks: string[]): Promise<SseMessage[]> {
  const encoder = new TextEncoder();
  async function* body() {
    for (const c of chunks) yield encoder.encode(c);
  }
  const out: SseMessage[] = [];
  for await (const m of parseSse(body())) out.push(m);
  return out;
}

describe('parseSse', () => {
  it('reads event, id, multi-line data and retry; skips comments', async () => {
    expect(
      await parse([
        'retry: 2000\n\n: heartbeat lastSeq=3\n\nid: 4\nevent: run-event\ndata: {"a":\ndata: 1}\n\n',
      ]),
    ).toEqual([{ event: 'run-event', data: '{"a":\n1}', id: '4', retry: undefined }]);
  });

  it('handles CRLF and CR line ends and frames split anywhere across chunks, even inside CRLF and UTF-8', async () => {
    const text = 'id: 1\r\nevent: run-event\r\ndata: {"s":"é"}\r\n\r\nid: 2\rdata: x\r\r';
    const bytes = new TextEncoder().encode(text);
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const encoder = { a: bytes.slice(0, cut), b: bytes.slice(cut) };
      async function* body() {
        yield encoder.a;
        yield encoder.b;
      }
      const out: SseMessage[] = [];
      for await (const m of parseSse(body())) out.push(m);
      expect(
        out.map((m) => [m.id, m.event, m.data]),
        `cut at ${cut}`,
      ).toEqual([
        ['1', 'run-event', '{"s":"é"}'],
        ['2', 'message', 'x'],
      ]);
    }
  });

  it('does not dispatch a message whose blank line never came (a dropped connection)', async () => {
    expect(await parse(['id: 1\ndata: one\n\nid: 2\nevent: run-event\ndata: {"runSeq":'])).toEqual([
      { event: 'message', data: 'one', id: '1', retry: undefined },
    ]);
  });
});
