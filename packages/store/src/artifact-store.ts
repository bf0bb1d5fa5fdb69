/**
 * Artifacts (DESIGN §7): immutable, content-addressed by sha256, scoped to a tenant. Bytes go
 * to S3 (MinIO in dev) or, without an S3 endpoint, to PostgreSQL; metadata always lives in
 * the `artifacts` table, which is also what makes an artifact visible to its tenant.
 *
 * Writes stream: the body is hashed and counted while it is written to a staging place (a
 * temporary file for S3, an uncommitted transaction for PostgreSQL), and only then stored
 * under its sha256. Writing the same bytes twice stores nothing the second time.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { PlanRef } from '@dvt/contracts';
import { ProblemError, type Logger, type Probe } from '@dvt/service-kit';
import type pg from 'pg';
import { z } from 'zod';

export type ArtifactBackend = 's3' | 'postgres';

export interface ArtifactMeta {
  tenantId: string;
  sha256: string;
  kind: string;
  sizeBytes: number;
  contentType: string;
  backend: ArtifactBackend;
  createdBy: string;
  createdAt: string;
  uri: string;
}

export interface PutArtifactOptions {
  /** What it is, e.g. `plan`, `manifest`, `step-output`, `log`, `run-results`. */
  kind: string;
  /** MIME type (default `application/octet-stream`). */
  contentType?: string;
  /** Who stored it (a subject or a service name). */
  createdBy: string;
}

export interface PutArtifactResult {
  sha256: string;
  sizeBytes: number;
  uri: string;
  /** false when this tenant already had these bytes; nothing was written. */
  created: boolean;
}

export type ArtifactBody = Readable | Buffer | Uint8Array | string;

export interface ArtifactStore {
  readonly backend: ArtifactBackend;
  /** Prepares the backend (creates the S3 bucket when missing); safe to call repeatedly. */
  init(): Promise<void>;
  /** Stores a body; throws ARTIFACT_TOO_LARGE past the size limit and VALIDATION_FAILED for bad options. */
  put(
    tenantId: string,
    body: ArtifactBody,
    options: PutArtifactOptions,
  ): Promise<PutArtifactResult>;
  /** The metadata, or null when the tenant has no such artifact. */
  head(tenantId: string, sha256: string): Promise<ArtifactMeta | null>;
  /** Streams the bytes as stored; throws ARTIFACT_NOT_FOUND. */
  get(tenantId: string, sha256: string): Promise<{ stream: Readable; meta: ArtifactMeta }>;
  /** Like get, but the stream fails with ARTIFACT_INTEGRITY_FAILED when the bytes do not hash to sha256. */
  getVerified(tenantId: string, sha256: string): Promise<{ stream: Readable; meta: ArtifactMeta }>;
  /**
   * Reads a plan by PlanRef, verifying size and sha256 before parsing it. Throws
   * PLAN_INTEGRITY_VALIDATION_FAILED on any mismatch, ARTIFACT_NOT_FOUND, or PLAN_INVALID
   * when the verified bytes are not JSON.
   */
  readPlan(
    tenantId: string,
    planRef: PlanRef,
  ): Promise<{ plan: unknown; bytes: Buffer; meta: ArtifactMeta }>;
  /** A /healthz probe of the backend. */
  probe(): Probe;
  /** Releases clients; the pool stays open (it is the caller's). */
  close(): Promise<void>;
}

export interface ArtifactStoreDeps {
  pool: pg.Pool;
  log: Logger;
}

const SHA256 = /^[0-9a-f]{64}$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

const PutOptionsSchema = z.object({
  kind: z
    .string()
    .regex(/^[a-z][a-z0-9._-]{0,63}$/, 'must be a lower-case name like "plan" or "step-output"'),
  contentType: z
    .string()
    .regex(/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/, 'must be a MIME type like "application/json"')
    .max(200)
    .optional(),
  createdBy: z.string().min(1, 'must name who stores the artifact').max(200),
});

export function checkTenant(tenantId: string): void {
  if (!TENANT.test(tenantId)) {
    throw new ProblemError(
      'VALIDATION_FAILED',
      'tenantId must be 1..200 characters of letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
    );
  }
}

export function checkSha(sha256: string): void {
  if (!SHA256.test(sha256)) {
    throw new ProblemError('VALIDATION_FAILED', 'sha256 must be 64 lower-case hex characters');
  }
}

export function parsePutOptions(options: PutArtifactOptions): Required<PutArtifactOptions> {
  const parsed = PutOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.map(String).join('.')}: ${i.message}`,
    );
    throw new ProblemError(
      'VALIDATION_FAILED',
      `invalid artifact options: ${problems.join('; ')}`,
      {
        errors: problems,
      },
    );
  }
  return {
    contentType: 'application/octet-stream',
    ...parsed.data,
  } as Required<PutArtifactOptions>;
}

export function tooLarge(maxBytes: number): ProblemError {
  return new ProblemError(
    'ARTIFACT_TOO_LARGE',
    `artifact exceeds the limit of ${maxBytes} bytes (ARTIFACT_MAX_BYTES); store a smaller file or raise the limit`,
    { maxBytes },
  );
}

export function notFound(sha256: string): ProblemError {
  return new ProblemError('ARTIFACT_NOT_FOUND', `no artifact ${sha256} in this tenant`, { sha256 });
}

/** Passes bytes through while hashing and counting them; fails past `maxBytes`. */
export class HashingCounter extends Transform {
  readonly #hash = createHash('sha256');
  readonly #maxBytes: number;
  sizeBytes = 0;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.feed(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    callback(null, chunk);
  }

  /** Counts and hashes a chunk without passing it on; throws ARTIFACT_TOO_LARGE. */
  feed(chunk: Buffer): void {
    this.sizeBytes += chunk.length;
    if (this.sizeBytes > this.#maxBytes) throw tooLarge(this.#maxBytes);
    this.#hash.update(chunk);
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Re-checks bytes as they are read; fails the stream at the end when they differ. */
export class VerifyingStream extends Transform {
  readonly #hash = createHash('sha256');
  readonly #expected: string;
  readonly #expectedSize: number;
  #size = 0;

  constructor(expected: string, expectedSize: number) {
    super();
    this.#expected = expected;
    this.#expectedSize = expectedSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.#hash.digest('hex');
    if (actual === this.#expected && this.#size === this.#expectedSize) return callback();
    callback(
      new ProblemError(
        'ARTIFACT_INTEGRITY_FAILED',
        `artifact ${this.#expected} was altered in storage: its bytes hash to ${actual} (${this.#size} bytes, expected ${this.#expectedSize})`,
        { sha256: this.#expected, actualSha256: actual },
      ),
    );
  }
}

