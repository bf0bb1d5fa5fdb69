/**
 * Servers a single test owns, for tests that stop and restart a dependency (the shared ones
 * must stay up). Each lives in its own temp folder and on a kernel-chosen port.
 */
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ensurePostgres,
  ensureTemporal,
  freePort,
  postgresDataDir,
  stopManaged,
  stopPostgres,
} from '@dvt/devstack';

export interface PrivateServer {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its files. */
  dispose(): Promise<void>;
}

export async function startPrivatePostgres(
  password = 'postgres',
): Promise<PrivateServer & { adminUrl: string }> {
  const runDir = await mkdtemp(path.join(tmpdir(), 'dvt-pg-'));
  const name = `pg-${path.basename(runDir)}`;
  const port = await freePort();
  const start = async () => {
    await ensurePostgres({ name, port, runDir, superPassword: password });
  };
  await start();
  return {
    port,
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    start,
    stop: async () => {
      await stopPostgres(runDir, name);
    },
    dispose: async () => {
      await stopPostgres(runDir, name);
      rmSync(runDir, { recursive: true, force: true });
      rmSync(postgresDataDir(name), { recursive: true, force: true });
    },
  };
}

export async function startPrivateTemporal(
  options: { namespaces?: string[]; start?: boolean } = {},
): Promise<PrivateServer & { address: string }> {
  const runDir = await mkdtemp(path.join(tmpdir(), 'dvt-temporal-'));
  const name = 'temporal';
  const port = await freePort();
  const start = async () => {
    await ensureTemporal({ name, port, runDir, namespaces: options.namespaces ?? ['default'] });
  };
  if (options.start !== false) await start();
  return {
    port,
    address: `127.0.0.1:${port}`,
    start,
    stop: async () => {
      await stopManaged(runDir, name);
    },
    dispose: async () => {
      await stopManaged(runDir, name);
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
