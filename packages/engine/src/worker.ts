/**
 * The Temporal worker's lifecycle. It waits for Temporal and the namespace (the service stays
 * up meanwhile and reports 503), runs the worker, and if the worker stops with an error it
 * starts a new one after a backoff. `state` tells /healthz whether it is polling.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import {
  backoffDelay,
  errorText,
  sleep,
  type Logger,
  type TemporalConnector,
} from '@dvt/service-kit';

export interface EngineWorkerOptions {
  connector: TemporalConnector;
  address: string;
  namespace: string;
  taskQueue: string;
  activities: object;
  log: Logger;
  maxConcurrentActivities: number;
  /** Grace period for running activities when stopping, in ms. */
  shutdownGraceMs: number;
  /** More Worker options (heartbeat throttling, sticky queue timeout, …). */
  workerOptions?: Partial<WorkerOptions>;
}

/** Prebuilt bundle (production, written by `pnpm build`), else the sources (development). */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));
  if (import.meta.url.includes('/dist/') && existsSync(bundle))
    return { workflowBundle: { codePath: bundle } };
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return { workflowsPath: fileURLToPath(new URL(`./workflows/index.${ext}`, import.meta.url)) };
}

let runtimeInstalled = false;

/**
 * Sends the Temporal SDK's own log lines (worker state changes, poll errors) through the
 * service's pino logger as JSON, at warn and above. The runtime is per process and can be
 * installed once, before the first connection; later calls (tests running several engines
 * in one process) keep the first.
 */
function installRuntimeLogger(log: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        const level = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : 'info';
        log[level]({ temporal: entry.meta }, entry.message);
      }),
    });
  } catch {
    // Already installed by someone else in this process; their logger stays.
  }
}

export class EngineWorker {
  readonly #options: EngineWorkerOptions;
  readonly #abort = new AbortController();
  #worker: Worker | undefined;
  #connection: NativeConnection | undefined;
  #loop: Promise<void> | undefined;
  #lastError: string | undefined;

  constructor(options: EngineWorkerOptions) {
    this.#options = options;
  }

  /** `RUNNING` while polling; anything else means not ready. */
  get state(): string {
    return this.#worker?.getState() ?? 'NOT_STARTED';
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    const { log } = this.#options;
    const signal = this.#abort.signal;
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await this.#options.connector.ready();
        if (signal.aborted) return;
        installRuntimeLogger(log);
        this.#connection = await NativeConnection.connect({ address: this.#options.address });
        this.#worker = await Worker.create({
          connection: this.#connection,
          namespace: this.#options.namespace,
          taskQueue: this.#options.taskQueue,
          activities: this.#options.activities,
          maxConcurrentActivityTaskExecutions: this.#options.maxConcurrentActivities,
          shutdownGraceTime: this.#options.shutdownGraceMs,
          ...workflowSource(),
          ...this.#options.workerOptions,
        });
        log.info({ taskQueue: this.#options.taskQueue }, 'worker polling');
        attempt = 0;
        this.#lastError = undefined;
        await this.#worker.run();
        if (signal.aborted) return;
        log.warn('worker stopped unexpectedly; restarting');
      } catch (error) {
        if (signal.aborted) return;
        this.#lastError = errorText(error);
        const delayMs = backoffDelay(Math.max(attempt, 1), { initialMs: 500, maxMs: 10_000 });
        log.error({ err: this.#lastError, delayMs }, 'worker failed; restarting');
        await sleep(delayMs).catch(() => undefined);
      } finally {
        await this.#connection?.close().catch(() => undefined);
        this.#connection = undefined;
      }
    }
  }

  probe = async (): Promise<Record<string, unknown>> => {
    if (this.state !== 'RUNNING') {
      throw new Error(
        `worker not polling (state ${this.state}${this.#lastError ? `: ${this.#lastError}` : ''})`,
      );
    }
    return {
      state: this.state,
      taskQueue: this.#options.taskQueue,
      ...(this.#options.workerOptions?.identity
        ? { identity: this.#options.workerOptions.identity }
        : {}),
    };
  };

  /** Stops polling and lets running activities finish within the grace period. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('stopping'));
    const worker = this.#worker;
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await this.#loop;
  }
}
