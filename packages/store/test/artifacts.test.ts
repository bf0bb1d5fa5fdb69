import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Readable } from 'node:stream';
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ConfigError, isProblemError } from '@dvt/service-kit';
import { testInfra, testMinioEndpoint } from '@dvt/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PostgresArtifactStore,
  S3ArtifactStore,
  createArtifactStore,
  createS3Client,
  loadArtifactConfig,
  type ArtifactStore,
} from '../src/index.ts';
import { createMigratedDatabase, silentLog, type MigratedDatabase } from './helpers.ts';

const run = promisify(execFile);
let env: MigratedDatabase;
const bucket = `store-art-${randomBytes(4).toString('hex')}`;
const buckets: string[] = [bucket];
const admin: S3Client = createS3Client({
  endpoint: testMinioEndpoint,
  region: 'us-east-1',
  accessKeyId: testInfra.minioAccessKey,
  secretAccessKey: testInfra.minioSecretKey,
});

function s3Config(endpoint = testMinioEndpoint, bucketName = bucket, maxBytes = 64 * 1024 * 1024) {
  return {
    ARTIFACT_S3_ENDPOINT: endpoint,
    ARTIFACT_S3_ACCESS_KEY: testInfra.minioAccessKey,
    ARTIFACT_S3_SECRET_KEY: testInfra.minioSecretKey,
    ARTIFACT_S3_BUCKET: bucketName,
    ARTIFACT_S3_REGION: 'us-east-1',
    ARTIFACT_MAX_BYTES: maxBytes,
  };
}

const pgConfig = (maxBytes = 64 * 1024 * 1024) => ({
  ...s3Config(),
  ARTIFACT_S3_ENDPOINT: undefined,
  ARTIFACT_MAX_BYTES: maxBytes,
});

beforeAll(async () => {
  env = await createMigratedDatabase(6);
});

afterAll(async () => {
  for (const name of buckets) {
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: name })).catch(() => null);
    const keys = (listed?.Contents ?? []).map((o) => ({ Key: o.Key as string }));
    if (keys.length > 0)
      await admin.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys } }));
    await admin.send(new DeleteBucketCommand({ Bucket: name })).catch(() => undefined);
  }
  admin.destroy();
  await env.close();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tamper(
  store: ArtifactStore,
  tenantId: string,
  digest: string,
  bytes: Buffer,
): Promise<void> {
  if (store instanceof S3ArtifactStore) {
    await admin.send(
      new PutObjectCommand({ Bucket: store.bucket, Key: `${tenantId}/${digest}`, Body: bytes }),
    );
    return;
  }
  const client = await env.pool.connect();
  try {
    await client.query('begin');
    await client.query('alter table artifact_blobs disable trigger artifact_blobs_immutable');
    await client.query(
      `update artifact_blobs set data = $2 where seq = 0 and blob_id = (select blob_id from artifacts where sha256 = $1 and tenant_id = $3)`,
      [digest, bytes, tenantId],
    );
    await client.query('alter table artifact_blobs enable trigger artifact_blobs_immutable');
    await client.query('commit');
  } finally {
    client.release();
  }
}

