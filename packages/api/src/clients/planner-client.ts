/** The planner's internal API (DESIGN §10): compile and validate. */
import type { ExecutionPlan } from '@dvt/contracts';
import type { InternalClient } from './internal-client.ts';

export interface DbtCompileInput {
  manifest: unknown;
  select?: string[];
  exclude?: string[];
  fullRefresh?: boolean;
  preview?: boolean;
  simulate?: boolean;
}

export interface CompileRequest {
  plan?: unknown;
  dbt?: DbtCompileInput;
  tenantId: string;
  projectId: string;
}

export class PlannerClient {
  readonly #client: InternalClient;
  readonly #compileTimeoutMs: number;

  constructor(client: InternalClient, compileTimeoutMs: number) {
    this.#client = client;
    this.#compileTimeoutMs = compileTimeoutMs;
  }

  /** Compiling is a pure function of its input, so a failed attempt is retried. */
  compile(request: CompileRequest): Promise<ExecutionPlan> {
    return this.#client.call<ExecutionPlan>({
      method: 'POST',
      path: '/internal/v1/compile',
      body: request,
      idempotent: true,
      timeoutMs: this.#compileTimeoutMs,
    });
  }
}
