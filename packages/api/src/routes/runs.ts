import { createHash } from 'node:crypto';
import type { PlanRef, RunSignal } from '@dvt/contracts';
import { ProblemError } from '@dvt/service-kit';
import { z } from 'zod';
import type { Principal } from '../auth/authenticator.ts';
import type { ApiRunRecord } from '../data/run-requests.ts';
import type { ApiRoute } from '../http/route-table.ts';
import { runLinks, type RouteDeps } from './deps.ts';
import {
  commonErrors,
  PlanIdText,
  PlanVersionText,
  Problem,
  RunLinks,
  RunParams,
  RunStatusSchema,
  SignalTypeSchema,
  Slug,
} from './schemas.ts';

const StartBody = z.strictObject({
  planId: PlanIdText,
  planVersion: PlanVersionText,
  environment: Slug,
});
const StartHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII characters')
    .optional()
    .meta({ description: 'a retried POST with the same key and body starts one run' }),
});
const Accepted = z.object({
  runId: z.string(),
  status: z.string(),
  projectId: z.string(),
  planId: z.string(),
  planVersion: z.string(),
  environment: z.string(),
  links: RunLinks,
});

const StepState = z.object({
  stepId: z.string(),
  status: z.string(),
  attempts: z.number().int(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  lastError: z.unknown(),
  reason: z.string().nullable(),
});
const RunView = z.looseObject({
  runId: z.string(),
  projectId: z.string(),
  environment: z.string(),
  planId: z.string(),
  planVersion: z.string(),
  status: z.string(),
  substatus: z.string().nullable(),
  links: RunLinks,
});

const ListQuery = z.strictObject({
  status: RunStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(500).optional(),
});

const SignalBody = z.strictObject({
  signalId: z.string().min(1).max(200),
  type: SignalTypeSchema,
  stepId: z.string().min(1).max(512).optional(),
  reason: z.string().max(2000).optional(),
});

const STEP_SIGNALS = new Set(['RETRY_STEP', 'SKIP_STEP']);

/** How long a request waits for a concurrent one holding the same Idempotency-Key. */
const KEY_WAIT_MS = 15_000;

export function runRoutes(deps: RouteDeps): ApiRoute[] {
  return [
    {
      id: 'runs.start',
      method: 'POST',
      url: '/v1/projects/:projectId/runs',
      summary: 'Start a run of a plan version (Idempotency-Key: a retried POST starts one run)',
      tag: 'runs',
      permission: 'operate',
      scope: 'project',
      schema: {
        params: z.strictObject({ projectId: Slug }),
        headers: StartHeaders,
        body: StartBody,
        response: { 202: Accepted, 409: Problem, 422: Problem, 503: Problem, ...commonErrors },
      },
      async handler({ principal, projectId, body, req, reply }) {
        const key = (req.headers as Record<string, string | undefined>)['idempotency-key'];
        const tenantId = principal.tenantId;
        const prepare = async () => {
          const version = await deps.plans.get(tenantId, projectId!, body.planId, body.planVersion);
          if (!version) {
            throw new ProblemError(
              'NOT_FOUND',
              `no version ${body.planVersion} of plan ${body.planId} in project ${projectId}; submit it first`,
            );
          }
          if (!(await deps.projects.hasEnvironment(tenantId, projectId!, body.environment))) {
            throw new ProblemError(
              'NOT_FOUND',
              `no environment ${body.environment} in project ${projectId}; create it first`,
            );
          }
          const planRef: PlanRef = {
            uri: version.uri,
            sha256: version.sha256,
            schemaVersion: version.schemaVersion,
            planId: version.planId,
            planVersion: version.planVersion,
            sizeBytes: version.sizeBytes,
          };
          return planRef;
        };
        const start = async (runId: string) =>
          startRun(deps, principal, {
            runId,
            projectId: projectId!,
            environment: body.environment,
            planRef: await prepare(),
            originalRunId: null,
          });

        if (!key) return reply.code(202).send(await start(crypto.randomUUID()));
        // The key is checked first, so a reused key with another body is always 422.
        const claim = await deps.runRequests.claim({
          tenantId,
          projectId: projectId!,
          key,
          requestHash: hashOf({ projectId, ...body }),
          waitMs: KEY_WAIT_MS,
          leaseMs: deps.config.INTERNAL_CALL_TIMEOUT_MS * 3,
        });
        if (claim.kind === 'done')
          return reply.code(202).header('idempotent-replayed', 'true').send(claim.response);
        let response: Record<string, unknown>;
        try {
          response = await start(claim.runId);
        } catch (error) {
          await deps.runRequests.release(tenantId, projectId!, key);
          throw error;
        }
        await deps.runRequests.complete(tenantId, projectId!, key, response);
        return reply.code(202).send(response);
      },
    },
    {
      id: 'runs.list',
      method: 'GET',
      url: '/v1/projects/:projectId/runs',
      summary: 'List a project’s runs, newest first, with cursor pagination',
      tag: 'runs',
      permission: 'read',
      scope: 'project',
      schema: {
        params: z.strictObject({ projectId: Slug }),
        querystring: ListQuery,
        response: {
          200: z.object({ runs: z.array(RunView), nextCursor: z.string().nullable() }),
          ...commonErrors,
        },
      },
      async handler({ principal, projectId, query }) {
        const page = await deps.runs.listRuns({
          tenantId: principal.tenantId,
          projectId: projectId!,
          limit: query.limit,
          ...(query.status ? { status: query.status } : {}),
          ...(query.cursor ? { cursor: query.cursor } : {}),
        });
        return {
          runs: page.runs.map(({ tenantId: _t, ...run }) => ({
            ...run,
            links: runLinks(deps.config, run.runId),
          })),
          nextCursor: page.nextCursor,
        };
      },
    },
    {
      id: 'runs.get',
      method: 'GET',
      url: '/v1/runs/:runId',
      summary: 'One run with its step states',
      tag: 'runs',
      permission: 'read',
      scope: 'run',
      schema: {
        params: RunParams,
        response: { 200: RunView.extend({ steps: z.array(StepState) }), ...commonErrors },
      },
      async handler({ principal, run }) {
        return runView(deps, principal, run!);
      },
    },
    {
      id: 'runs.signal',
      method: 'POST',
      url: '/v1/runs/:runId/signals',
      summary: 'Signal a run: CANCEL, PAUSE, RESUME, APPROVE, RETRY_STEP, SKIP_STEP, RETRY_RUN',
      tag: 'runs',
      permission: 'operate',
      scope: 'run',
      schema: {
        params: RunParams,
        body: SignalBody,
        response: {
          202: z.object({
            runId: z.string(),
            signalId: z.string(),
            type: z.string(),
            accepted: z.boolean(),
            newRunId: z.string().optional(),
            links: z.object({ newRun: z.string() }).optional(),
          }),
          409: Problem,
          503: Problem,
          ...commonErrors,
        },
      },
      async handler({ principal, run, body, reply }) {
        const signal = body as RunSignal;
        if (STEP_SIGNALS.has(signal.type) && !signal.stepId) {
          throw new ProblemError('VALIDATION_FAILED', `a ${signal.type} signal needs stepId`);
        }
        const answer = await deps.engine.signal(principal.tenantId, run!.runId, signal);
        if (signal.type === 'RETRY_RUN' && typeof answer.newRunId === 'string') {
          // The engine started the new run; the api records it so that it is the tenant's too.
          await deps.runRequests.recordRun({
            runId: answer.newRunId,
            tenantId: principal.tenantId,
            projectId: run!.projectId,
            environment: run!.environment,
            planId: run!.planId,
            planVersion: run!.planVersion,
            originalRunId: run!.runId,
            createdBy: principal.subject,
          });
        }
        return reply.code(202).send({
          runId: run!.runId,
          signalId: signal.signalId,
          type: signal.type,
          accepted: answer.accepted ?? true,
          ...(typeof answer.newRunId === 'string'
            ? {
                newRunId: answer.newRunId,
                links: { newRun: runLinks(deps.config, answer.newRunId).self },
              }
            : {}),
        });
      },
    },
  ];
}

async function startRun(
  deps: RouteDeps,
  principal: Principal,
  run: {
    runId: string;
    projectId: string;
    environment: string;
    planRef: PlanRef;
    originalRunId: string | null;
  },
): Promise<Record<string, unknown>> {
  await deps.runRequests.recordRun({
    runId: run.runId,
    tenantId: principal.tenantId,
    projectId: run.projectId,
    environment: run.environment,
    planId: run.planRef.planId,
    planVersion: run.planRef.planVersion,
    originalRunId: run.originalRunId,
    createdBy: principal.subject,
  });
  await deps.engine.startRun({
    planRef: run.planRef,
    context: {
      tenantId: principal.tenantId,
      projectId: run.projectId,
      environment: run.environment,
      runId: run.runId,
    },
    ...(run.originalRunId ? { originalRunId: run.originalRunId } : {}),
  });
  return {
    runId: run.runId,
    status: 'QUEUED',
    projectId: run.projectId,
    planId: run.planRef.planId,
    planVersion: run.planRef.planVersion,
    environment: run.environment,
    ...(run.originalRunId ? { originalRunId: run.originalRunId } : {}),
    links: runLinks(deps.config, run.runId),
  };
}

async function runView(deps: RouteDeps, principal: Principal, run: ApiRunRecord) {
  const state = await deps.runs.getRun(run.runId, { tenantId: principal.tenantId });
  const links = runLinks(deps.config, run.runId);
  if (!state) {
    // Accepted by the api, not yet queued by the engine.
    return {
      runId: run.runId,
      projectId: run.projectId,
      environment: run.environment,
      planId: run.planId,
      planVersion: run.planVersion,
      status: 'QUEUED',
      substatus: null,
      originalRunId: run.originalRunId,
      createdAt: run.createdAt,
      startedAt: null,
      endedAt: null,
      lastSeq: 0,
      steps: [],
      links,
    };
  }
  const { tenantId: _t, steps, ...rest } = state;
  return {
    ...rest,
    originalRunId: rest.originalRunId ?? run.originalRunId,
    steps: steps.map(({ output: _o, ...step }) => step),
    links,
  };
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}
