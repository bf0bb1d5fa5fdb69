/**
 * The two live transports of run events. Both start only after the route table's checks
 * passed (origin, credential, tenant, role), resume after `afterSeq`, send heartbeats, close
 * a consumer whose unread bytes pass the cap (telling it the runSeq to resume after), and
 * end the stream when the credential expires (WebSocket close code 1008).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { RunStateStore } from '@dvt/store';
import type { Logger } from '@dvt/service-kit';
import { pumpRunEvents, type PumpOutcome } from './event-pump.ts';
import type { RunEventHub } from './run-event-hub.ts';

export interface StreamSettings {
  store: RunStateStore;
  hub: RunEventHub;
  log: Logger;
  heartbeatMs: number;
  pollMs: number;
  maxBufferBytes: number;
}

export const WS_CLOSE = {
  normal: 1000,
  policy: 1008,
  tryAgainLater: 1013,
} as const;

export async function streamOverWebSocket(
  socket: WebSocket,
  settings: StreamSettings,
  run: { runId: string; afterSeq: number; expiresAt: number | null },
): Promise<void> {
  const abort = new AbortController();
  let alive = true;
  const stop = (code: number, reason: string) => {
    if (abort.signal.aborted) return;
    abort.abort();
    clearInterval(pinger);
    clearTimeout(expiry);
    socket.close(code, reason);
    // A client that does not read will not answer the close handshake either.
    setTimeout(() => socket.terminate(), 1_000).unref();
  };
  socket.on('close', () => {
    abort.abort();
    clearInterval(pinger);
    clearTimeout(expiry);
  });
  socket.on('pong', () => {
    alive = true;
  });
  socket.on('message', () => undefined);
  const pinger = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, settings.heartbeatMs);
  const expiry = expiryTimer(run.expiresAt, () => stop(WS_CLOSE.policy, 'credential expired'));

  let outcome: PumpOutcome;
  try {
    outcome = await pumpRunEvents({
      runId: run.runId,
      afterSeq: run.afterSeq,
      store: settings.store,
      hub: settings.hub,
      maxBufferBytes: settings.maxBufferBytes,
      heartbeatMs: settings.heartbeatMs,
      pollMs: settings.pollMs,
      signal: abort.signal,
      transport: {
        send: (event) => socket.send(JSON.stringify({ type: 'event', event })),
        heartbeat: (lastSeq) => socket.send(JSON.stringify({ type: 'heartbeat', lastSeq })),
        buffered: () => socket.bufferedAmount,
      },
    });
  } catch (error) {
    settings.log.error({ err: error, runId: run.runId }, 'run event stream failed');
    stop(1011, 'internal error; reconnect with afterSeq');
    return;
  }
  if (outcome.reason === 'ended') {
    socket.send(JSON.stringify({ type: 'end', lastSeq: outcome.lastSeq, status: outcome.status }));
    stop(WS_CLOSE.normal, `run ${outcome.status}`);
  } else if (outcome.reason === 'slow') {
    settings.log.info(
      { runId: run.runId, lastSeq: outcome.lastSeq },
      'slow stream consumer closed',
    );
    stop(WS_CLOSE.tryAgainLater, `slow consumer; resume with afterSeq=${outcome.lastSeq}`);
  }
}

export async function streamOverSse(
  req: FastifyRequest,
  reply: FastifyReply,
  settings: StreamSettings,
  run: { runId: string; afterSeq: number; expiresAt: number | null },
): Promise<void> {
  const res = reply.raw;
  reply.hijack();
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
  });
  res.write(`retry: 2000\n\n`);
  const abort = new AbortController();
  req.raw.on('close', () => abort.abort());
  const expiry = expiryTimer(run.expiresAt, () => {
    res.write(
      `event: error\ndata: ${JSON.stringify({ code: 'UNAUTHENTICATED', detail: 'credential expired' })}\n\n`,
    );
    abort.abort();
    res.end();
  });
  try {
    const outcome = await pumpRunEvents({
      runId: run.runId,
      afterSeq: run.afterSeq,
      store: settings.store,
      hub: settings.hub,
      maxBufferBytes: settings.maxBufferBytes,
      heartbeatMs: settings.heartbeatMs,
      pollMs: settings.pollMs,
      signal: abort.signal,
      transport: {
        send: (event) =>
          res.write(`id: ${event.runSeq}\nevent: run-event\ndata: ${JSON.stringify(event)}\n\n`),
        heartbeat: (lastSeq) => res.write(`: heartbeat lastSeq=${lastSeq}\n\n`),
        buffered: () => res.writableLength,
      },
    });
    if (outcome.reason === 'ended') {
      res.write(
        `event: end\ndata: ${JSON.stringify({ lastSeq: outcome.lastSeq, status: outcome.status })}\n\n`,
      );
      res.end();
    } else if (outcome.reason === 'slow') {
      settings.log.info(
        { runId: run.runId, lastSeq: outcome.lastSeq },
        'slow stream consumer closed',
      );
      res.destroy();
    }
  } catch (error) {
    settings.log.error({ err: error, runId: run.runId }, 'run event stream failed');
    res.destroy();
  } finally {
    clearTimeout(expiry);
  }
}

/** Fires at the expiry (epoch ms); none when the credential does not expire. */
function expiryTimer(expiresAt: number | null, onExpiry: () => void): NodeJS.Timeout | undefined {
  if (expiresAt === null) return undefined;
  // setTimeout holds at most ~24.8 days; longer-lived credentials simply never fire here.
  const delay = Math.max(0, expiresAt - Date.now());
  return delay < 2 ** 31 - 1 ? setTimeout(onExpiry, delay) : undefined;
}
