/**
 * The plan contract (DESIGN §4): `dvt.plan/v1`, what a team hands DVT+, and
 * `dvt.execution-plan/v1`, what the planner compiles and the engine executes.
 *
 * Step parameters are strict objects: an unknown key under `with` is a mistake (a typo of a
 * real key), so it is reported rather than silently dropped. The top level of a plan and of a
 * step is strict too, except `metadata`, which is free-form.
 */
import { z } from 'zod';

export const PLAN_SCHEMA_VERSION = 'dvt.plan/v1';
export const EXECUTION_PLAN_SCHEMA_VERSION = 'dvt.execution-plan/v1';

/** Pattern of a plan id: starts with a letter or digit, then letters, digits, `.`, `_`, `-`. */
export const PLAN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Pattern of a step id; dbt unique_ids (`model.shop.orders`, `test.x.y@v2`) fit as they are. */
export const STEP_ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:@/-]*$/;

const nonNegativeInt = z.int().min(0);
const positiveInt = z.int().min(1);

export const PlanId = z
  .string()
  .min(1)
  .max(200)
  .regex(PLAN_ID_PATTERN, 'a plan id starts with a letter or digit, then [A-Za-z0-9._-]');
export const PlanVersion = z.string().min(1).max(64);
export const StepId = z
  .string()
  .min(1)
  .max(512)
  .regex(STEP_ID_PATTERN, 'a step id starts with [A-Za-z0-9_], then [A-Za-z0-9_.:@/-]');

export const RetryPolicy = z.strictObject({
  maxAttempts: z.int().min(1).max(20),
  initialIntervalMs: nonNegativeInt.optional(),
  backoffCoefficient: z.number().min(1).optional(),
  maxIntervalMs: nonNegativeInt.optional(),
});
export type RetryPolicy = z.infer<typeof RetryPolicy>;

export const ApprovalSetting = z.strictObject({
  required: z.boolean(),
  reason: z.string().optional(),
});
export type ApprovalSetting = z.infer<typeof ApprovalSetting>;

// ---- parameters per kind -------------------------------------------------------------------

export const NoopParams = z.strictObject({
  delayMs: z.int().min(0).max(86_400_000).optional(),
  /** The step fails its first N attempts (for tests of retries). */
  failTimes: nonNegativeInt.optional(),
});
export type NoopParams = z.infer<typeof NoopParams>;

export const SqlParams = z.strictObject({
  /** A named target from the engine's configuration, e.g. `warehouse`. */
  target: z.string().min(1),
  sql: z.string().min(1),
  expectRows: nonNegativeInt.optional(),
  statementTimeoutMs: positiveInt.optional(),
});
export type SqlParams = z.infer<typeof SqlParams>;

export const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
export const HttpUrl = z.url({
  protocol: /^https?$/,
  error: 'expected an absolute http:// or https:// URL',
});
export const HttpParams = z.strictObject({
  method: z.enum(httpMethods).default('GET'),
  url: HttpUrl,
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
  expectStatus: z
    .union([z.int().min(100).max(599), z.array(z.int().min(100).max(599)).min(1)], {
      error: 'expected an HTTP status (an integer 100..599) or a non-empty list of them',
    })
    .default(200),
  timeoutMs: positiveInt.optional(),
});
export type HttpParams = z.infer<typeof HttpParams>;

export const ApprovalParams = z.strictObject({
  timeoutMs: positiveInt.optional(),
  message: z.string().optional(),
});
export type ApprovalParams = z.infer<typeof ApprovalParams>;

/** dbt's `--indirect-selection` modes: which tests come with the selected nodes. */
export const indirectSelectionModes = ['eager', 'cautious', 'buildable', 'empty'] as const;
export type IndirectSelection = (typeof indirectSelectionModes)[number];

export const dbtMaterializations = ['view', 'table'] as const;
export const DbtMaterialization = z.enum(dbtMaterializations);
export type DbtMaterialization = z.infer<typeof DbtMaterialization>;

