import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { indirectSelectionModes, type ExecutionPlan } from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import { z } from 'zod';
import type { Principal } from '../auth/authenticator.ts';
import type { ApiRoute } from '../http/route-table.ts';
import { inspectJson, MAX_JSON_DEPTH } from '../http/zod-schema.ts';
import { canReadArtifact } from './artifacts.ts';
import type { DbtCompileInput } from '../clients/planner-client.ts';
import type { PlanVersionRecord } from '../data/plans.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors, PlanIdText, PlanVersionText, Problem, Sha256, Slug } from './schemas.ts';

const DbtRequest = z
  .strictObject({
    manifest: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'the manifest.json document inline' }),
    manifestSha256: Sha256.optional().meta({
      description: 'sha256 of a manifest uploaded with POST /v1/artifacts',
    }),
    select: z.array(z.string().min(1).max(2000)).max(500).optional(),
    exclude: z.array(z.string().min(1).max(2000)).max(500).optional(),
    indirectSelection: z.enum(indirectSelectionModes).optional().meta({
      description:
        "dbt's --indirect-selection: which tests come with the selected nodes (default eager)",
    }),
    fullRefresh: z.boolean().optional(),
    preview: z
      .boolean()
      .optional()
      .meta({ description: 'compile without compiled SQL; the result is returned, not stored' }),
    simulate: z.boolean().optional(),
  })
  .refine((v) => (v.manifest === undefined) !== (v.manifestSha256 === undefined), {
    message: 'give exactly one of manifest or manifestSha256',
  });

const SubmitBody = z
  .strictObject({
    plan: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'a dvt.plan/v1 document' }),
    dbt: DbtRequest.optional(),
  })
  .refine((v) => (v.plan === undefined) !== (v.dbt === undefined), {
    message: 'give exactly one of plan or dbt',
  });

const PlanVersionSchema = z.object({
  projectId: z.string(),
  planId: z.string(),
  planVersion: z.string(),
  sha256: z.string(),
  uri: z.string(),
  sizeBytes: z.number().int(),
  schemaVersion: z.string(),
  sourceKind: z.enum(['plan', 'dbt']),
  stepsTotal: z.number().int(),
  requiresApproval: z.boolean(),
  createdBy: z.string(),
  createdAt: z.string(),
});

const CompiledSchema = z.looseObject({
  planId: z.string(),
  planVersion: z.string(),
  sha256: z.string().nullable(),
  sizeBytes: z.number().int(),
  stored: z.boolean(),
  steps: z.array(z.unknown()),
  order: z.unknown(),
  decisions: z.unknown(),
  estimate: z.unknown(),
  requiresApproval: z.boolean(),
});

const PlanPathParams = z.strictObject({ projectId: Slug, planId: PlanIdText });
const VersionPathParams = z.strictObject({
  projectId: Slug,
  planId: PlanIdText,
  planVersion: PlanVersionText,
});

export function planRoutes(deps: RouteDeps): ApiRoute[] {
  const { config } = deps;
  return [
    {
      id: 'plans.submit',
      method: 'POST',
      url: '/v1/projects/:projectId/plans',
      summary:
        'Submit a plan or a dbt manifest; the planner compiles it and the execution plan is stored',
      tag: 'plans',
      permission: 'author',
      scope: 'project',
      bodyLimit: config.PLAN_BODY_LIMIT_BYTES,
      schema: {
        params: z.strictObject({ projectId: Slug }),
        body: SubmitBody,
        response: {
          201: CompiledSchema,
          200: CompiledSchema,
          409: Problem,
          413: Problem,
          422: Problem,
          503: Problem,
          ...commonErrors,
        },
      },
      async handler({ principal, projectId, body, reply }) {
        const tenantId = principal.tenantId;
        if (body.plan !== undefined) {
          const size = Buffer.byteLength(JSON.stringify(body.plan));
          if (size > config.PLAN_MAX_BYTES) {
            throw new ProblemError(
              'PAYLOAD_TOO_LARGE',
              `the plan is ${size} bytes; a plan document may be at most ${config.PLAN_MAX_BYTES} bytes (PLAN_MAX_BYTES). Large dbt projects go in { "dbt": { "manifest" } }`,
              { limitBytes: config.PLAN_MAX_BYTES },
            );
          }
        }
        const sourceSha256 = sha256Hex(Buffer.from(JSON.stringify(body)));
        const dbt = body.dbt ? await resolveManifest(deps, principal, body.dbt) : undefined;
        const compiled = await deps.planner.compile({
          ...(body.plan !== undefined ? { plan: body.plan } : {}),
          ...(dbt ? { dbt } : {}),
          tenantId,
          projectId: projectId!,
        });
        checkCompiled(compiled);
        const bytes = Buffer.from(JSON.stringify(compiled));
        if (body.dbt?.preview) {
          return reply
            .code(200)
            .send(compiledView(compiled, { sha256: null, sizeBytes: bytes.length, stored: false }));
        }
        const stored = await deps.artifacts.put(tenantId, bytes, {
          kind: 'plan',
          contentType: 'application/json',
          createdBy: principal.subject,
        });
        const { record, created } = await deps.plans.record(tenantId, {
          projectId: projectId!,
          planId: compiled.planId,
          planVersion: compiled.planVersion,
          sha256: stored.sha256,
          uri: stored.uri,
          sizeBytes: stored.sizeBytes,
          schemaVersion: compiled.schemaVersion,
          sourceKind: body.plan !== undefined ? 'plan' : 'dbt',
          sourceSha256,
          stepsTotal: compiled.steps.length,
          requiresApproval: compiled.requiresApproval,
          createdBy: principal.subject,
        });
        const base = `/v1/projects/${projectId}/plans/${encodeURIComponent(record.planId)}`;
        return reply
          .code(created ? 201 : 200)
          .header('location', `${base}/versions/${encodeURIComponent(record.planVersion)}`)
          .send({
            ...compiledView(created ? compiled : await loadPlan(deps, tenantId, record), {
              sha256: record.sha256,
              sizeBytes: record.sizeBytes,
              stored: true,
            }),
            uri: record.uri,
            links: {
              self: `${base}/versions/${encodeURIComponent(record.planVersion)}`,
              plan: base,
            },
          });
      },
    },
    {
      id: 'plans.get',
      method: 'GET',
      url: '/v1/projects/:projectId/plans/:planId',
      summary: 'A plan and its versions, newest first',
      tag: 'plans',
      permission: 'read',
      scope: 'project',
      schema: {
        params: PlanPathParams,
        response: {
          200: z.object({ planId: z.string(), versions: z.array(PlanVersionSchema) }),
          ...commonErrors,
        },
      },
      async handler({ principal, projectId, params }) {
        const versions = await deps.plans.versions(principal.tenantId, projectId!, params.planId);
        if (versions.length === 0)
          throw new ProblemError('NOT_FOUND', `no plan ${params.planId} in project ${projectId}`);
        return { planId: params.planId, versions: versions.map(publicVersion) };
      },
    },
    {
      id: 'plans.version',
      method: 'GET',
      url: '/v1/projects/:projectId/plans/:planId/versions/:planVersion',
      summary: 'One plan version with its execution plan',
      tag: 'plans',
      permission: 'read',
      scope: 'project',
      schema: {
        params: VersionPathParams,
        response: {
          200: PlanVersionSchema.extend({ executionPlan: z.unknown() }),
          ...commonErrors,
        },
      },
      async handler({ principal, projectId, params }) {
        const record = await deps.plans.get(
          principal.tenantId,
          projectId!,
          params.planId,
          params.planVersion,
        );
        if (!record) {
          throw new ProblemError(
            'NOT_FOUND',
            `no version ${params.planVersion} of plan ${params.planId} in project ${projectId}`,
          );
        }
        return {
          ...publicVersion(record),
          executionPlan: await loadPlan(deps, principal.tenantId, record),
        };
      },
    },
  ];
}

