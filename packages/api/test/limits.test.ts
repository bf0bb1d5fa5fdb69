/**
 * Body and upload limits (field case fastify #5533): ordinary JSON routes refuse a body over
 * their limit promptly with a 413 problem; artifact uploads stream, are counted while they
 * arrive, and store nothing when they pass ARTIFACT_MAX_BYTES.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './helpers.ts';

let api: ApiHarness;
let author: string;
const MAX = 1024 * 1024;

beforeAll(async () => {
  api = await startApi({ ARTIFACT_MAX_BYTES: String(MAX) });
  author = await api.token('lim', ['admin']);
});

afterAll(async () => {
  await api?.close();
});

/** Sends a body in chunks with node:http, so the test sees when the server answers. */
function send(
  path: string,
  headers: Record<string, string | number>,
  chunks: Buffer[],
): Promise<{ status: number; body: Record<string, unknown>; sentBytes: number }> {
  return new Promise((resolve) => {
    let sentBytes = 0;
    let answered = false;
    const req = request(
      { host: '127.0.0.1', port: api.port, path, method: 'POST', headers },
      (res) => {
        answered = true;
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), sentBytes }),
        );
      },
    );
    // A server that refuses a body closes the connection; a client still writing may see
    // EPIPE/ECONNRESET instead of the answer, which also means "refused before the end".
    req.on('error', (err) =>
      answered
        ? undefined
        : resolve({ status: -1, body: { error: (err as NodeJS.ErrnoException).code }, sentBytes }),
    );
    const pump = (i: number) => {
      if (answered || i >= chunks.length) {
        req.end();
        return;
      }
      sentBytes += chunks[i]!.length;
      req.write(chunks[i]!, () => setTimeout(() => pump(i + 1), 5));
    };
    pump(0);
  });
}

async function artifactCount(): Promise<number> {
  const { rows } = await api.service.database.pool.query<{ n: number }>(
    "select count(*)::int as n from artifacts where tenant_id = 'lim'",
  );
  return rows[0]!.n;
}

describe('JSON body limit', () => {
  it('answers a 2 MB body on a JSON route with a 413 problem before reading it all', async () => {
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(32 * 1024, 0x20));
    const res = await send(
      '/v1/projects',
      {
        'content-type': 'application/json',
        'content-length': 64 * 32 * 1024,
        authorization: `Bearer ${author}`,
      },
      chunks,
    );
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.detail).toBe("the body exceeds this route's limit of 1048576 bytes");
    expect(res.sentBytes).toBeLessThan(64 * 32 * 1024);
  });
});

describe('artifact uploads', () => {
  it('stores an upload and gives back the same bytes, once', async () => {
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const sha = createHash('sha256').update(bytes).digest('hex');
    const put = await api.call('POST', '/v1/artifacts', {
      token: author,
      body: bytes.toString('latin1'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
    expect(put.body.sha256).toBe(
      createHash('sha256')
        .update(Buffer.from(bytes.toString('latin1'), 'utf8'))
        .digest('hex'),
    );
    const raw = await fetch(`${api.baseUrl}/v1/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${author}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    const stored = (await raw.json()) as { sha256: string; sizeBytes: number };
    expect(stored).toMatchObject({ sha256: sha, sizeBytes: 300_000 });
    const again = await fetch(`${api.baseUrl}/v1/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${author}` },
      body: bytes,
    });
    expect(again.status).toBe(200);
    const got = await fetch(`${api.baseUrl}/v1/artifacts/${sha}`, {
      headers: { authorization: `Bearer ${author}` },
    });
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses a declared size over the limit at once, storing nothing', async () => {
    const before = await artifactCount();
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(32 * 1024, 7));
    const res = await send(
      '/v1/artifacts',
      {
        'content-type': 'application/octet-stream',
        'content-length': 64 * 32 * 1024,
        authorization: `Bearer ${author}`,
      },
      chunks,
    );
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('ARTIFACT_TOO_LARGE');
    expect(res.sentBytes).toBeLessThan(64 * 32 * 1024);
    expect(await artifactCount()).toBe(before);
  });

  it('stops a chunked upload without a length once it passes the limit, storing nothing', async () => {
    const before = await artifactCount();
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(32 * 1024, i));
    const res = await send(
      '/v1/artifacts',
      {
        'content-type': 'application/octet-stream',
        'transfer-encoding': 'chunked',
        authorization: `Bearer ${author}`,
      },
      chunks,
    );
    if (res.status === -1) {
      expect(['EPIPE', 'ECONNRESET']).toContain(res.body.error);
    } else {
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('ARTIFACT_TOO_LARGE');
    }
    expect(res.sentBytes).toBeLessThan(64 * 32 * 1024);
    expect(await artifactCount()).toBe(before);
  });

  it('answers 404 ARTIFACT_NOT_FOUND for an unknown sha256 and 400 for a malformed one', async () => {
    const missing = await api.call('GET', `/v1/artifacts/${'0'.repeat(64)}`, { token: author });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('ARTIFACT_NOT_FOUND');
    const malformed = await api.call('GET', '/v1/artifacts/xyz', { token: author });
    expect(malformed.status).toBe(400);
    expect(malformed.body.detail).toBe(
      'invalid path: params.sha256: must be 64 lower-case hex digits',
    );
  });
});
