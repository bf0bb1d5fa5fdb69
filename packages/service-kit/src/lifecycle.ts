/**
 * Process lifecycle: start a service, and on SIGTERM/SIGINT stop it within a grace period and
 * exit 0. A start-up failure (bad configuration) prints one line and exits 1.
 */
import type { Logger } from './logger.ts';
import { ConfigError } from './config.ts';

export interface RunnableService {
  /** Starts listening. Must not wait for dependencies: they are probed and retried. */
  start(): Promise<void>;
  /** Drains and closes; safe to call twice. */
  stop(): Promise<void>;
}

export interface RunServiceOptions {
  name: string;
  /** Builds the service; may throw ConfigError. */
  create(): Promise<{ service: RunnableService; log: Logger; graceMs: number }>;
}

export async function runService(options: RunServiceOptions): Promise<void> {
  let created: Awaited<ReturnType<RunServiceOptions['create']>>;
  try {
    created = await options.create();
  } catch (error) {
    if (error instanceof ConfigError || (error as { code?: string }).code === 'CONFIG_INVALID') {
      process.stderr.write(`${options.name}: ${(error as Error).message}\n`);
    } else {
      process.stderr.write(
        `${options.name}: failed to start: ${(error as Error).stack ?? String(error)}\n`,
      );
    }
    process.exit(1);
  }
  const { service, log, graceMs } = created;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs }, 'shutting down');
    const force = setTimeout(() => {
      log.warn({ graceMs }, 'grace period over; exiting with work still in flight');
      process.exit(0);
    }, graceMs);
    force.unref();
    service.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    await service.start();
  } catch (error) {
    log.fatal({ err: error }, 'failed to start');
    process.exit(1);
  }
}