function publicVersion(record: PlanVersionRecord) {
  const { sourceSha256: _omit, ...rest } = record;
  return rest;
}

function compiledView(
  plan: ExecutionPlan,
  stored: { sha256: string | null; sizeBytes: number; stored: boolean },
) {
  return {
    planId: plan.planId,
    planVersion: plan.planVersion,
    ...stored,
    schemaVersion: plan.schemaVersion,
    compiledAt: plan.compiledAt,
    source: plan.source,
    steps: plan.steps,
    order: plan.order,
    decisions: plan.decisions,
    estimate: plan.estimate,
    requiresApproval: plan.requiresApproval,
    approvalReasons: plan.approvalReasons,
    requiredCapabilities: plan.requiredCapabilities,
    ...(plan.report ? { report: plan.report } : {}),
  };
}

function checkCompiled(plan: ExecutionPlan): void {
  const ok =
    typeof plan === 'object' &&
    plan !== null &&
    typeof plan.planId === 'string' &&
    typeof plan.planVersion === 'string' &&
    typeof plan.schemaVersion === 'string' &&
    Array.isArray(plan.steps);
  if (!ok) {
    throw new ProblemError(
      'DEPENDENCY_UNAVAILABLE',
      'the planner answered with something that is not an execution plan',
      {
        dependency: 'planner',
      },
    );
  }
}

async function resolveManifest(
  deps: RouteDeps,
  principal: Principal,
  dbt: z.infer<typeof DbtRequest>,
): Promise<DbtCompileInput> {
  const tenantId = principal.tenantId;
  const { manifestSha256, manifest, ...rest } = dbt;
  if (!manifestSha256) return { ...rest, manifest };
  // The same rule as downloading it: a project-scoped author compiles only manifests of its
  // projects (or the tenant's, with a tenant-wide grant).
  const readable = await canReadArtifact(deps, principal, manifestSha256);
  if (!readable || !(await deps.artifacts.head(tenantId, manifestSha256))) {
    throw new ProblemError(
      'ARTIFACT_NOT_FOUND',
      `no artifact ${manifestSha256}; upload the manifest with POST /v1/artifacts first`,
    );
  }
  const { stream } = await deps.artifacts.get(tenantId, manifestSha256);
  const text = (await readAll(stream, deps.config.PLAN_BODY_LIMIT_BYTES)).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new ProblemError(
      'MANIFEST_INVALID',
      `artifact ${manifestSha256} is not JSON; upload dbt's target/manifest.json`,
    );
  }
  if (inspectJson(parsed) === 'too-deep') {
    throw new ProblemError(
      'MANIFEST_INVALID',
      `artifact ${manifestSha256} nests arrays and objects deeper than the limit of ${MAX_JSON_DEPTH} levels`,
      { maxDepth: MAX_JSON_DEPTH },
    );
  }
  return { ...rest, manifest: parsed };
}

async function loadPlan(
  deps: RouteDeps,
  tenantId: string,
  record: PlanVersionRecord,
): Promise<ExecutionPlan> {
  const { plan } = await deps.artifacts.readPlan(tenantId, {
    uri: record.uri,
    sha256: record.sha256,
    schemaVersion: record.schemaVersion,
    planId: record.planId,
    planVersion: record.planVersion,
    sizeBytes: record.sizeBytes,
  });
  return plan as ExecutionPlan;
}

async function readAll(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      stream.destroy();
      throw new ProblemError(
        'PAYLOAD_TOO_LARGE',
        `the manifest exceeds ${maxBytes} bytes (PLAN_BODY_LIMIT_BYTES)`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