export const DbtModelParams = z.strictObject({
  uniqueId: z.string().min(1),
  name: z.string().min(1),
  packageName: z.string().min(1),
  materialization: DbtMaterialization,
  database: z.string().nullable().optional(),
  schema: z.string().min(1),
  /** The relation name: the model's alias, or its name. */
  identifier: z.string().min(1),
  /** null only in preview plans (a manifest that was never compiled). */
  compiledSql: z.string().nullable(),
  checksum: z.string().nullable().optional(),
  originalFilePath: z.string().optional(),
  /** The engine's named target; the engine takes `warehouse` when absent. */
  target: z.string().min(1).optional(),
  /** true: the engine runs the model as a noop (for manifests without a warehouse). */
  simulate: z.boolean().optional(),
  materializationNote: z.string().optional(),
});
export type DbtModelParams = z.infer<typeof DbtModelParams>;

export const DbtTestParams = z.strictObject({
  uniqueId: z.string().min(1),
  name: z.string().min(1),
  packageName: z.string().min(1),
  compiledSql: z.string().nullable(),
  severity: z.enum(['error', 'warn']),
  /** unique_ids of the models the test is attached to. */
  attachedNodes: z.array(z.string()),
  checksum: z.string().nullable().optional(),
  target: z.string().min(1).optional(),
  simulate: z.boolean().optional(),
});
export type DbtTestParams = z.infer<typeof DbtTestParams>;

/** The target a dbt step runs on when it names none. */
export const DEFAULT_DBT_TARGET = 'warehouse';

// ---- steps -----------------------------------------------------------------------------------

const stepCommon = {
  id: StepId,
  needs: z.array(StepId).optional(),
  retry: RetryPolicy.optional(),
  timeoutMs: positiveInt.optional(),
  approval: ApprovalSetting.optional(),
  description: z.string().optional(),
};

/** The fields every step has, whatever its kind (lenient: other keys pass). */
export const StepBase = z.object({ ...stepCommon, kind: z.string(), with: z.unknown() });

export const NoopStep = z.strictObject({
  ...stepCommon,
  kind: z.literal('noop'),
  with: NoopParams.default({}),
});
export const SqlStep = z.strictObject({ ...stepCommon, kind: z.literal('sql'), with: SqlParams });
export const HttpStep = z.strictObject({
  ...stepCommon,
  kind: z.literal('http'),
  with: HttpParams,
});
export const ApprovalStep = z.strictObject({
  ...stepCommon,
  kind: z.literal('approval'),
  with: ApprovalParams.default({}),
});
export const DbtModelStep = z.strictObject({
  ...stepCommon,
  kind: z.literal('dbt.model'),
  with: DbtModelParams,
});
export const DbtTestStep = z.strictObject({
  ...stepCommon,
  kind: z.literal('dbt.test'),
  with: DbtTestParams,
});

export const Step = z.discriminatedUnion('kind', [
  NoopStep,
  SqlStep,
  HttpStep,
  ApprovalStep,
  DbtModelStep,
  DbtTestStep,
]);
export type Step = z.infer<typeof Step>;
/** A step as written, before defaults are applied (`with` may be absent for noop/approval). */
export type StepInput = z.input<typeof Step>;
export type StepKind = Step['kind'];
export type NoopStep = z.infer<typeof NoopStep>;
export type SqlStep = z.infer<typeof SqlStep>;
export type HttpStep = z.infer<typeof HttpStep>;
export type ApprovalStep = z.infer<typeof ApprovalStep>;
export type DbtModelStep = z.infer<typeof DbtModelStep>;
export type DbtTestStep = z.infer<typeof DbtTestStep>;

export const stepKinds = ['noop', 'sql', 'http', 'approval', 'dbt.model', 'dbt.test'] as const;
export const StepKindSchema = z.enum(stepKinds);

/** Schema of each kind's step, for validating one step once its kind is known. */
export const stepSchemaByKind = {
  noop: NoopStep,
  sql: SqlStep,
  http: HttpStep,
  approval: ApprovalStep,
  'dbt.model': DbtModelStep,
  'dbt.test': DbtTestStep,
} as const satisfies Record<StepKind, z.ZodType>;

export const PlanDefaults = z.strictObject({
  retry: RetryPolicy.optional(),
  timeoutMs: positiveInt.optional(),
});
export type PlanDefaults = z.infer<typeof PlanDefaults>;

export const failurePolicies = ['stop', 'continue'] as const;
export const FailurePolicy = z.enum(failurePolicies);
export type FailurePolicy = z.infer<typeof FailurePolicy>;

