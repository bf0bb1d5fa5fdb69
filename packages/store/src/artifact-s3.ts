/**
 * The S3 artifact backend (MinIO in dev). Path-style addressing is forced, so an endpoint
 * given by host name (`http://localhost:9000`) never turns into `bucket.localhost` (field
 * case B15). A put streams the body into a temporary file while hashing it, then uploads the
 * file under `<tenant>/<sha256>` unless that object already exists — so a second put of the
 * same bytes writes nothing and leaves the ETag as it was.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Probe } from '@dvt/service-kit';
import {
  BaseArtifactStore,
  HashingCounter,
  checkTenant,
  parsePutOptions,
  toReadable,
  type ArtifactBody,
  type ArtifactStoreDeps,
  type MetaRow,
  type PutArtifactOptions,
  type PutArtifactResult,
} from './artifact-store.ts';

export interface S3ArtifactOptions {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  region: string;
  maxBytes: number;
}

/** An S3 client for an S3-compatible endpoint: path-style, no retries beyond two. */
export function createS3Client(options: Omit<S3ArtifactOptions, 'bucket' | 'maxBytes'>): S3Client {
  return new S3Client({
    endpoint: options.endpoint,
    region: options.region,
    forcePathStyle: true,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    maxAttempts: 2,
  });
}

export class S3ArtifactStore extends BaseArtifactStore {
  readonly backend = 's3' as const;
  /** The SDK client, exposed for diagnostics and tests. */
  readonly client: S3Client;
  readonly bucket: string;
  readonly #secret: string;

  constructor(deps: ArtifactStoreDeps, options: S3ArtifactOptions) {
    super(deps, options.maxBytes);
    this.client = createS3Client(options);
    this.bucket = options.bucket;
    this.#secret = options.secretAccessKey;
  }

  /** Creates the bucket when it is missing; safe to call repeatedly and concurrently. */
  async init(): Promise<void> {
    await ensureBucket(this.client, this.bucket);
  }

  uriOf(tenantId: string, sha256: string): string {
    return `s3://${this.bucket}/${objectKey(tenantId, sha256)}`;
  }

  async put(
    tenantId: string,
    body: ArtifactBody,
    options: PutArtifactOptions,
  ): Promise<PutArtifactResult> {
    checkTenant(tenantId);
    const opts = parsePutOptions(options);
    const dir = await mkdtemp(path.join(tmpdir(), 'dvt-artifact-'));
    try {
      const file = path.join(dir, randomUUID());
      const counter = new HashingCounter(this.maxBytes);
      await pipeline(toReadable(body), counter, createWriteStream(file));
      const sha256 = counter.digest();
      const sizeBytes = counter.sizeBytes;
      const key = objectKey(tenantId, sha256);

      if (!(await this.#exists(key))) {
        const upload = new Upload({
          client: this.client,
          params: {
            Bucket: this.bucket,
            Key: key,
            Body: createReadStream(file),
            ContentType: opts.contentType,
            ContentLength: sizeBytes,
          },
          queueSize: 2,
          partSize: 5 * 1024 * 1024,
        });
        await upload.done();
      }
      const { rowCount } = await this.pool.query(
        `insert into artifacts (tenant_id, sha256, kind, size_bytes, content_type, backend, created_by)
         values ($1, $2, $3, $4, $5, 's3', $6)
         on conflict (tenant_id, sha256) do nothing`,
        [tenantId, sha256, opts.kind, sizeBytes, opts.contentType, opts.createdBy],
      );
      const created = rowCount === 1;
      if (created)
        this.log.info({ tenantId, sha256, sizeBytes, kind: opts.kind }, 'artifact stored');
      return { sha256, sizeBytes, uri: this.uriOf(tenantId, sha256), created };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  protected async openBlob(meta: MetaRow): Promise<Readable> {
    const result = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: objectKey(meta.tenantId, meta.sha256) }),
    );
    return result.Body as Readable;
  }

  /** HeadBucket with the configured credentials; a failure names the S3 error, never the secret. */
  probe(): Probe {
    return s3Probe(this.client, this.bucket, this.#secret);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (httpStatus(error) === 404) return false;
      throw error;
    }
  }
}

/** `<tenant>/<sha256>`; the tenant is URL-encoded so it is always one path segment. */
export function objectKey(tenantId: string, sha256: string): string {
  return `${encodeURIComponent(tenantId)}/${sha256}`;
}

/** Creates `bucket` unless it exists (also when another process creates it at the same time). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (error) {
    if (httpStatus(error) !== 404) throw error;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
}

/**
 * A readiness probe for /healthz: HeadBucket. A wrong key or secret fails with the S3 error
 * name (e.g. `SignatureDoesNotMatch` or `HTTP 403`); the secret is scrubbed from the text in
 * case a proxy ever echoes it.
 */
export function s3Probe(client: S3Client, bucket: string, secret?: string): Probe {
  return async (signal) => {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
      return { bucket };
    } catch (error) {
      const status = httpStatus(error);
      const name = (error as { name?: string }).name ?? 'Error';
      const generic =
        name === 'Unknown' || name === 'UnknownError' || name === 'NotFound' || name === '403';
      let text =
        generic && status
          ? `HTTP ${status} from S3 (bucket ${bucket})`
          : `${name}: ${(error as Error).message}`;
      if (status === 403)
        text = `S3 refused the credentials (HTTP 403, bucket ${bucket}); check ARTIFACT_S3_ACCESS_KEY and ARTIFACT_S3_SECRET_KEY`;
      if (secret) text = text.split(secret).join('[redacted]');
      throw new Error(text);
    }
  };
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
