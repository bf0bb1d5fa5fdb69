/**
 * What every step executor gets and returns. An executor does one step's work, stops promptly
 * when `signal` aborts (cancellation or the step's timeout), and throws {@link StepError} for
 * failures whose retryability it knows.
 */
export interface StepLog {
  /** Appends a line to the step's log artifact. */
  info(message: string, fields?: Record<string, unknown>): void;
  readonly lines: readonly string[];
}

export interface ExecutorContext {
  signal: AbortSignal;
  log: StepLog;
}

/** What a dbt step reports, for run_results.json. */
export interface DbtNodeResult {
  status: 'success' | 'error' | 'skipped' | 'pass' | 'fail' | 'warn';
  message: string | null;
  failures: number | null;
  relationName: string | null;
  compiledCode: string | null;
  adapterResponse: Record<string, unknown>;
}

export interface ExecutorResult {
  /** Small summary stored in the StepCompleted event and as the step's output artifact. */
  output: Record<string, unknown>;
  /** Set when the step passed with a warning (dbt test of severity warn). */
  warning?: string;
  dbt?: DbtNodeResult;
}

export class StepError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    options: { retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StepError';
    this.code = code;
    this.retryable = options.retryable ?? true;
    this.details = options.details ?? {};
  }
}

export function isStepError(error: unknown): error is StepError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'StepError' &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

export function createStepLog(): StepLog {
  const lines: string[] = [];
  return {
    lines,
    info(message, fields) {
      const stamp = new Date().toISOString();
      lines.push(fields ? `${stamp} ${message} ${JSON.stringify(fields)}` : `${stamp} ${message}`);
    },
  };
}

/** Rejects with the signal's reason as soon as it aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
