import { closeSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { delay, ensureMinio, ensurePostgres, ensureTemporal } from '@dvt/devstack';
import { testInfra, testRunDir } from './infra.ts';

/** Several vitest runs may start at once (developers, helpers); one of them starts the servers. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(testRunDir, { recursive: true });
  const lock = path.join(testRunDir, 'setup.lock');
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { force: true });
      } catch {
        /* removed meanwhile */
      }
      await delay(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

export default async function setup(): Promise<void> {
  await withLock(async () => {
    await ensurePostgres({
      name: 'test-postgres',
      port: testInfra.postgresPort,
      runDir: testRunDir,
      superPassword: testInfra.postgresPassword,
      portVariable: 'DVT_TEST_PG_PORT',
    });
    await ensureTemporal({
      name: 'test-temporal',
      port: testInfra.temporalPort,
      runDir: testRunDir,
      namespaces: ['default'],
      portVariable: 'DVT_TEST_TEMPORAL_PORT',
    });
    await ensureMinio({
      name: 'test-minio',
      port: testInfra.minioPort,
      consolePort: testInfra.minioConsolePort,
      runDir: testRunDir,
      dataDir: path.join(testRunDir, 'minio-data'),
      accessKey: testInfra.minioAccessKey,
      secretKey: testInfra.minioSecretKey,
      portVariable: 'DVT_TEST_MINIO_PORT',
    });
  });
}
