import { loadConfig, requireS3CredentialsWithEndpoint, s3Env } from '@dvt/service-kit';
import { z } from 'zod';
import { PostgresArtifactStore } from './artifact-postgres.ts';
import { S3ArtifactStore } from './artifact-s3.ts';
import type { ArtifactStore, ArtifactStoreDeps } from './artifact-store.ts';

/** The artifact variables of DESIGN §2, validated (credentials required with an endpoint). */
export const artifactEnvSchema = z.object(s3Env).superRefine(requireS3CredentialsWithEndpoint);
export type ArtifactConfig = z.infer<typeof artifactEnvSchema>;

/** Parses the artifact variables from `env`; throws ConfigError naming each bad variable. */
export function loadArtifactConfig(
  env?: Record<string, string | undefined>,
): Readonly<ArtifactConfig> {
  return loadConfig(artifactEnvSchema, env);
}

/**
 * The S3 backend when ARTIFACT_S3_ENDPOINT is set, otherwise PostgreSQL. No I/O happens here;
 * call `init()` at start (it creates the bucket when missing).
 */
export function createArtifactStore(
  config: Pick<
    ArtifactConfig,
    | 'ARTIFACT_S3_ENDPOINT'
    | 'ARTIFACT_S3_ACCESS_KEY'
    | 'ARTIFACT_S3_SECRET_KEY'
    | 'ARTIFACT_S3_BUCKET'
    | 'ARTIFACT_S3_REGION'
    | 'ARTIFACT_MAX_BYTES'
  >,
  deps: ArtifactStoreDeps,
): ArtifactStore {
  if (!config.ARTIFACT_S3_ENDPOINT) {
    return new PostgresArtifactStore(deps, { maxBytes: config.ARTIFACT_MAX_BYTES });
  }
  if (!config.ARTIFACT_S3_ACCESS_KEY || !config.ARTIFACT_S3_SECRET_KEY) {
    throw new Error(
      'ARTIFACT_S3_ACCESS_KEY and ARTIFACT_S3_SECRET_KEY are required when ARTIFACT_S3_ENDPOINT is set',
    );
  }
  return new S3ArtifactStore(deps, {
    endpoint: config.ARTIFACT_S3_ENDPOINT,
    accessKeyId: config.ARTIFACT_S3_ACCESS_KEY,
    secretAccessKey: config.ARTIFACT_S3_SECRET_KEY,
    bucket: config.ARTIFACT_S3_BUCKET,
    region: config.ARTIFACT_S3_REGION,
    maxBytes: config.ARTIFACT_MAX_BYTES,
  });
}