export function toReadable(body: ArtifactBody): Readable {
  if (body instanceof Readable) return body;
  const buffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  return Readable.from([buffer], { objectMode: false });
}

export async function readAll(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      stream.destroy();
      throw tooLarge(maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface MetaRow {
  tenantId: string;
  sha256: string;
  kind: string;
  sizeBytes: string;
  contentType: string;
  backend: ArtifactBackend;
  blobId: string | null;
  createdBy: string;
  createdAt: Date;
}

export const META_COLUMNS = `tenant_id as "tenantId", sha256, kind, size_bytes as "sizeBytes",
  content_type as "contentType", backend, blob_id as "blobId", created_by as "createdBy",
  created_at as "createdAt"`;

/** What both backends share: metadata, verification and plan reading. */
export abstract class BaseArtifactStore implements ArtifactStore {
  abstract readonly backend: ArtifactBackend;
  protected readonly pool: pg.Pool;
  protected readonly log: Logger;
  protected readonly maxBytes: number;

  constructor(deps: ArtifactStoreDeps, maxBytes: number) {
    this.pool = deps.pool;
    this.log = deps.log;
    this.maxBytes = maxBytes;
  }

  abstract init(): Promise<void>;
  abstract put(
    tenantId: string,
    body: ArtifactBody,
    options: PutArtifactOptions,
  ): Promise<PutArtifactResult>;
  abstract probe(): Probe;
  abstract close(): Promise<void>;
  abstract uriOf(tenantId: string, sha256: string): string;
  protected abstract openBlob(meta: MetaRow): Promise<Readable>;

  async head(tenantId: string, sha256: string): Promise<ArtifactMeta | null> {
    const row = await this.metaRow(tenantId, sha256);
    return row ? this.toMeta(row) : null;
  }

  async get(tenantId: string, sha256: string): Promise<{ stream: Readable; meta: ArtifactMeta }> {
    const row = await this.metaRow(tenantId, sha256);
    if (!row) throw notFound(sha256);
    return { stream: await this.openBlob(row), meta: this.toMeta(row) };
  }

  async getVerified(
    tenantId: string,
    sha256: string,
  ): Promise<{ stream: Readable; meta: ArtifactMeta }> {
    const { stream, meta } = await this.get(tenantId, sha256);
    const verifying = new VerifyingStream(meta.sha256, meta.sizeBytes);
    stream.on('error', (err) => verifying.destroy(err));
    return { stream: stream.pipe(verifying), meta };
  }

  async readPlan(
    tenantId: string,
    planRef: PlanRef,
  ): Promise<{ plan: unknown; bytes: Buffer; meta: ArtifactMeta }> {
    const ref = PlanRef.safeParse(planRef);
    if (!ref.success) {
      throw new ProblemError(
        'VALIDATION_FAILED',
        'planRef is not a valid PlanRef (uri, sha256, schemaVersion, planId, planVersion, sizeBytes)',
      );
    }
    const { sha256, sizeBytes } = ref.data;
    const { stream, meta } = await this.get(tenantId, sha256);
    const bytes = await readAll(stream, Math.max(sizeBytes, 0) + 1);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256 || bytes.length !== sizeBytes) {
      this.log.error(
        { tenantId, sha256, actualSha256: actual, sizeBytes: bytes.length },
        'plan integrity check failed',
      );
      throw new ProblemError(
        'PLAN_INTEGRITY_VALIDATION_FAILED',
        `plan ${ref.data.planId}@${ref.data.planVersion} failed its integrity check: stored bytes hash to ${actual} (${bytes.length} bytes), the PlanRef says ${sha256} (${sizeBytes} bytes)`,
        { sha256, actualSha256: actual },
      );
    }
    try {
      return { plan: JSON.parse(bytes.toString('utf8')) as unknown, bytes, meta };
    } catch (error) {
      throw new ProblemError(
        'PLAN_INVALID',
        `plan artifact ${sha256} is not JSON`,
        {},
        { cause: error },
      );
    }
  }

  protected async metaRow(tenantId: string, sha256: string): Promise<MetaRow | null> {
    checkTenant(tenantId);
    checkSha(sha256);
    const { rows } = await this.pool.query<MetaRow>(
      `select ${META_COLUMNS} from artifacts where tenant_id = $1 and sha256 = $2`,
      [tenantId, sha256],
    );
    return rows[0] ?? null;
  }

  protected toMeta(row: MetaRow): ArtifactMeta {
    return {
      tenantId: row.tenantId,
      sha256: row.sha256,
      kind: row.kind,
      sizeBytes: Number(row.sizeBytes),
      contentType: row.contentType,
      backend: row.backend,
      createdBy: row.createdBy,
      createdAt: row.createdAt.toISOString(),
      uri: this.uriOf(row.tenantId, row.sha256),
    };
  }
}

export type { MetaRow };