export const PlanV1 = z.strictObject({
  schemaVersion: z.literal(PLAN_SCHEMA_VERSION),
  planId: PlanId,
  planVersion: PlanVersion,
  concurrency: z.int().min(1).max(256).default(4),
  failurePolicy: FailurePolicy.default('stop'),
  defaults: PlanDefaults.optional(),
  steps: z.array(Step),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type PlanV1 = z.infer<typeof PlanV1>;
/** A plan as written (defaults not yet applied). */
export type PlanV1Input = z.input<typeof PlanV1>;

// ---- execution plan --------------------------------------------------------------------------

export const stepActions = ['RUN', 'SKIP'] as const;
export const StepDecision = z.strictObject({
  action: z.enum(stepActions),
  reason: z.string(),
});
export type StepDecision = z.infer<typeof StepDecision>;

/** A step of an execution plan: retry and timeout resolved from the plan's defaults. */
const resolved = { retry: RetryPolicy, timeoutMs: positiveInt };
export const ExecutionStep = z.discriminatedUnion('kind', [
  NoopStep.extend(resolved),
  SqlStep.extend(resolved),
  HttpStep.extend(resolved),
  ApprovalStep.extend(resolved),
  DbtModelStep.extend(resolved),
  DbtTestStep.extend(resolved),
]);
export type ExecutionStep = z.infer<typeof ExecutionStep>;

export const PlanSource = z.strictObject({
  kind: z.enum(['plan', 'dbt']),
  manifestSchemaVersion: z.string().optional(),
  dbtVersion: z.string().optional(),
  projectName: z.string().optional(),
});
export type PlanSource = z.infer<typeof PlanSource>;

export const RequiredCapabilities = z.strictObject({
  kinds: z.array(z.string()),
  materializations: z.array(z.string()),
  targets: z.array(z.string()),
});
export type RequiredCapabilities = z.infer<typeof RequiredCapabilities>;

export const estimateBases = ['history', 'default', 'mixed'] as const;
export const PlanEstimate = z.strictObject({
  /** Simulated wall-clock duration with the plan's concurrency. */
  durationMs: z.number().min(0),
  /** history: every step had a recorded duration; default: none had; mixed: some had. */
  basis: z.enum(estimateBases),
  /** Duration assumed for a step without history (noop: its delay). */
  defaultStepMs: z.number().min(0),
  /** Sum of the durations along the critical path (the floor with unlimited concurrency). */
  criticalPathMs: z.number().min(0),
});
export type PlanEstimate = z.infer<typeof PlanEstimate>;

export const ImportReport = z.strictObject({
  skipped: z.array(
    z.strictObject({ uniqueId: z.string(), resourceType: z.string(), reason: z.string() }),
  ),
  excluded: z.array(z.strictObject({ uniqueId: z.string(), by: z.string() })).optional(),
  warnings: z.array(z.string()),
});
export type ImportReport = z.infer<typeof ImportReport>;

export const ExecutionPlan = z.strictObject({
  schemaVersion: z.literal(EXECUTION_PLAN_SCHEMA_VERSION),
  planId: PlanId,
  planVersion: PlanVersion,
  compiledAt: z.iso.datetime(),
  source: PlanSource,
  concurrency: z.int().min(1).max(256),
  failurePolicy: FailurePolicy,
  defaults: z.strictObject({ retry: RetryPolicy, timeoutMs: positiveInt }),
  steps: z.array(ExecutionStep),
  order: z.strictObject({
    levels: z.array(z.array(StepId)),
    criticalPath: z.array(StepId),
  }),
  decisions: z.record(z.string(), StepDecision),
  requiredCapabilities: RequiredCapabilities,
  estimate: PlanEstimate,
  requiresApproval: z.boolean(),
  approvalReasons: z.array(z.string()),
  report: ImportReport.optional(),
});
export type ExecutionPlan = z.infer<typeof ExecutionPlan>;

/** One validation problem: a stable code, the JSON path of the offending value, a message. */
export const PlanIssue = z.strictObject({
  code: z.string(),
  /** JSON path, e.g. `$.steps[3].needs[0]`. */
  path: z.string(),
  message: z.string(),
});
export type PlanIssue = z.infer<typeof PlanIssue>;
