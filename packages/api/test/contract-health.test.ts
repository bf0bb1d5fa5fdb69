/** The OpenAPI document generated from the route table, the docs page, and /healthz with S3. */
import { randomBytes } from 'node:crypto';
import { testInfra, testMinioEndpoint } from '@dvt/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './helpers.ts';

let api: ApiHarness;
const bucket = `api-health-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  api = await startApi({
    ARTIFACT_S3_ENDPOINT: testMinioEndpoint,
    ARTIFACT_S3_ACCESS_KEY: testInfra.minioAccessKey,
    ARTIFACT_S3_SECRET_KEY: testInfra.minioSecretKey,
    ARTIFACT_S3_BUCKET: bucket,
  });
});

afterAll(async () => {
  await api?.close();
});

describe('contract', () => {
  it('serves OpenAPI 3.1 with an operation for every HTTP route of the table', async () => {
    const doc = await api.call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const operations = Object.values(
      doc.body.paths as Record<string, Record<string, { operationId: string }>>,
    )
      .flatMap((methods) => Object.values(methods).map((op) => op.operationId))
      .sort();
    const expected = api.service.routes
      .filter((r) => r.kind !== 'websocket')
      .map((r) => r.id)
      .sort();
    expect(operations).toEqual(expected);
    const start = doc.body.paths['/v1/projects/{projectId}/runs'].post;
    expect(
      start.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`).sort(),
    ).toEqual(['header:idempotency-key', 'path:projectId']);
    expect(
      Object.keys(start.requestBody.content['application/json'].schema.properties).sort(),
    ).toEqual(['environment', 'planId', 'planVersion']);
  });

  it('serves browsable docs at /docs', async () => {
    const res = await fetch(`${api.baseUrl}/docs/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
  });
});

describe('health', () => {
  it('probes postgres, temporal and the S3 store', async () => {
    let body: { status: string; checks: Record<string, { ok: boolean }> } | undefined;
    for (let i = 0; i < 100; i++) {
      const res = await api.call('GET', '/healthz');
      body = res.body;
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(body!.status).toBe('ok');
    expect(Object.keys(body!.checks).sort()).toEqual(['postgres', 's3', 'temporal']);
    expect(body!.checks.s3!.ok).toBe(true);
  });

  it('reports the S3 store down with a wrong secret, without the secret', async () => {
    const wrong = await startApi(
      {
        ARTIFACT_S3_ENDPOINT: testMinioEndpoint,
        ARTIFACT_S3_ACCESS_KEY: testInfra.minioAccessKey,
        ARTIFACT_S3_SECRET_KEY: 'not-the-secret-key-123',
        ARTIFACT_S3_BUCKET: bucket,
      },
      api.db,
    );
    try {
      const res = await wrong.call('GET', '/healthz');
      expect(res.status).toBe(503);
      expect(res.body.checks.s3.ok).toBe(false);
      expect(JSON.stringify(res.body)).not.toContain('not-the-secret-key-123');
    } finally {
      await wrong.close();
    }
  });
});
