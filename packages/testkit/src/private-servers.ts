/**
 * Servers a single test owns, for tests that stop and restart a dependency (the shared ones
 * must stay up). Each lives in its own temp folder and on kernel-chosen ports.
 *
 * A kernel-chosen port is free when chosen, not when the server binds it: other tests open
 * connections (whose local ports come from the same range) and start servers meanwhile. A
 * server that exits because a port was taken is started again on other ports.
 */
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ExitedBeforeReadyError,
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
  let port = await freePort();
  const start = async () => {
    await ensurePostgres({ name, port, runDir, superPassword: password });
  };
  await onPortClash(start, async () => {
    port = await freePort();
  });
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
  // Its HTTP API and metrics ports too: the default port + 10 / + 11 may belong to anyone.
  let [httpPort, metricsPort] = await freePorts(2, [port]);
  const namespaces = options.namespaces ?? ['default'];
  // The gRPC port is handed out before the first start (tests configure clients with it), so a
  // clash keeps it and moves the other two.
  const start = () =>
    onPortClash(
      () => ensureTemporal({ name, port, runDir, namespaces, httpPort, metricsPort }).then(),
      async () => {
        [httpPort, metricsPort] = await freePorts(2, [port]);
      },
    );
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

/** `count` distinct free ports, none of them in `taken`. */
async function freePorts(count: number, taken: number[]): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port) && !taken.includes(port)) ports.push(port);
  }
  return ports;
}

async function onPortClash(start: () => Promise<void>, movePorts: () => Promise<void>) {
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      return;
    } catch (error) {
      if (!(error instanceof ExitedBeforeReadyError && error.portClash) || attempt === 3)
        throw error;
      await movePorts();
    }
  }
}
