/** Exponential backoff with full jitter, bounded. */
export interface BackoffOptions {
  /** First delay in ms (default 200). */
  initialMs?: number;
  /** Largest delay in ms (default 10 000). */
  maxMs?: number;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 10_000;
  const ceiling = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls `fn` until it succeeds, waiting with backoff between attempts; stops (rejecting) when
 * `signal` aborts. `onError` sees every failure, e.g. to log it once per attempt.
 */
export async function retryForever<T>(
  fn: (attempt: number) => Promise<T>,
  options: BackoffOptions & {
    signal?: AbortSignal;
    onError?: (error: unknown, attempt: number, delayMs: number) => void;
  },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      const delay = backoffDelay(attempt, options);
      options.onError?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
