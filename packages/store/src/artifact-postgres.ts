/**
 * The PostgreSQL artifact backend, used when no S3 endpoint is configured. Bytes are stored
 * as 1 MiB chunks in `artifact_blobs`, written inside one transaction while they are hashed;
 * the metadata row is inserted last, and when the tenant already has these bytes the
 * transaction is rolled back, so nothing new is kept.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
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

const CHUNK_BYTES = 1024 * 1024;

export class PostgresArtifactStore extends BaseArtifactStore {
  readonly backend = 'postgres' as const;

  constructor(deps: ArtifactStoreDeps, options: { maxBytes: number }) {
    super(deps, options.maxBytes);
  }

  async init(): Promise<void> {
    // The tables come with the migrations.
  }

  uriOf(tenantId: string, sha256: string): string {
    return `pg://artifacts/${encodeURIComponent(tenantId)}/${sha256}`;
  }

  async put(
    tenantId: string,
    body: ArtifactBody,
    options: PutArtifactOptions,
  ): Promise<PutArtifactResult> {
    checkTenant(tenantId);
    const opts = parsePutOptions(options);
    const counter = new HashingCounter(this.maxBytes);
    const source = toReadable(body);

    const blobId = randomUUID();
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('begin');
      try {
        let seq = 0;
        for await (const piece of rechunk(source, counter, CHUNK_BYTES)) {
          await client.query(
            'insert into artifact_blobs (blob_id, seq, data) values ($1, $2, $3)',
            [blobId, seq++, piece],
          );
        }
        const sha256 = counter.digest();
        const { rowCount } = await client.query(
          `insert into artifacts (tenant_id, sha256, kind, size_bytes, content_type, backend, blob_id, created_by)
           values ($1, $2, $3, $4, $5, 'postgres', $6, $7)
           on conflict (tenant_id, sha256) do nothing`,
          [
            tenantId,
            sha256,
            opts.kind,
            counter.sizeBytes,
            opts.contentType,
            blobId,
            opts.createdBy,
          ],
        );
        const created = rowCount === 1;
        await client.query(created ? 'commit' : 'rollback');
        if (created) {
          this.log.info(
            { tenantId, sha256, sizeBytes: counter.sizeBytes, kind: opts.kind },
            'artifact stored',
          );
        }
        return { sha256, sizeBytes: counter.sizeBytes, uri: this.uriOf(tenantId, sha256), created };
      } catch (error) {
        source.destroy();
        await client.query('rollback').catch(() => {
          broken = true;
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  protected async openBlob(meta: MetaRow): Promise<Readable> {
    if (!meta.blobId)
      throw new Error(`artifact ${meta.sha256} has no PostgreSQL blob (backend ${meta.backend})`);
    const pool = this.pool;
    const blobId = meta.blobId;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let seq = 0; ; seq++) {
        const { rows } = await pool.query<{ data: Buffer }>(
          'select data from artifact_blobs where blob_id = $1 and seq = $2',
          [blobId, seq],
        );
        if (!rows[0]) return;
        yield rows[0].data;
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  probe(): Probe {
    return async () => {
      await this.pool.query('select 1 from artifacts limit 1');
      return { backend: 'postgres' };
    };
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }
}

/**
 * Regroups a byte stream into pieces of exactly `size` bytes (the last may be shorter),
 * feeding every chunk to the counter first.
 */
async function* rechunk(
  stream: AsyncIterable<Buffer | string>,
  counter: HashingCounter,
  size: number,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const raw of stream) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    counter.feed(chunk);
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      const rest = all.subarray(size);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
    }
  }
  if (pendingBytes > 0 || pending.length > 0) yield Buffer.concat(pending);
}
