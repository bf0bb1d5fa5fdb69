/**
 * A small client of the public API (DESIGN §10). Every answer outside 2xx becomes an ApiError
 * carrying the problem+json body; a request that reaches nobody becomes a ConnectionError.
 */
import { ApiError, ConnectionError } from './errors.ts';

export interface ApiClientOptions {
  /** Base URL of the api, e.g. `http://localhost:8080` (a trailing slash is ignored). */
  baseUrl: string;
  /** Bearer token sent on every request; none when undefined. */
  token?: string | undefined;
  /** Timeout of one ordinary request, in ms (default 120000: compiling a large manifest). */
  timeoutMs?: number;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** Statuses outside 2xx that are answers rather than errors (e.g. 409 for "exists"). */
  accept?: readonly number[];
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      accept: 'application/json, application/problem+json',
      ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
      ...extra,
    };
  }

  async request<T = unknown>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse<T>> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const hasBody = options.body !== undefined;
    let response: Response;
    try {
      response = await fetch(this.url(path, options.query), {
        method,
        headers: this.headers({
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        }),
        body: hasBody ? JSON.stringify(options.body) : undefined,
        signal,
      });
    } catch (error) {
      throw this.connectionError(error, timeout);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.connectionError(error, timeout);
    }
    const body = parseBody(text);
    if (response.ok || options.accept?.includes(response.status)) {
      return { status: response.status, body: body as T };
    }
    throw new ApiError(response.status, problemOf(body, text));
  }

  get<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, options);
  }

  post<T = unknown>(
    path: string,
    body: unknown,
    options?: RequestOptions,
  ): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, { ...options, body });
  }

  /**
   * Opens a Server-Sent Events stream; the caller reads `response.body`. A non-2xx answer
   * is an ApiError, no answer a ConnectionError. No timeout: streams are long-lived.
   */
  async openStream(
    path: string,
    query: RequestOptions['query'],
    signal: AbortSignal,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.url(path, query), {
        headers: this.headers({ accept: 'text/event-stream' }),
        signal,
      });
    } catch (error) {
      throw this.connectionError(error);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new ApiError(response.status, problemOf(parseBody(text), text));
    }
    return response;
  }

  connectionError(error: unknown, timeout?: AbortSignal): Error {
    if (timeout?.aborted) {
      return new ConnectionError(this.baseUrl, {
        cause: error,
        message: `the api at ${this.baseUrl} did not answer within ${this.#timeoutMs / 1000}s`,
      });
    }
    if (error instanceof Error && error.name === 'AbortError') return error;
    return new ConnectionError(this.baseUrl, { cause: error });
  }
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function problemOf(body: unknown, text: string): Record<string, unknown> {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    return body as Record<string, unknown>;
  }
  const detail = text.trim().slice(0, 200);
  return detail ? { detail } : {};
}
