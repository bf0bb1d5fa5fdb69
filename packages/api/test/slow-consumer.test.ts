/**
 * Field case websockets/ws #1620: a client that stops reading during a 20k-event run is
 * closed once its unread bytes pass the cap, the server's memory stays bounded, and the
 * client resumes with afterSeq and gets every remaining event once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { seedRun, startApi, type ApiHarness } from './helpers.ts';

let api: ApiHarness;
const EVENTS = 20_000;
const CAP = 256 * 1024;
const run = { tenantId: 'slow', projectId: 'ps', runId: 'slow-run' };

beforeAll(async () => {
  api = await startApi({ STREAM_MAX_BUFFER_BYTES: String(CAP) });
  // About 2 KB per event: 40 MB in all, far more than the cap and the socket buffers hold.
  await seedRun(api, { ...run, events: EVENTS, terminal: true, payloadBytes: 2_000 });
}, 300_000);

afterAll(async () => {
  await api?.close();
});

describe('slow WebSocket consumer', () => {
  it('is closed past the buffer cap with bounded memory, and resumes with afterSeq', async () => {
    const token = await api.token(run.tenantId, ['viewer']);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;

    const stalled = new WebSocket(`ws://127.0.0.1:${api.port}/v1/runs/${run.runId}/events/ws`, {
      headers: { authorization: `Bearer ${token}` },
    });
    // Stop reading as soon as the connection is up: the kernel buffers fill, then the server's.
    let clientSocket: import('node:net').Socket | undefined;
    stalled.on('upgrade', (res) => {
      clientSocket = res.socket;
      res.socket.pause();
    });
    const closed = new Promise<number>((resolve) => stalled.on('close', (c) => resolve(c)));
    const deadline = Date.now() + 60_000;
    let line: string | undefined;
    while (!(line = api.logLines.find((l) => l.includes('slow stream consumer closed')))) {
      if (Date.now() > deadline) throw new Error('the stalled client was never closed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const rssPeak = process.memoryUsage().rss;
    // Reading again, the client finds the connection closed by the server.
    clientSocket!.resume();
    const closeCode = await closed;
    expect([1006, 1013]).toContain(closeCode);
    const lastSeq: number = JSON.parse(line!).lastSeq;
    expect(lastSeq).toBeGreaterThan(0);
    expect(lastSeq).toBeLessThan(EVENTS);
    // Unbounded buffering would hold tens of MB of frames; the cap keeps the growth small.
    expect(rssPeak - rssBefore).toBeLessThan(32 * 1024 * 1024);

    const seen: number[] = [];
    const resumed = new WebSocket(
      `ws://127.0.0.1:${api.port}/v1/runs/${run.runId}/events/ws?afterSeq=${lastSeq}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    resumed.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; event?: { runSeq: number } };
      if (frame.type === 'event') seen.push(frame.event!.runSeq);
    });
    const code = await new Promise<number>((resolve) => resumed.on('close', (c) => resolve(c)));
    expect(code).toBe(1000);
    expect(seen.length).toBe(EVENTS - lastSeq);
    expect(seen[0]).toBe(lastSeq + 1);
    expect(seen.every((seq, i) => seq === lastSeq + 1 + i)).toBe(true);
  }, 120_000);
});
