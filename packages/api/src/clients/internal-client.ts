/**
 * Calls to the planner and the engine: the internal token on every request, a timeout on
 * every attempt, and retries only where repeating the call cannot do anything twice — reads,
 * calls the receiver deduplicates (signals carry a signalId), and any call whose connection
 * was refused (the request never reached the service). A dependency that does not answer
 * becomes a 503 DEPENDENCY_UNAVAILABLE naming it; a problem+json it returns is passed on
 * with its code.
 */
import { errorCodes, type ErrorCode } from '@dvt/contracts';
import { ProblemError, type Logger } from '@dvt/service-kit';

export interface InternalClientOptions {
  /** `planner` or `engine`; named in errors. */
  name: string;
  baseUrl: string;
  token: string;
  timeoutMs: number;
  log: Logger;
}

export interface CallOptions {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** true: timeouts and 5xx answers are retried too. */
  idempotent: boolean;
  /** Overrides the client's timeout for this call, in ms. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

const ATTEMPTS = 3;

export class InternalClient {
  readonly #options: InternalClientOptions;

  constructor(options: InternalClientOptions) {
    this.#options = options;
  }

  get name(): string {
    return this.#options.name;
  }

  async call<T>(options: CallOptions): Promise<T> {
    const { name, log } = this.#options;
    let lastProblem: ProblemError | undefined;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const outcome = await this.#attempt(options);
      if (outcome.kind === 'ok') return outcome.value as T;
      if (outcome.kind === 'problem') throw outcome.problem;
      lastProblem = outcome.problem;
      const retry = outcome.kind === 'refused' || options.idempotent;
      if (!retry || attempt === ATTEMPTS) break;
      log.warn(
        { dependency: name, path: options.path, attempt, err: outcome.problem.message },
        'internal call failed; retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
    throw lastProblem!;
  }

  async #attempt(
    options: CallOptions,
  ): Promise<
    | { kind: 'ok'; value: unknown }
    | { kind: 'problem'; problem: ProblemError }
    | { kind: 'refused' | 'failed'; problem: ProblemError }
  > {
    const { name, baseUrl, token } = this.#options;
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    let response: Response;
    try {
      response = await fetch(new URL(options.path, baseUrl), {
        method: options.method,
        headers: {
          'x-internal-token': token,
          accept: 'application/json',
          ...options.headers,
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const refused = causeCode(error) === 'ECONNREFUSED';
      const timedOut = (error as Error).name === 'TimeoutError';
      const why = timedOut
        ? `did not answer within ${timeoutMs} ms`
        : refused
          ? 'refused the connection'
          : 'could not be reached';
      return { kind: refused ? 'refused' : 'failed', problem: unavailable(name, why, error) };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      return { kind: 'failed', problem: unavailable(name, 'broke off its answer', error) };
    }
    const parsed = parseJson(text);
    if (response.ok) return { kind: 'ok', value: parsed };
    if (response.status === 401 || response.status === 403) {
      return {
        kind: 'problem',
        problem: unavailable(
          name,
          'refused the internal token (check INTERNAL_API_TOKEN on both sides)',
        ),
      };
    }
    if (response.status === 500 && isProblem(parsed)) {
      // The service answered, and failed on this request: a bug there, not an outage, so it
      // is not retried and not reported as "retry later".
      return {
        kind: 'problem',
        problem: new ProblemError(
          'INTERNAL_ERROR',
          `the ${name} failed on this request: ${String(parsed.detail ?? parsed.title ?? 'no detail')}. Retrying will not help; this is a bug to report`,
          { dependency: name },
        ),
      };
    }
    if (response.status >= 500 || parsed === undefined) {
      return { kind: 'failed', problem: unavailable(name, `answered ${response.status}`) };
    }
    return { kind: 'problem', problem: passOn(name, response.status, parsed) };
  }
}

function isProblem(body: unknown): body is { detail?: unknown; title?: unknown } {
  return typeof body === 'object' && body !== null && 'code' in body;
}

function unavailable(name: string, why: string, cause?: unknown): ProblemError {
  return new ProblemError(
    'DEPENDENCY_UNAVAILABLE',
    `the ${name} ${why}; retry later`,
    { dependency: name },
    { cause },
  );
}

/** A 4xx problem of the dependency becomes ours, keeping its code and its extra members. */
function passOn(name: string, status: number, body: unknown): ProblemError {
  const problem = (typeof body === 'object' && body !== null ? body : {}) as Record<
    string,
    unknown
  >;
  const code =
    typeof problem.code === 'string' && problem.code in errorCodes
      ? (problem.code as ErrorCode)
      : undefined;
  const detail =
    typeof problem.detail === 'string' ? problem.detail : `the ${name} answered ${status}`;
  const {
    type: _t,
    title: _ti,
    status: _s,
    code: _c,
    detail: _d,
    instance: _i,
    ...extensions
  } = problem;
  return new ProblemError(
    code ?? (status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED'),
    detail,
    extensions,
  );
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const inner = (current as { errors?: unknown[] }).errors;
    current =
      Array.isArray(inner) && inner.length > 0 ? inner[0] : (current as { cause?: unknown }).cause;
  }
  return undefined;
}
