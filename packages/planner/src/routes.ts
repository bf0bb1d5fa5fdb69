/**
 * The planner's internal HTTP routes (X-Internal-Token):
 * - `POST /internal/v1/validate` — body `{ plan }`: 200 `{ valid: true, … }` or 422 PLAN_INVALID;
 * - `POST /internal/v1/compile` — body `{ tenantId, projectId, plan | dbt, capabilities?,
 *   fullRefresh?, approvalBudgetMs? }`: 200 with the execution plan, 422 with every problem;
 * - `POST /internal/v1/capabilities/check` — body `{ plan, capabilities? }`: 200 with what the
 *   plan requires, or 422 PLAN_CAPABILITY_MISSING naming the steps.
 * Capabilities come from the body, else from the engine (`GET /internal/v1/capabilities`).
 */
import {
  EngineCapabilities,
  type ExecutionPlan,
  type PlanIssue,
  type PlanSource,
  type PlanV1,
} from '@dvt/contracts';
import { ProblemError, requireInternalToken, type Logger } from '@dvt/service-kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { z } from 'zod';
import type { PlannerConfig } from './config.ts';
import {
  importManifest,
  indirectSelectionModes,
  type DbtImportOptions,
  type DbtImportPolicies,
  type DbtImportResult,
} from './dbt/index.ts';
import {
  capabilityProblem,
  checkCapabilities,
  combinedLimits,
  compileValidPlan,
  fetchEngineCapabilities,
  invalidPlanProblem,
  PlannerHistory,
  requiredCapabilities,
  validatePlan,
  type PlanHistory,
  type PlanLimits,
} from './plan/index.ts';
import { mapZodIssues } from './plan/issues.ts';

const MiB = 1024 * 1024;

export interface PlannerRouteDeps {
  pool: pg.Pool;
  log: Logger;
  config: Pick<PlannerConfig, 'INTERNAL_API_TOKEN' | 'ENGINE_URL' | 'APPROVAL_BUDGET_MS'> & {
    /** Body limit of compile and capability-check, in bytes, when the config sets one. */
    COMPILE_BODY_LIMIT_BYTES?: number | undefined;
  };
  /** Reads step history; a PlannerHistory on `pool` when absent. */
  history?: Pick<PlannerHistory, 'load'>;
  /** How long to wait for the engine's capabilities, in ms (default 2000). */
  engineTimeoutMs?: number;
  /** Body limit of the validate route, in bytes (default 1 MiB). */
  validateBodyLimit?: number;
  /**
   * Body limit of the compile and capability-check routes, in bytes; else the config's
   * COMPILE_BODY_LIMIT_BYTES; else 64 MiB, the api's default PLAN_BODY_LIMIT_BYTES, so a
   * manifest the api accepts is not refused here.
   */
  compileBodyLimit?: number;
  /** Plan limits on top of the engine's. */
  planLimits?: Partial<PlanLimits>;
  /** The clock for `compiledAt`. */
  now?: () => Date;
}

const Scope = {
  tenantId: z.string().min(1).max(200),
  projectId: z.string().min(1).max(200),
};

const ValidateBody = z.object({
  plan: z.unknown().refine((v) => v !== undefined, 'missing required field: expected a plan'),
  capabilities: EngineCapabilities.optional(),
});

const DbtRequest = z.strictObject({
  manifest: z
    .unknown()
    .refine((v) => v !== undefined, 'missing required field: expected a manifest'),
  select: z.array(z.string()).optional(),
  exclude: z.array(z.string()).optional(),
  indirectSelection: z.enum(indirectSelectionModes).optional(),
  fullRefresh: z.boolean().optional(),
  preview: z.boolean().optional(),
  simulate: z.boolean().optional(),
  planId: z.string().optional(),
  planVersion: z.string().optional(),
  target: z.string().min(1).optional(),
  concurrency: z.int().min(1).max(256).optional(),
  policies: z.record(z.string(), z.enum(['skip', 'reject'])).optional(),
});

const CompileBody = z
  .object({
    ...Scope,
    plan: z.unknown().optional(),
    dbt: DbtRequest.optional(),
    capabilities: EngineCapabilities.optional(),
    fullRefresh: z.boolean().optional(),
    approvalBudgetMs: z.int().min(0).optional(),
  })
  .refine((b) => (b.plan === undefined) !== (b.dbt === undefined), {
    message: 'expected exactly one of "plan" and "dbt"',
    path: ['plan'],
  });

