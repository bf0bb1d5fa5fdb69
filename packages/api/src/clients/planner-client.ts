/** The planner's internal API (DESIGN §10): compile and validate. */
import type { ExecutionPlan, IndirectSelection } from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import type { InternalClient } from './internal-client.ts';

export interface DbtCompileInput {
  manifest: unknown;
  select?: string[];
  exclude?: string[];
  indirectSelection?: IndirectSelection;
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
  readonly #planBodyLimitBytes: number;

  /** `planBodyLimitBytes`: the api's PLAN_BODY_LIMIT_BYTES, quoted when the planner refuses a size. */
  constructor(client: InternalClient, compileTimeoutMs: number, planBodyLimitBytes: number) {
    this.#client = client;
    this.#compileTimeoutMs = compileTimeoutMs;
    this.#planBodyLimitBytes = planBodyLimitBytes;
  }

  /**
   * Compiling is a pure function of its input, so a failed attempt is retried. The planner's
   * own body limit is an internal figure; a 413 from it is answered with the api's limit,
   * the one callers can act on.
   */
  async compile(request: CompileRequest): Promise<ExecutionPlan> {
    try {
      return await this.#client.call<ExecutionPlan>({
        method: 'POST',
        path: '/internal/v1/compile',
        body: request,
        idempotent: true,
        timeoutMs: this.#compileTimeoutMs,
      });
    } catch (error) {
      if (error instanceof ProblemError && error.status === 413) {
        const limit = this.#planBodyLimitBytes;
        throw new ProblemError(
          'PAYLOAD_TOO_LARGE',
          `the plan or manifest exceeds the limit of ${limit} bytes (PLAN_BODY_LIMIT_BYTES)`,
          { limitBytes: limit },
          { cause: error },
        );
      }
      throw error;
    }
  }
}
