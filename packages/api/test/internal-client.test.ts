/**
 * How the api reports what the planner or engine answered: a service that fails on a request
 * (500 with a problem) is a bug there — reported as INTERNAL_ERROR at once, not retried, not
 * "retry later"; a service that is unavailable (503, no answer) is DEPENDENCY_UNAVAILABLE and
 * retried when the call may be repeated. Against a real HTTP server on loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@dvt/service-kit';
import { InternalClient } from '../src/clients/internal-client.ts';

let server: http.Server;
let calls: string[] = [];
let client: InternalClient;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    calls.push(req.url!);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/bug')
      send(500, {
        code: 'INTERNAL_ERROR',
        title: 'Internal error',
        detail: 'unexpected error; quote request id r-1',
      });
    else send(503, { code: 'DEPENDENCY_UNAVAILABLE', detail: 'postgres is down' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new InternalClient({
    name: 'planner',
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 't',
    timeoutMs: 2_000,
    log: createLogger({ service: 'api-test', level: 'silent' }),
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function problemOf(path: string) {
  calls = [];
  try {
    await client.call({ method: 'POST', path, body: {}, idempotent: true });
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a problem');
}

describe('InternalClient', () => {
  it('reports a 500 problem as INTERNAL_ERROR once, with the service’s detail', async () => {
    const problem = await problemOf('/bug');
    expect(problem.code).toBe('INTERNAL_ERROR');
    expect(problem.message).toBe(
      'the planner failed on this request: unexpected error; quote request id r-1. Retrying will not help; this is a bug to report',
    );
    expect(calls).toEqual(['/bug']);
  });

  it('reports a 503 as DEPENDENCY_UNAVAILABLE after retrying an idempotent call', async () => {
    const problem = await problemOf('/down');
    expect(problem.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(problem.message).toBe('the planner answered 503; retry later');
    expect(calls).toEqual(['/down', '/down', '/down']);
  });
});