export function registerPlannerRoutes(app: FastifyInstance, deps: PlannerRouteDeps): void {
  const guard = requireInternalToken(deps.config.INTERNAL_API_TOKEN);
  const history = deps.history ?? new PlannerHistory(deps.pool);
  const compileLimit = deps.compileBodyLimit ?? deps.config.COMPILE_BODY_LIMIT_BYTES ?? 64 * MiB;

  const capabilitiesFor = async (given: EngineCapabilities | undefined) => {
    if (given) return given;
    if (!deps.config.ENGINE_URL) {
      throw new ProblemError(
        'DEPENDENCY_UNAVAILABLE',
        'no engine is configured (ENGINE_URL) and the request has no "capabilities"; send them or configure the engine',
        { dependency: 'engine' },
      );
    }
    return fetchEngineCapabilities({
      engineUrl: deps.config.ENGINE_URL,
      internalToken: deps.config.INTERNAL_API_TOKEN,
      timeoutMs: deps.engineTimeoutMs ?? 2000,
    });
  };

  const validOrThrow = (plan: unknown, limits: Partial<PlanLimits>): PlanV1 => {
    const result = validatePlan(plan, limits);
    if (!result.ok) throw invalidPlanProblem(result.errors, result.omitted);
    return result.plan;
  };

  app.post(
    '/internal/v1/validate',
    { preHandler: guard, bodyLimit: deps.validateBodyLimit ?? MiB },
    async (req) => {
      const body = parseBody(ValidateBody, req);
      const limits = { ...deps.planLimits, ...body.capabilities?.limits };
      const plan = validOrThrow(body.plan, limits);
      return {
        valid: true,
        planId: plan.planId,
        planVersion: plan.planVersion,
        steps: plan.steps.length,
        requiredCapabilities: requiredCapabilities(plan.steps),
      };
    },
  );

  app.post(
    '/internal/v1/capabilities/check',
    { preHandler: guard, bodyLimit: compileLimit },
    async (req) => {
      const body = parseBody(ValidateBody, req);
      const plan = validOrThrow(body.plan, deps.planLimits ?? {});
      const capabilities = await capabilitiesFor(body.capabilities);
      const missing = checkCapabilities(plan.steps, capabilities);
      if (missing.length > 0) throw capabilityProblem(missing);
      return { ok: true, requiredCapabilities: requiredCapabilities(plan.steps) };
    },
  );

  app.post(
    '/internal/v1/compile',
    { preHandler: guard, bodyLimit: compileLimit },
    async (req): Promise<ExecutionPlan> => {
      const body = parseBody(CompileBody, req);
      const capabilities = await capabilitiesFor(body.capabilities);
      const imported = body.dbt ? importDbt(body.dbt) : undefined;
      const plan = validOrThrow(
        imported?.plan ?? body.plan,
        combinedLimits(capabilities, deps.planLimits),
      );
      const stepHistory = await loadHistory(history, body, plan, req.log as Logger);
      const fullRefresh = body.dbt?.fullRefresh ?? body.fullRefresh ?? false;
      return compileValidPlan(plan, {
        capabilities,
        history: stepHistory,
        fullRefresh,
        approvalBudgetMs: body.approvalBudgetMs ?? deps.config.APPROVAL_BUDGET_MS,
        now: deps.now?.() ?? new Date(),
        ...(imported
          ? {
              presetDecisions: imported.presetDecisions,
              report: imported.report,
              source: imported.source,
            }
          : {}),
      });
    },
  );
}

function parseBody<T extends z.ZodType>(schema: T, req: FastifyRequest): z.infer<T> {
  const result = schema.safeParse(req.body ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const errors: PlanIssue[] = mapZodIssues('VALIDATION_FAILED', [], result.error.issues, schema);
  const first = errors[0]!;
  throw new ProblemError(
    'VALIDATION_FAILED',
    `the request body is invalid: ${first.path}: ${first.message}`,
    {
      errors,
    },
  );
}

async function loadHistory(
  history: Pick<PlannerHistory, 'load'>,
  scope: { tenantId: string; projectId: string },
  plan: PlanV1,
  log: Logger,
): Promise<PlanHistory> {
  try {
    return await history.load(
      { tenantId: scope.tenantId, projectId: scope.projectId, planId: plan.planId },
      plan.steps.map((s) => s.id),
    );
  } catch (error) {
    log.warn({ err: error }, 'step history unavailable');
    throw new ProblemError(
      'DEPENDENCY_UNAVAILABLE',
      'the step history (postgres) could not be read; retry later',
      { dependency: 'postgres' },
      { cause: error },
    );
  }
}

interface DbtImportOutcome extends DbtImportResult {
  source: PlanSource;
}

function importDbt(request: z.infer<typeof DbtRequest>): DbtImportOutcome {
  const { manifest, fullRefresh: _fullRefresh, policies, ...rest } = request;
  const options: DbtImportOptions = {
    ...rest,
    ...(policies ? { policies: policies as DbtImportPolicies } : {}),
  };
  const result = importManifest(manifest, options);
  return { ...result, source: dbtSource(result.plan) };
}

/** Where a dbt plan came from, as the importer recorded it in the plan's metadata. */
function dbtSource(plan: PlanV1): PlanSource {
  const metadata = plan.metadata ?? {};
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const manifestSchemaVersion = text(metadata.manifestSchemaVersion);
  const dbtVersion = text(metadata.dbtVersion);
  const projectName = text(metadata.projectName);
  return {
    kind: 'dbt',
    ...(manifestSchemaVersion ? { manifestSchemaVersion } : {}),
    ...(dbtVersion ? { dbtVersion } : {}),
    ...(projectName ? { projectName } : {}),
  };
}
