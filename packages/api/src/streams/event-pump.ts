/**
 * The delivery loop shared by the SSE and WebSocket streams: read a run's events after a
 * cursor by runSeq, hand each to the transport, and wait for a wake-up when caught up. Every
 * event is delivered once and in order because the cursor only moves past an event after it
 * was handed over, and a reconnecting client passes the last runSeq it saw as `afterSeq`.
 *
 * Slow consumers: before each event the transport reports how many bytes are still queued
 * for the client; past the cap the pump stops and the transport closes the connection,
 * telling the client where to resume. Memory per connection is thus bounded by the cap plus
 * one page of events.
 */
import { terminalRunStatuses, type RunEvent } from '@dvt/contracts';
import type { RunStateStore } from '@dvt/store';
import type { RunEventHub, RunWatch } from './run-event-hub.ts';

const PAGE = 500;
const TERMINAL_EVENTS = new Set(['RunCompleted', 'RunFailed', 'RunCancelled']);

export interface StreamTransport {
  send(event: RunEvent): void;
  heartbeat(lastSeq: number): void;
  /** Bytes queued for the client and not yet written to the network. */
  buffered(): number;
}

export type PumpOutcome =
  | { reason: 'ended'; lastSeq: number; status: string }
  | { reason: 'slow'; lastSeq: number }
  | { reason: 'aborted'; lastSeq: number };

export interface PumpOptions {
  runId: string;
  afterSeq: number;
  store: RunStateStore;
  hub: RunEventHub;
  transport: StreamTransport;
  maxBufferBytes: number;
  heartbeatMs: number;
  pollMs: number;
  signal: AbortSignal;
}

export async function pumpRunEvents(options: PumpOptions): Promise<PumpOutcome> {
  const { runId, hub } = options;
  const watch = hub.watch(runId);
  try {
    return await pump(options, watch);
  } finally {
    watch.close();
  }
}

async function pump(options: PumpOptions, watch: RunWatch): Promise<PumpOutcome> {
  const { runId, store, transport, signal } = options;
  let cursor = options.afterSeq;
  let lastBeat = Date.now();
  while (!signal.aborted) {
    const events = await store.listEvents(runId, { afterSeq: cursor, limit: PAGE });
    let ended: string | undefined;
    for (const event of events) {
      if (signal.aborted) return { reason: 'aborted', lastSeq: cursor };
      if (transport.buffered() > options.maxBufferBytes) return { reason: 'slow', lastSeq: cursor };
      transport.send(event);
      cursor = event.runSeq;
      if (TERMINAL_EVENTS.has(event.eventType)) ended = event.eventType;
    }
    if (events.length === PAGE) continue;
    if (ended) return { reason: 'ended', lastSeq: cursor, status: statusOf(ended) };
    if (events.length === 0) {
      // A client resuming after the last event of a finished run has nothing left to wait for.
      const run = await store.getRun(runId);
      if (run && terminalRunStatuses.includes(run.status) && cursor >= run.lastSeq) {
        return { reason: 'ended', lastSeq: cursor, status: run.status };
      }
    }
    if (Date.now() - lastBeat >= options.heartbeatMs) {
      transport.heartbeat(cursor);
      lastBeat = Date.now();
    }
    const untilBeat = Math.max(0, options.heartbeatMs - (Date.now() - lastBeat));
    await watch.wait(Math.min(options.pollMs, untilBeat || options.pollMs), signal);
  }
  return { reason: 'aborted', lastSeq: cursor };
}

function statusOf(eventType: string): string {
  if (eventType === 'RunCompleted') return 'COMPLETED';
  if (eventType === 'RunFailed') return 'FAILED';
  return 'CANCELLED';
}
