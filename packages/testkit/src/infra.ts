/**
 * The shared test infrastructure: one PostgreSQL, one Temporal dev server and one MinIO on
 * ports of their own (so tests run beside a running stack), started by vitest's global setup
 * and reused by later runs. Each test file takes its own database, task queue and bucket.
 */
import path from 'node:path';
import { portFromEnv, stackDir } from '@dvt/devstack';

export const testRunDir = path.join(stackDir, 'test');

export const testInfra = {
  postgresPort: portFromEnv('DVT_TEST_PG_PORT', 55432),
  postgresPassword: 'postgres',
  temporalPort: portFromEnv('DVT_TEST_TEMPORAL_PORT', 57233),
  minioPort: portFromEnv('DVT_TEST_MINIO_PORT', 59000),
  minioConsolePort: portFromEnv('DVT_TEST_MINIO_CONSOLE_PORT', 59001),
  minioAccessKey: 'dvt-test',
  minioSecretKey: 'dvt-test-secret-key',
} as const;

export const testPostgresAdminUrl = `postgres://postgres:${testInfra.postgresPassword}@127.0.0.1:${testInfra.postgresPort}/postgres`;
export const testTemporalAddress = `127.0.0.1:${testInfra.temporalPort}`;
export const testMinioEndpoint = `http://127.0.0.1:${testInfra.minioPort}`;
