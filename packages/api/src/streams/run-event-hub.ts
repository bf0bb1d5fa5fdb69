/**
 * Wake-ups for live streams, on the store's RunEventListener (LISTEN on `dvt_run_events`).
 * A stream watches its run for its whole life, so a notification that arrives while it is
 * reading is not lost: the watch stays dirty and the next wait returns at once. Notifications
 * only say "look again" — streams always read events by runSeq — so a missed one delays a
 * stream by at most its poll interval and never loses or reorders an event.
 */
import type { RunEventListener } from '@dvt/store';

export interface RunWatch {
  /** Resolves at the next notification (or at once if one came since the last wait), after `timeoutMs`, or on abort. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

export class RunEventHub {
  readonly #listener: RunEventListener;

  constructor(listener: RunEventListener) {
    this.#listener = listener;
  }

  watch(runId: string): RunWatch {
    let dirty = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.#listener.subscribe(runId, () => {
      dirty = true;
      wake?.();
    });
    return {
      wait(timeoutMs, signal) {
        if (dirty || signal.aborted) {
          dirty = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            wake = undefined;
            dirty = false;
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          signal.addEventListener('abort', done, { once: true });
          wake = done;
        });
      },
      close: unsubscribe,
    };
  }
}
