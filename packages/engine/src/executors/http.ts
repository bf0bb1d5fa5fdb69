/**
 * The http executor: one request with a timeout and an expected status, through the SSRF
 * guard. The socket goes to the address the guard checked; aborting the step destroys it.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { HttpParams } from '@dvt/contracts';
import { Allowlist, resolveGuarded, systemResolver, type Resolver } from './ssrf.ts';
import { StepError, type ExecutorContext, type ExecutorResult } from './types.ts';

export interface HttpExecutorOptions {
  allowlist: Allowlist;
  /** Largest response body kept, in bytes; the rest is read and dropped. */
  maxResponseBytes: number;
  resolver?: Resolver;
  /** Timeout when the step names none, in ms (default 30 s). */
  defaultTimeoutMs?: number;
}

export async function runHttp(
  params: HttpParams,
  options: HttpExecutorOptions,
  ctx: ExecutorContext,
): Promise<ExecutorResult> {
  const url = new URL(params.url);
  const resolved = await resolveGuarded(
    url.hostname,
    options.allowlist,
    options.resolver ?? systemResolver,
  );
  const timeoutMs = params.timeoutMs ?? options.defaultTimeoutMs ?? 30_000;
  const method = params.method ?? 'GET';
  const expected = Array.isArray(params.expectStatus)
    ? params.expectStatus
    : [params.expectStatus ?? 200];
  const headers: Record<string, string> = { ...params.headers };
  let body: string | undefined;
  if (params.body !== undefined && method !== 'GET' && method !== 'HEAD') {
    body = typeof params.body === 'string' ? params.body : JSON.stringify(params.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = typeof params.body === 'string' ? 'text/plain' : 'application/json';
    }
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  // Pin the connection to the checked address; the Host header and TLS name stay the URL's.
  const pinned: LookupFunction = (_hostname, opts, callback) => {
    if ((opts as { all?: boolean }).all) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        resolved,
      ]);
    } else {
      callback(null, resolved.address, resolved.family);
    }
  };
  const started = Date.now();
  ctx.log.info('http request', { method, url: redactUrl(url), address: resolved.address });
  const response = await new Promise<{ status: number; body: string; bytes: number }>(
    (resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(
        url,
        { method, headers, lookup: pinned, agent: false, signal: ctx.signal, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let kept = 0;
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (kept < options.maxResponseBytes) {
              const slice = chunk.subarray(0, options.maxResponseBytes - kept);
              chunks.push(slice);
              kept += slice.length;
            }
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              bytes,
            }),
          );
          res.on('error', reject);
        },
      );
      const timer = setTimeout(() => {
        req.destroy(
          new StepError(
            'HTTP_TIMEOUT',
            `no complete answer from ${url.host} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => {
        req.destroy(
          new StepError(
            'HTTP_TIMEOUT',
            `the connection to ${url.host} was idle for ${timeoutMs} ms`,
          ),
        );
      });
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(body);
    },
  ).catch((error: unknown) => {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (error instanceof StepError) throw error;
    throw new StepError(
      'HTTP_REQUEST_FAILED',
      `${method} ${redactUrl(url)} failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  });
  const elapsedMs = Date.now() - started;
  ctx.log.info('http response', { status: response.status, bytes: response.bytes, elapsedMs });
  const output = {
    method,
    url: redactUrl(url),
    status: response.status,
    bytes: response.bytes,
    elapsedMs,
  };
  if (!expected.includes(response.status)) {
    throw new StepError(
      'HTTP_UNEXPECTED_STATUS',
      `${method} ${redactUrl(url)} answered ${response.status}; the step expects ${expected.join(' or ')}`,
      { retryable: response.status >= 500 || response.status === 429, details: output },
    );
  }
  return { output: { ...output, body: response.body.slice(0, 4096) } };
}

/** The URL without credentials or query string, safe for logs and events. */
function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export { Allowlist };
