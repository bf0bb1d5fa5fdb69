import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dvt/packaging';

// The container healthcheck script, run with the node that runs these tests.
const script = repoPath('docker/node-healthcheck.mjs');

let server: Server;
let port: number;
let status = 200;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    if (status === 0) return; // hang: never answer
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: status === 200 ? 'ok' : 'degraded' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function probe(env: Record<string, string>) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [script], {
      env: { ...env, PATH: process.env.PATH ?? '' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('docker/node-healthcheck.mjs', () => {
  it('exits 0 when /healthz answers 200', async () => {
    status = 200;
    expect(await probe({ PORT: String(port) })).toEqual({ code: 0, stderr: '' });
  });

  it('exits 1 and says why when /healthz answers 503', async () => {
    status = 503;
    const result = await probe({ PORT: String(port) });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `healthcheck: http://127.0.0.1:${port}/healthz answered 503: {"status":"degraded"}\n`,
    );
  });

  it('exits 1 within the timeout when /healthz hangs', async () => {
    status = 0;
    const started = Date.now();
    const result = await probe({ PORT: String(port), HEALTHCHECK_TIMEOUT_MS: '300' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `healthcheck: http://127.0.0.1:${port}/healthz did not answer within 300 ms\n`,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('exits 1 when nothing listens on PORT', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = spawnSync(process.execPath, [script], {
      env: { PORT: String(freePort), PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `healthcheck: http://127.0.0.1:${freePort}/healthz could not be reached (ECONNREFUSED)\n`,
    );
  });
});