describe.each([
  ['postgres', () => createArtifactStore(pgConfig(), { pool: env.pool, log: silentLog })],
  ['s3', () => createArtifactStore(s3Config(), { pool: env.pool, log: silentLog })],
] as const)('the %s backend', (backend, make) => {
  let store: ArtifactStore;
  beforeAll(async () => {
    store = make();
    await store.init();
  });
  afterAll(async () => {
    await store.close();
  });

  it('round-trips bytes, with metadata, and a second put of the same bytes is a no-op', async () => {
    expect(store.backend).toBe(backend);
    const bytes = Buffer.from(`{"hello":"${backend}"}`);
    const first = await store.put('tenant-a', bytes, {
      kind: 'plan',
      contentType: 'application/json',
      createdBy: 'alice',
    });
    expect(first).toEqual({
      sha256: sha(bytes),
      sizeBytes: bytes.length,
      uri:
        backend === 's3'
          ? `s3://${bucket}/tenant-a/${sha(bytes)}`
          : `pg://artifacts/tenant-a/${sha(bytes)}`,
      created: true,
    });
    const again = await store.put('tenant-a', Readable.from([bytes]), {
      kind: 'plan',
      createdBy: 'bob',
    });
    expect(again).toEqual({ ...first, created: false });

    const meta = await store.head('tenant-a', first.sha256);
    expect(meta).toMatchObject({
      tenantId: 'tenant-a',
      sha256: first.sha256,
      kind: 'plan',
      sizeBytes: bytes.length,
      contentType: 'application/json',
      backend,
      createdBy: 'alice',
      uri: first.uri,
    });
    const { stream } = await store.get('tenant-a', first.sha256);
    expect((await readStream(stream)).equals(bytes)).toBe(true);
    const { rows } = await env.pool.query(
      'select count(*)::int as n from artifacts where sha256 = $1',
      [first.sha256],
    );
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('streams a 50 MB file in and out without holding it in memory', async () => {
    const size = 50 * 1024 * 1024;
    const vars = backend === 's3' ? s3Config() : pgConfig();
    const childEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: env.db.url,
      ARTIFACT_TEST_BYTES: String(size),
      ARTIFACT_S3_BUCKET: vars.ARTIFACT_S3_BUCKET,
      ARTIFACT_MAX_BYTES: String(vars.ARTIFACT_MAX_BYTES),
    };
    if (vars.ARTIFACT_S3_ENDPOINT) {
      Object.assign(childEnv, {
        ARTIFACT_S3_ENDPOINT: vars.ARTIFACT_S3_ENDPOINT,
        ARTIFACT_S3_ACCESS_KEY: vars.ARTIFACT_S3_ACCESS_KEY,
        ARTIFACT_S3_SECRET_KEY: vars.ARTIFACT_S3_SECRET_KEY,
      });
    }
    const { stdout } = await run(
      process.execPath,
      [
        '--expose-gc',
        '--conditions=source',
        new URL('./fixtures/artifact-roundtrip.ts', import.meta.url).pathname,
      ],
      { env: childEnv, maxBuffer: 1024 * 1024 },
    );
    const result = JSON.parse(stdout) as Record<string, string | number>;
    expect(result.sizeBytes).toBe(size);
    expect(result.readBytes).toBe(size);
    expect(result.stored).toBe(result.sent);
    expect(result.read).toBe(result.sent);
    // Holding the file would retain at least 50 MiB; streaming keeps a few parts alive at a time
    // (the measure is noisy: GC timing and socket buffers move it by 10-20 MiB).
    expect(result.peakRetainedBytes).toBeLessThan(45 * 1024 * 1024);
    expect((await store.head('tenant-mem', String(result.stored)))?.sizeBytes).toBe(size);
  });

  it('keeps tenants apart', async () => {
    const bytes = Buffer.from(`secret of tenant a (${backend})`);
    const { sha256 } = await store.put('tenant-a', bytes, { kind: 'log', createdBy: 'engine' });
    expect(await store.head('tenant-b', sha256)).toBeNull();
    const error = await store.get('tenant-b', sha256).catch((e: unknown) => e);
    expect(isProblemError(error) && error.code).toBe('ARTIFACT_NOT_FOUND');
    expect((error as Error).message).toBe(`no artifact ${sha256} in this tenant`);
    // tenant b storing the same bytes gets its own record.
    expect((await store.put('tenant-b', bytes, { kind: 'log', createdBy: 'engine' })).created).toBe(
      true,
    );
  });

  it('refuses an artifact over the size limit and stores nothing', async () => {
    const small =
      backend === 's3'
        ? createArtifactStore(s3Config(testMinioEndpoint, bucket, 1000), {
            pool: env.pool,
            log: silentLog,
          })
        : createArtifactStore(pgConfig(1000), { pool: env.pool, log: silentLog });
    const bytes = randomBytes(1001);
    const error = await small
      .put('tenant-a', Readable.from([bytes.subarray(0, 600), bytes.subarray(600)]), {
        kind: 'log',
        createdBy: 'x',
      })
      .catch((e: unknown) => e);
    expect(isProblemError(error) && error.code).toBe('ARTIFACT_TOO_LARGE');
    expect((error as Error).message).toBe(
      'artifact exceeds the limit of 1000 bytes (ARTIFACT_MAX_BYTES); store a smaller file or raise the limit',
    );
    expect(await store.head('tenant-a', sha(bytes))).toBeNull();
    expect(
      (await small.put('tenant-a', bytes.subarray(0, 1000), { kind: 'log', createdBy: 'x' }))
        .sizeBytes,
    ).toBe(1000);
    await small.close();
  });

  it('reads a plan by PlanRef and detects bytes altered in storage', async () => {
    const plan = {
      schemaVersion: 'dvt.execution-plan/v1',
      planId: `p-${backend}`,
      planVersion: '1',
      steps: [],
    };
    const bytes = Buffer.from(JSON.stringify(plan));
    const put = await store.put('tenant-a', bytes, {
      kind: 'plan',
      contentType: 'application/json',
      createdBy: 'planner',
    });
    const ref = {
      uri: put.uri,
      sha256: put.sha256,
      schemaVersion: 'dvt.execution-plan/v1',
      planId: plan.planId,
      planVersion: '1',
      sizeBytes: put.sizeBytes,
    };
    expect((await store.readPlan('tenant-a', ref)).plan).toEqual(plan);

    await tamper(
      store,
      'tenant-a',
      put.sha256,
      Buffer.from(JSON.stringify({ ...plan, planVersion: '2' })),
    );
    const error = await store.readPlan('tenant-a', ref).catch((e: unknown) => e);
    expect(isProblemError(error) && error.code).toBe('PLAN_INTEGRITY_VALIDATION_FAILED');
    expect((error as Error).message).toMatch(
      new RegExp(
        `^plan p-${backend}@1 failed its integrity check: stored bytes hash to [0-9a-f]{64} \\(\\d+ bytes\\), the PlanRef says ${put.sha256} \\(${put.sizeBytes} bytes\\)$`,
      ),
    );
    const { stream } = await store.getVerified('tenant-a', put.sha256);
    const streamError = await readStream(stream).catch((e: unknown) => e);
    expect(isProblemError(streamError) && streamError.code).toBe('ARTIFACT_INTEGRITY_FAILED');
  });

  it('rejects bad options and addresses, saying what is expected', async () => {
    await expect(store.put('tenant-a', 'x', { kind: 'Plan!', createdBy: '' })).rejects.toThrow(
      'invalid artifact options: kind: must be a lower-case name like "plan" or "step-output"; createdBy: must name who stores the artifact',
    );
    await expect(store.head('tenant-a', 'ABC')).rejects.toThrow(
      'sha256 must be 64 lower-case hex characters',
    );
    await expect(store.put('../etc', 'x', { kind: 'log', createdBy: 'x' })).rejects.toThrow(
      /^tenantId must be 1\.\.200 characters/,
    );
  });
});

describe('B15: S3 addressed by host name uses path style', () => {
  it.each([
    ['localhost', `http://localhost:${testInfra.minioPort}`],
    ['127.0.0.1', `http://127.0.0.1:${testInfra.minioPort}`],
  ])(
    'creates the bucket, stores under <tenant>/<sha256>, keeps the ETag, detects tampering (%s)',
    async (host, endpoint) => {
      const name = `b15-${host.replaceAll('.', '-')}-${randomBytes(3).toString('hex')}`;
      buckets.push(name);
      const store = createArtifactStore(s3Config(endpoint, name), {
        pool: env.pool,
        log: silentLog,
      }) as S3ArtifactStore;
      const requests: string[] = [];
      store.client.middlewareStack.add(
        (next) => async (args) => {
          const req = args.request as { hostname: string; port?: number; path: string };
          requests.push(`${req.hostname}:${req.port}${req.path}`);
          return next(args);
        },
        { step: 'finalizeRequest', name: 'recordHosts' },
      );
      try {
        await store.init();
        await store.init();
        const plan = Buffer.from(JSON.stringify({ planId: name, steps: [] }));
        const put = await store.put(`t-${host}`, plan, {
          kind: 'plan',
          contentType: 'application/json',
          createdBy: 'api',
        });
        const key = `t-${host}/${put.sha256}`;

        const listed = await admin.send(new ListObjectsV2Command({ Bucket: name }));
        expect(listed.Contents?.map((o) => o.Key)).toEqual([key]);
        expect(requests.length).toBeGreaterThan(0);
        for (const r of requests)
          expect(r.startsWith(`${host}:${testInfra.minioPort}/${name}`)).toBe(true);
        expect(requests.some((r) => r.includes(`${name}.`))).toBe(false);

        const etag = (await admin.send(new HeadObjectCommand({ Bucket: name, Key: key }))).ETag;
        const again = await store.put(`t-${host}`, plan, { kind: 'plan', createdBy: 'api' });
        expect(again.created).toBe(false);
        expect((await admin.send(new HeadObjectCommand({ Bucket: name, Key: key }))).ETag).toBe(
          etag,
        );

        await admin.send(
          new PutObjectCommand({
            Bucket: name,
            Key: key,
            Body: Buffer.from('{"planId":"evil","steps":[]}'),
          }),
        );
        const ref = {
          uri: put.uri,
          sha256: put.sha256,
          schemaVersion: 'dvt.execution-plan/v1',
          planId: name,
          planVersion: '1',
          sizeBytes: put.sizeBytes,
        };
        const error = await store.readPlan(`t-${host}`, ref).catch((e: unknown) => e);
        expect(isProblemError(error) && error.code).toBe('PLAN_INTEGRITY_VALIDATION_FAILED');
      } finally {
        await store.close();
      }
    },
  );

  it('reports a wrong secret from the probe without printing the secret', async () => {
    const secret = 'wrong-secret-value-4711';
    const store = createArtifactStore(
      { ...s3Config(), ARTIFACT_S3_SECRET_KEY: secret },
      { pool: env.pool, log: silentLog },
    );
    try {
      const error = (await store
        .probe()(new AbortController().signal)
        .catch((e: unknown) => e)) as Error;
      expect(error.message).toBe(
        `S3 refused the credentials (HTTP 403, bucket ${bucket}); check ARTIFACT_S3_ACCESS_KEY and ARTIFACT_S3_SECRET_KEY`,
      );
      expect(JSON.stringify({ message: error.message, stack: error.stack })).not.toContain(secret);
      const good = createArtifactStore(s3Config(), { pool: env.pool, log: silentLog });
      expect(await good.probe()(new AbortController().signal)).toEqual({ bucket });
      await good.close();
    } finally {
      await store.close();
    }
  });
});

describe('createArtifactStore', () => {
  it('picks PostgreSQL without an endpoint and S3 with one', () => {
    expect(createArtifactStore(pgConfig(), { pool: env.pool, log: silentLog })).toBeInstanceOf(
      PostgresArtifactStore,
    );
    expect(createArtifactStore(s3Config(), { pool: env.pool, log: silentLog })).toBeInstanceOf(
      S3ArtifactStore,
    );
  });

  it('reads its variables with s3Env and names what is missing', () => {
    expect(loadArtifactConfig({}).ARTIFACT_S3_BUCKET).toBe('dvt-artifacts');
    const error = (() => {
      try {
        loadArtifactConfig({
          ARTIFACT_S3_ENDPOINT: 'http://127.0.0.1:9000',
          ARTIFACT_S3_SECRET_KEY: 'hidden-secret',
        });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'invalid configuration: ARTIFACT_S3_ACCESS_KEY: is required when ARTIFACT_S3_ENDPOINT is set',
    );
  });
});
