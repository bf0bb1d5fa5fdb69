/**
 * Wake-ups for live streams and relays: one dedicated connection LISTENs on
 * `dvt_run_events`, whose payload is a runId (sent by the append function on commit).
 *
 * A notification only says "read again"; readers always fetch events by runSeq from the
 * store, so a lost notification costs latency, never data. After the connection drops and
 * comes back, every subscriber is woken once, because notifications sent meanwhile are gone.
 */
import { backoffDelay, errorText, sleep, type BackoffOptions, type Logger } from '@dvt/service-kit';
import pg from 'pg';

export const RUN_EVENTS_CHANNEL = 'dvt_run_events';

export interface RunEventListenerOptions {
  /** Database to listen on; the listener opens its own connection (not from a pool). */
  connectionString: string;
  log: Logger;
  /** Reconnect backoff (default 200 ms doubling to 5 s). */
  reconnect?: BackoffOptions;
}

type RunCallback = () => void;
type AnyCallback = (runId: string) => void;

export class RunEventListener {
  readonly #options: RunEventListenerOptions;
  readonly #byRun = new Map<string, Set<RunCallback>>();
  readonly #any = new Set<AnyCallback>();
  #controller: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #client: pg.Client | undefined;
  #connected = false;
  #readyWaiters: (() => void)[] = [];

  constructor(options: RunEventListenerOptions) {
    this.#options = options;
  }

  /** true while the LISTEN connection is up. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Starts listening in the background (retrying until the database answers); safe twice. */
  start(): void {
    if (this.#loop) return;
    this.#controller = new AbortController();
    this.#loop = this.#run(this.#controller.signal);
  }

  /** Resolves once the listener is connected (the first time, or again after a drop). */
  ready(signal?: AbortSignal): Promise<void> {
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== done);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#readyWaiters.push(done);
    });
  }

  /** Calls `callback` whenever `runId` may have new events. Returns the unsubscribe function. */
  subscribe(runId: string, callback: RunCallback): () => void {
    let set = this.#byRun.get(runId);
    if (!set) this.#byRun.set(runId, (set = new Set()));
    set.add(callback);
    return () => {
      set.delete(callback);
      if (set.size === 0 && this.#byRun.get(runId) === set) this.#byRun.delete(runId);
    };
  }

  /** Calls `callback` with the runId of every notification (and '*' after a reconnect). */
  subscribeAll(callback: AnyCallback): () => void {
    this.#any.add(callback);
    return () => this.#any.delete(callback);
  }

  /** Closes the connection and stops reconnecting; safe twice. */
  async stop(): Promise<void> {
    this.#controller?.abort();
    await this.#client?.end().catch(() => undefined);
    await this.#loop;
    this.#loop = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { log } = this.#options;
    let failures = 0;
    let everConnected = false;
    while (!signal.aborted) {
      const client = new pg.Client({
        connectionString: this.#options.connectionString,
        application_name: 'dvt-run-event-listener',
      });
      this.#client = client;
      const closed = new Promise<void>((resolve) => {
        client.once('end', resolve);
        client.once('error', (err) => {
          log.warn({ err: { message: err.message } }, 'run event listener connection lost');
          resolve();
        });
      });
      try {
        await client.connect();
        client.on('notification', (msg) => this.#dispatch(msg.payload ?? ''));
        await client.query(`listen ${RUN_EVENTS_CHANNEL}`);
      } catch (error) {
        await client.end().catch(() => undefined);
        if (signal.aborted) break;
        failures++;
        const delay = backoffDelay(failures, {
          initialMs: 200,
          maxMs: 5_000,
          ...this.#options.reconnect,
        });
        log.warn(
          { err: errorText(error), attempt: failures, delayMs: delay },
          'run event listener cannot connect',
        );
        await sleep(delay, signal).catch(() => undefined);
        continue;
      }
      failures = 0;
      this.#connected = true;
      log.debug({ reconnect: everConnected }, 'run event listener connected');
      for (const waiter of this.#readyWaiters.splice(0)) waiter();
      // Anything sent while we were away is lost: wake everyone to re-read.
      if (everConnected) this.#wakeAll();
      everConnected = true;
      await closed;
      this.#connected = false;
      await client.end().catch(() => undefined);
    }
    this.#connected = false;
  }

  #dispatch(runId: string): void {
    for (const callback of this.#byRun.get(runId) ?? []) callback();
    for (const callback of this.#any) callback(runId);
  }

  #wakeAll(): void {
    for (const set of this.#byRun.values()) for (const callback of set) callback();
    for (const callback of this.#any) callback('*');
  }
}

export function createRunEventListener(options: RunEventListenerOptions): RunEventListener {
  return new RunEventListener(options);
}
