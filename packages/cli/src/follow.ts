/**
 * Following a run's events live: the SSE stream `GET /v1/runs/{runId}/events/stream?afterSeq=N`,
 * reconnecting after a dropped connection with the last runSeq seen, so no event is lost or
 * repeated; when the stream cannot be used (the route answers an error other than "no such
 * run" or "not allowed", or it keeps failing), polling `GET /v1/runs/{runId}/events?afterSeq=`.
 * Events come out in runSeq order, each once; the sequence ends with the run's terminal event.
 */
import type { ApiClient } from './client.ts';
import { ApiError, ConnectionError } from './errors.ts';
import type { ProgressEvent } from './progress.ts';
import { parseSse } from './sse.ts';

const TERMINAL: Record<string, string> = {
  RunCompleted: 'COMPLETED',
  RunFailed: 'FAILED',
  RunCancelled: 'CANCELLED',
};
const TERMINAL_STATUSES = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
/** Problems that no amount of reconnecting or polling will cure. */
const FATAL_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'RUN_NOT_FOUND', 'NOT_FOUND']);

export interface FollowOptions {
  client: ApiClient;
  runId: string;
  /** Start after this runSeq (0: from the first event). */
  afterSeq: number;
  signal: AbortSignal;
  /** Told about reconnects and the fallback to polling. */
  onNotice?: (text: string) => void;
  /** Delay before a reconnect, in ms (default 500; a `retry:` from the server replaces it). */
  reconnectDelayMs?: number;
  /** Consecutive stream failures without a new event before polling instead (default 3). */
  maxStreamFailures?: number;
  /** Interval between polls when caught up, in ms (default 1000). */
  pollIntervalMs?: number;
  /** Consecutive failed polls before giving up with a ConnectionError (default 10). */
  maxPollFailures?: number;
  /** Use polling from the start (no stream). */
  poll?: boolean;
}

export interface FollowEnd {
  /** COMPLETED, FAILED or CANCELLED; null when stopped by the signal. */
  status: string | null;
  lastSeq: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function isFatal(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    (FATAL_CODES.has(error.code) || error.status === 401 || error.status === 403)
  );
}

export async function* followRunEvents(
  options: FollowOptions,
): AsyncGenerator<ProgressEvent, FollowEnd> {
  const { client, runId, signal } = options;
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  const notice = options.onNotice ?? (() => undefined);
  let cursor = options.afterSeq;
  let reconnectDelay = options.reconnectDelayMs ?? 500;
  const maxStreamFailures = options.maxStreamFailures ?? 3;
  let failures = 0;
  let polling = options.poll === true;

  while (!polling && !signal.aborted) {
    const before = cursor;
    let ended: string | undefined;
    try {
      const response = await client.openStream(
        `${path}/events/stream`,
        { afterSeq: cursor },
        signal,
      );
      for await (const message of parseSse(response.body!)) {
        if (message.retry !== undefined) reconnectDelay = message.retry;
        if (message.event === 'end') {
          const data = safeJson(message.data) as { status?: string } | undefined;
          ended = data?.status ?? 'COMPLETED';
          break;
        }
        if (message.event === 'error') {
          const problem = (safeJson(message.data) ?? {}) as Record<string, unknown>;
          throw new ApiError(problem.code === 'UNAUTHENTICATED' ? 401 : 500, problem);
        }
        if (message.event !== 'run-event' && message.event !== 'message') continue;
        const event = safeJson(message.data) as ProgressEvent | undefined;
        if (!event || typeof event.runSeq !== 'number' || event.runSeq <= cursor) continue;
        cursor = event.runSeq;
        yield event;
        if (TERMINAL[event.eventType])
          return { status: TERMINAL[event.eventType]!, lastSeq: cursor };
      }
    } catch (error) {
      if (signal.aborted) break;
      if (isFatal(error)) throw error;
      if (error instanceof ApiError) {
        notice(`the event stream answered ${error.code}; polling ${path}/events instead`);
        polling = true;
        break;
      }
      // ConnectionError or a connection dropped mid-body: fall through and reconnect.
    }
    if (ended) return { status: ended, lastSeq: cursor };
    if (signal.aborted) break;
    failures = cursor > before ? 0 : failures + 1;
    if (failures >= maxStreamFailures) {
      notice(`the event stream failed ${failures} times; polling ${path}/events instead`);
      polling = true;
      break;
    }
    notice(`event stream dropped; reconnecting after runSeq ${cursor}`);
    await sleep(reconnectDelay, signal);
  }

  const interval = options.pollIntervalMs ?? 1000;
  const maxPollFailures = options.maxPollFailures ?? 10;
  let pollFailures = 0;
  let emptyPolls = 0;
  const PAGE = 500;
  while (!signal.aborted) {
    let events: ProgressEvent[];
    try {
      const { body } = await client.get<unknown>(`${path}/events`, {
        query: { afterSeq: cursor, limit: PAGE },
        signal,
      });
      events = eventsOf(body);
      pollFailures = 0;
    } catch (error) {
      if (signal.aborted) break;
      if (!(error instanceof ConnectionError)) throw error;
      pollFailures += 1;
      if (pollFailures >= maxPollFailures) throw error;
      notice(`cannot reach the api (${pollFailures}/${maxPollFailures}); retrying`);
      await sleep(Math.min(5000, interval * pollFailures), signal);
      continue;
    }
    for (const event of events) {
      if (event.runSeq <= cursor) continue;
      cursor = event.runSeq;
      yield event;
      if (TERMINAL[event.eventType]) return { status: TERMINAL[event.eventType]!, lastSeq: cursor };
    }
    if (events.length >= PAGE) continue;
    emptyPolls = events.length === 0 ? emptyPolls + 1 : 0;
    // A run that ended before our cursor sends nothing more: ask for its status now and then.
    if (emptyPolls % 10 === 1) {
      const { body } = await client.get<Record<string, unknown>>(path, { signal });
      const status = typeof body?.status === 'string' ? body.status : undefined;
      const lastSeq = typeof body?.lastSeq === 'number' ? body.lastSeq : Infinity;
      if (status && TERMINAL_STATUSES.has(status) && lastSeq <= cursor)
        return { status, lastSeq: cursor };
    }
    await sleep(interval, signal);
  }
  return { status: null, lastSeq: cursor };
}

/** The events of a GET …/events answer: a bare array or `{ events: [...] }`. */
export function eventsOf(body: unknown): ProgressEvent[] {
  const list = Array.isArray(body)
    ? body
    : typeof body === 'object' &&
        body !== null &&
        Array.isArray((body as { events?: unknown }).events)
      ? (body as { events: unknown[] }).events
      : [];
  return list.filter(
    (e): e is ProgressEvent =>
      typeof e === 'object' && e !== null && typeof (e as ProgressEvent).runSeq === 'number',
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
