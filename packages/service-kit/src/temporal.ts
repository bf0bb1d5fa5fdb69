/**
 * A Temporal client connection that a service can hold while Temporal is down: it connects in
 * the background with backoff, checks that the namespace exists (a dev server that is up but
 * has no such namespace is not ready — field case B16), and offers a readiness probe.
 */
import { Client, Connection } from '@temporalio/client';
import { retryForever, sleep } from './backoff.ts';
import { errorText } from './health.ts';
import type { Logger } from './logger.ts';

export interface TemporalConnectorOptions {
  address: string;
  namespace: string;
  log: Logger;
  /** Per-call timeout of the probe, in ms (default 1500). */
  probeTimeoutMs?: number;
}

export class TemporalConnector {
  readonly #options: TemporalConnectorOptions;
  readonly #abort = new AbortController();
  #connection: Connection | undefined;
  #client: Client | undefined;
  #namespaceReady = false;
  #connecting: Promise<void> | undefined;
  #readyWaiters: (() => void)[] = [];

  constructor(options: TemporalConnectorOptions) {
    this.#options = options;
  }

  /** Starts connecting in the background; returns at once. Safe to call twice. */
  start(): void {
    this.#connecting ??= this.#connectLoop().catch(() => undefined);
  }

  get client(): Client | undefined {
    return this.#namespaceReady ? this.#client : undefined;
  }

  get connection(): Connection | undefined {
    return this.#connection;
  }

  /** Resolves once connected and the namespace exists. */
  ready(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    return new Promise((resolve) => this.#readyWaiters.push(() => resolve(this.#client!)));
  }

  async #connectLoop(): Promise<void> {
    const { address, namespace, log } = this.#options;
    const signal = this.#abort.signal;
    // Log the first failure and every tenth after it, not each attempt.
    const retrying = (message: string, fields: Record<string, unknown>) => ({
      signal,
      initialMs: 250,
      maxMs: 5_000,
      onError: (err: unknown, attempt: number, delayMs: number) => {
        if (attempt === 1 || attempt % 10 === 0) {
          log.warn({ ...fields, attempt, delayMs, err: errorText(err) }, message);
        }
      },
    });
    this.#connection = await retryForever(
      () => Connection.connect({ address, connectTimeout: 2_000 }),
      retrying('temporal not reachable; retrying', { address }),
    );
    this.#client = new Client({ connection: this.#connection, namespace });
    await retryForever(
      () => this.#describeNamespace(),
      retrying('temporal namespace not ready; retrying', { namespace }),
    );
    this.#namespaceReady = true;
    log.info({ address, namespace }, 'temporal connected');
    for (const wake of this.#readyWaiters.splice(0)) wake();
  }

  async #describeNamespace(): Promise<void> {
    const connection = this.#connection!;
    const timeoutMs = this.#options.probeTimeoutMs ?? 1_500;
    try {
      await connection.withDeadline(Date.now() + timeoutMs, () =>
        connection.workflowService.describeNamespace({ namespace: this.#options.namespace }),
      );
    } catch (error) {
      // gRPC code 5 = NOT_FOUND
      if ((error as { code?: number }).code === 5) {
        throw new Error(`namespace ${this.#options.namespace} not found`, { cause: error });
      }
      throw error;
    }
  }

  /** Readiness probe: the frontend answers and the namespace exists. */
  probe = async (): Promise<Record<string, unknown>> => {
    if (!this.#connection) throw new Error(`not connected to ${this.#options.address}`);
    await this.#describeNamespace();
    return { namespace: this.#options.namespace };
  };

  async stop(): Promise<void> {
    this.#abort.abort(new Error('stopping'));
    await Promise.race([this.#connecting, sleep(100)]);
    await this.#connection?.close().catch(() => undefined);
    this.#connection = undefined;
  }
}
