/**
 * Live streams: field case B14 (the upgrade is authenticated, origin-checked and tenant-scoped
 * before 101), exactly-once in-order delivery across reconnects with afterSeq over WebSocket
 * and SSE, and heartbeats.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ALLOWED_ORIGIN, appendEvents, seedRun, startApi, type ApiHarness } from './helpers.ts';

let api: ApiHarness;
const A = { tenantId: 'tenant-a', projectId: 'pa' };
const B = { tenantId: 'tenant-b', projectId: 'pb' };

beforeAll(async () => {
  api = await startApi({ STREAM_HEARTBEAT_MS: '300', STREAM_POLL_MS: '200' });
  await seedRun(api, { ...A, runId: 'a-done', events: 5, terminal: true });
  await seedRun(api, { ...B, runId: 'b-run', events: 3 });
});

afterAll(async () => {
  await api?.close();
});

/** Sends a raw upgrade request and returns every byte the server sent until it closed or 1.5 s passed. */
function rawUpgrade(path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(api.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(finish, 1_500);
    socket.on('data', (d) => chunks.push(d));
    socket.on('close', () => {
      clearTimeout(timer);
      finish();
    });
    socket.on('error', reject);
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${api.port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      '',
      '',
    ];
    socket.write(lines.join('\r\n'));
  });
}

interface Frame {
  type: string;
  event?: { runSeq: number; eventType: string };
  lastSeq?: number;
  status?: string;
}

