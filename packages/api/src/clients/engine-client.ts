/** The engine's internal API (DESIGN §10): start runs, signal them, read them. */
import type { PlanRef, RunContext, RunSignal } from '@dvt/contracts';
import type { InternalClient } from './internal-client.ts';

export interface StartRunRequest {
  planRef: PlanRef;
  context: RunContext;
  /** Set when the run retries an earlier one (RETRY_RUN). */
  originalRunId?: string;
}

export class EngineClient {
  readonly #client: InternalClient;

  constructor(client: InternalClient) {
    this.#client = client;
  }

  /**
   * The engine uses the runId as workflow id and answers a repeated start with the existing
   * run (`created: false`), so a start is retried like any idempotent call.
   */
  startRun(
    request: StartRunRequest,
  ): Promise<{ runId: string; workflowId?: string; created?: boolean }> {
    return this.#client.call({
      method: 'POST',
      path: '/internal/v1/runs',
      body: request,
      idempotent: true,
    });
  }

  /** Signals carry a signalId and a repeated id is a no-op (DESIGN §5), so retries are safe. */
  signal(
    tenantId: string,
    runId: string,
    signal: RunSignal,
  ): Promise<{ accepted?: boolean; newRunId?: string }> {
    return this.#client.call({
      method: 'POST',
      path: `/internal/v1/runs/${encodeURIComponent(runId)}/signals`,
      body: signal,
      headers: { 'x-tenant-id': tenantId },
      idempotent: true,
    });
  }
}