function openWs(path: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${api.port}${path}`, { headers });
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve());
    ws.on('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.on('error', reject);
  });
  return { ws, frames, closed, opened };
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const seqs = (frames: Frame[]) =>
  frames.filter((f) => f.type === 'event').map((f) => f.event!.runSeq);
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('B14: WebSocket upgrade checks before 101', () => {
  it('(a) answers 401 and no 101 without a credential', async () => {
    const reply = await rawUpgrade('/v1/runs/a-done/events/ws', { Origin: ALLOWED_ORIGIN });
    expect(reply.startsWith('HTTP/1.1 401 ')).toBe(true);
    expect(reply).not.toContain(' 101 ');
    expect(reply).toContain('"code":"UNAUTHENTICATED"');
    expect(reply).not.toContain('runSeq');
  });

  it('(b) answers 403 and no 101 for a foreign Origin, even with a valid token', async () => {
    const token = await api.token(A.tenantId, ['viewer']);
    const reply = await rawUpgrade('/v1/runs/a-done/events/ws', {
      Authorization: `Bearer ${token}`,
      Origin: 'https://evil.example',
    });
    expect(reply.startsWith('HTTP/1.1 403 ')).toBe(true);
    expect(reply).toContain('"code":"ORIGIN_NOT_ALLOWED"');
    expect(reply).toContain(
      "requests from the web origin https://evil.example are not accepted; the api's operator can add it to ALLOWED_ORIGINS",
    );
    expect(reply).not.toContain('runSeq');
  });

  it('(c) answers 404, as for an unknown run, for a run of another tenant', async () => {
    const token = await api.token(A.tenantId, ['admin']);
    const foreign = await rawUpgrade('/v1/runs/b-run/events/ws', {
      Authorization: `Bearer ${token}`,
      Origin: ALLOWED_ORIGIN,
    });
    const unknown = await rawUpgrade('/v1/runs/no-such-run/events/ws', {
      Authorization: `Bearer ${token}`,
      Origin: ALLOWED_ORIGIN,
    });
    expect(foreign.startsWith('HTTP/1.1 404 ')).toBe(true);
    expect(unknown.startsWith('HTTP/1.1 404 ')).toBe(true);
    const body = (r: string) => JSON.parse(r.slice(r.indexOf('{'), r.lastIndexOf('}') + 1)).code;
    expect(body(foreign)).toBe('RUN_NOT_FOUND');
    expect(body(unknown)).toBe('RUN_NOT_FOUND');
    expect(foreign).not.toContain('runSeq');
  });

  it('(d) upgrades and sends the events from runSeq 1, or after afterSeq', async () => {
    const token = await api.token(A.tenantId, ['viewer']);
    const all = openWs('/v1/runs/a-done/events/ws', {
      Authorization: `Bearer ${token}`,
      Origin: ALLOWED_ORIGIN,
    });
    await all.opened;
    const closed = await all.closed;
    expect(seqs(all.frames)).toEqual([1, 2, 3, 4, 5]);
    expect(all.frames.at(-1)).toEqual({ type: 'end', lastSeq: 5, status: 'COMPLETED' });
    expect(closed.code).toBe(1000);

    const after = openWs('/v1/runs/a-done/events/ws?afterSeq=3', {
      Authorization: `Bearer ${token}`,
    });
    await after.opened;
    await after.closed;
    expect(seqs(after.frames)).toEqual([4, 5]);
  });

  it('(e) closes with 1008 within about a second of the token expiry', async () => {
    await seedRun(api, { ...A, runId: 'a-live-e', events: 1 });
    const token = await api.token(A.tenantId, ['viewer'], { ttlSeconds: 3 });
    const expiresAt =
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp * 1000;
    const conn = openWs('/v1/runs/a-live-e/events/ws', {
      Authorization: `Bearer ${token}`,
      Origin: ALLOWED_ORIGIN,
    });
    await conn.opened;
    const closed = await conn.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe('credential expired');
    expect(Math.abs(closed.at - expiresAt)).toBeLessThan(1_000);
    expect(seqs(conn.frames)).toEqual([1]);
  });

  it('(f) accepts the token in the query string and never logs it', async () => {
    const token = await api.token(A.tenantId, ['viewer'], { sub: 'query-user' });
    const conn = openWs(`/v1/runs/a-done/events/ws?access_token=${token}`, {
      Origin: ALLOWED_ORIGIN,
    });
    await conn.opened;
    await conn.closed;
    expect(seqs(conn.frames)).toEqual([1, 2, 3, 4, 5]);
    const bad = await rawUpgrade(`/v1/runs/a-done/events/ws?access_token=${token}x`, {});
    expect(bad.startsWith('HTTP/1.1 401 ')).toBe(true);
    expect(bad).not.toContain(token);
    await until(() => api.logLines.some((l) => l.includes('/v1/runs/:runId/events/ws')));
    const logs = api.logLines.join('');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(token.split('.')[2]!);
  });
});

describe('exactly once, in order, across reconnects', () => {
  it('over WebSocket with afterSeq', async () => {
    const run = { ...A, runId: 'a-ws-reconnect' };
    await seedRun(api, { ...run, events: 40 });
    const token = await api.token(A.tenantId, ['viewer']);
    const headers = { Authorization: `Bearer ${token}` };

    const first = openWs(`/v1/runs/${run.runId}/events/ws`, headers);
    await first.opened;
    await until(() => seqs(first.frames).length >= 40);
    first.ws.close();
    await first.closed;
    const seen = seqs(first.frames);

    await appendEvents(api, run, 41, 30, false);
    const second = openWs(`/v1/runs/${run.runId}/events/ws?afterSeq=${seen.at(-1)}`, headers);
    await second.opened;
    await until(() => seqs(second.frames).length >= 30);
    // An idle stream sends heartbeats carrying the last runSeq it delivered.
    await until(() => second.frames.some((f) => f.type === 'heartbeat'));
    expect(second.frames.find((f) => f.type === 'heartbeat')).toEqual({
      type: 'heartbeat',
      lastSeq: 70,
    });
    await appendEvents(api, run, 71, 10, true);
    await second.closed;
    expect([...seen, ...seqs(second.frames)]).toEqual(range(1, 80));
  });

  it('over SSE with afterSeq and with Last-Event-ID', async () => {
    const run = { ...A, runId: 'a-sse-reconnect' };
    await seedRun(api, { ...run, events: 25 });
    const token = await api.token(A.tenantId, ['viewer']);
    const readSse = async (
      path: string,
      headers: Record<string, string>,
      stopAfter: number | null,
    ) => {
      const controller = new AbortController();
      const res = await fetch(`${api.baseUrl}${path}`, {
        headers: { authorization: `Bearer ${token}`, ...headers },
        signal: controller.signal,
      });
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const decoder = new TextDecoder();
      let text = '';
      const ids: number[] = [];
      const reader = res.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        let idx: number;
        while ((idx = text.indexOf('\n\n')) !== -1) {
          const block = text.slice(0, idx);
          text = text.slice(idx + 2);
          const id = /^id: (\d+)$/m.exec(block);
          if (id && block.includes('event: run-event')) ids.push(Number(id[1]));
          if (block.startsWith('event: end')) return { ids, ended: block };
        }
        if (stopAfter !== null && ids.length >= stopAfter) {
          controller.abort();
          return { ids, ended: null };
        }
      }
      return { ids, ended: null };
    };
    const first = await readSse(`/v1/runs/${run.runId}/events/stream`, {}, 25);
    expect(first.ids).toEqual(range(1, 25));
    await appendEvents(api, run, 26, 10, false);
    const second = await readSse(
      `/v1/runs/${run.runId}/events/stream`,
      { 'last-event-id': '25' },
      10,
    );
    expect(second.ids).toEqual(range(26, 35));
    await appendEvents(api, run, 36, 5, true);
    const third = await readSse(`/v1/runs/${run.runId}/events/stream?afterSeq=35`, {}, null);
    expect(third.ids).toEqual(range(36, 40));
    expect(third.ended).toBe('event: end\ndata: {"lastSeq":40,"status":"COMPLETED"}');
  });
});
