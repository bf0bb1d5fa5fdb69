/**
 * A stand-in for the public api (DESIGN §10) on 127.0.0.1, for the CLI's contract tests: the
 * few routes the CLI calls, answering with the shapes of the real service (problem+json
 * errors with `code`, execution plans, RunWithSteps, RunEvents by runSeq, SSE frames as
 * `id`/`event: run-event`/`data`, then `event: end`). Bearer JWTs are verified with jose
 * against the dev secret, issuer and audience, as the api does.
 *
 * A run's events are scripted at start from the plan: RunQueued (with stepIds), RunStarted,
 * then each step in level order, then the terminal event. `failStep` makes one step fail its
 * first attempt with willRetry and its second for good (the run then FAILS).
 * `dropStreamAfter` closes the first SSE connection abruptly after that many events.
 */
import { createHash, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { jwtVerify } from 'jose';
import type { RunEvent } from '@dvt/contracts';

export interface FakeStep {
  id: string;
  kind: string;
  needs: string[];
}

/** An event as the real api sends it, with any event type (tests send made-up ones too). */
export type FakeRunEvent = Omit<RunEvent, 'eventType'> & { eventType: string };

export interface FakeRun {
  runId: string;
  projectId: string;
  environment: string;
  planId: string;
  planVersion: string;
  events: FakeRunEvent[];
  steps: FakeStep[];
}

export interface FakeApiOptions {
  secret: string;
  /** Step id that fails (first attempt retried, second fatal). */
  failStep?: string;
  /** Close the first SSE connection of each run after this many events. */
  dropStreamAfter?: number;
  /** The SSE route answers 501 (tests the polling fallback). */
  streamBroken?: boolean;
  /** Environments that exist in every project (others: 404 naming the environment). */
  environments?: string[];
}

export interface FakeApi {
  url: string;
  app: FastifyInstance;
  projects: Set<string>;
  environments: Set<string>;
  runs: Map<string, FakeRun>;
  /** Every request: method, url, body, idempotency key. */
  requests: {
    method: string;
    url: string;
    body: unknown;
    idempotencyKey?: string;
    authorization?: string;
  }[];
  /** afterSeq of each SSE connection, in order. */
  streamConnections: number[];
  signals: Record<string, unknown>[];
  close(): Promise<void>;
}

function problem(
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: `https://dvt.dev/problems/${code.toLowerCase()}`,
      title: code,
      status,
      code,
      detail,
      ...extra,
    });
}

function levels(steps: FakeStep[]): string[][] {
  const depth = new Map<string, number>();
  const byId = new Map(steps.map((s) => [s.id, s]));
  const d = (id: string): number => {
    if (depth.has(id)) return depth.get(id)!;
    const v =
      Math.max(
        -1,
        ...byId
          .get(id)!
          .needs.filter((n) => byId.has(n))
          .map(d),
      ) + 1;
    depth.set(id, v);
    return v;
  };
  const out: string[][] = [];
  for (const s of steps) (out[d(s.id)] ??= []).push(s.id);
  return out.map((l) => l.sort());
}

function compileFromManifest(
  manifest: Record<string, unknown>,
  select: string[] | undefined,
): FakeStep[] {
  const nodes = manifest.nodes as Record<
    string,
    { resource_type: string; name: string; depends_on?: { nodes?: string[] } }
  >;
  const chosen = Object.entries(nodes).filter(
    ([, n]) =>
      (n.resource_type === 'model' || n.resource_type === 'test') &&
      (!select?.length || select.includes(n.name)),
  );
  const ids = new Set(chosen.map(([id]) => id));
  return chosen.map(([id, n]) => ({
    id,
    kind: n.resource_type === 'model' ? 'dbt.model' : 'dbt.test',
    needs: (n.depends_on?.nodes ?? []).filter((x) => ids.has(x)),
  }));
}

interface PlansBody {
  plan?: {
    planId: string;
    planVersion: string;
    steps: { id: string; kind: string; needs?: string[] }[];
  };
  dbt?: {
    manifest: Record<string, unknown>;
    select?: string[];
    planId?: string;
    planVersion?: string;
  };
}

export async function startFakeApi(options: FakeApiOptions): Promise<FakeApi> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  const secret = new TextEncoder().encode(options.secret);
  const projects = new Set<string>();
  const environments = new Set<string>(options.environments ?? ['dev']);
  const plans = new Map<string, { steps: FakeStep[]; planId: string; planVersion: string }>();
  const runs = new Map<string, FakeRun>();
  const keys = new Map<string, string>();
  const requests: FakeApi['requests'] = [];
  const streamConnections: number[] = [];
  const signals: Record<string, unknown>[] = [];
  const dropped = new Set<string>();

  app.addHook('onRequest', async (req, reply) => {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!token)
      return problem(
        reply,
        401,
        'UNAUTHENTICATED',
        'no credential; send Authorization: Bearer <token>',
      );
    try {
      await jwtVerify(token, secret, {
        issuer: 'dvt-dev',
        audience: 'dvt-api',
        algorithms: ['HS256'],
      });
    } catch {
      return problem(reply, 401, 'UNAUTHENTICATED', 'the token signature does not verify');
    }
  });
  app.addHook('preHandler', async (req) => {
    requests.push({
      method: req.method,
      url: req.url,
      body: req.body,
      ...(typeof req.headers['idempotency-key'] === 'string'
        ? { idempotencyKey: req.headers['idempotency-key'] }
        : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
  });

  app.post<{ Body: { projectId: string } }>('/v1/projects', async (req, reply) => {
    if (projects.has(req.body.projectId)) {
      return problem(
        reply,
        409,
        'CONFLICT',
        `project ${req.body.projectId} already exists; choose another projectId`,
      );
    }
    projects.add(req.body.projectId);
    return reply.code(201).send({
      projectId: req.body.projectId,
      name: req.body.projectId,
      createdAt: new Date().toISOString(),
    });
  });

  app.post<{ Params: { projectId: string }; Body: { name: string } }>(
    '/v1/projects/:projectId/environments',
    async (req, reply) => {
      environments.add(req.body.name);
      return reply.code(201).send({ projectId: req.params.projectId, name: req.body.name });
    },
  );

  app.post<{ Params: { projectId: string }; Body: PlansBody }>(
    '/v1/projects/:projectId/plans',
    async (req, reply) => {
      const { projectId } = req.params;
      if (!projects.has(projectId))
        return problem(
          reply,
          404,
          'NOT_FOUND',
          `no project ${projectId}; create it with POST /v1/projects`,
        );
      let steps: FakeStep[];
      let planId: string;
      let planVersion: string;
      let source: Record<string, unknown>;
      if (req.body.plan) {
        const plan = req.body.plan;
        const bad = plan.steps
          .map((s, i) => [s, i] as const)
          .filter(([s]) => !['noop', 'sql', 'http', 'approval'].includes(s.kind));
        if (bad.length) {
          return problem(reply, 422, 'PLAN_INVALID', `the plan has ${bad.length} problems`, {
            errors: bad.map(([s, i]) => ({
              code: 'PLAN_UNKNOWN_KIND',
              path: `$.steps[${i}].kind`,
              message: `unknown kind ${s.kind}`,
            })),
          });
        }
        steps = plan.steps.map((s) => ({ id: s.id, kind: s.kind, needs: s.needs ?? [] }));
        planId = plan.planId;
        planVersion = plan.planVersion;
        source = { kind: 'plan' };
      } else {
        const manifest = req.body.dbt!.manifest;
        steps = compileFromManifest(manifest, req.body.dbt!.select);
        planId = req.body.dbt!.planId ?? 'jaffle_shop';
        planVersion = req.body.dbt!.planVersion ?? 'm-1';
        source = { kind: 'dbt', manifestSchemaVersion: 'v8', projectName: 'jaffle_shop' };
      }
      plans.set(`${projectId}/${planId}/${planVersion}`, { steps, planId, planVersion });
      const decisions = Object.fromEntries(
        steps.map((s) => [
          s.id,
          s.id === 'report'
            ? { action: 'SKIP', reason: 'unchanged since the last run' }
            : { action: 'RUN', reason: 'selected' },
        ]),
      );
      const body = JSON.stringify(steps);
      return reply.code(201).send({
        schemaVersion: 'dvt.execution-plan/v1',
        planId,
        planVersion,
        sha256: createHash('sha256').update(body).digest('hex'),
        compiledAt: new Date().toISOString(),
        source,
        concurrency: 2,
        failurePolicy: 'stop',
        defaults: { retry: { maxAttempts: 3 }, timeoutMs: 600000 },
        steps: steps.map((s) => ({ ...s, with: {}, retry: { maxAttempts: 3 }, timeoutMs: 600000 })),
        order: { levels: levels(steps), criticalPath: [] },
        decisions,
        requiredCapabilities: {
          kinds: [...new Set(steps.map((s) => s.kind))],
          materializations: [],
          targets: [],
        },
        estimate: {
          durationMs: 12_300,
          basis: 'default',
          defaultStepMs: 1000,
          criticalPathMs: 9_000,
        },
        requiresApproval: false,
        approvalReasons: [],
      });
    },
  );

  app.post<{
    Params: { projectId: string };
    Body: { planId: string; planVersion: string; environment: string };
  }>('/v1/projects/:projectId/runs', async (req, reply) => {
    const { projectId } = req.params;
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string')
      return problem(reply, 400, 'VALIDATION_FAILED', 'the Idempotency-Key header is required');
    const plan = plans.get(`${projectId}/${req.body.planId}/${req.body.planVersion}`);
    if (!plan)
      return problem(
        reply,
        404,
        'NOT_FOUND',
        `no plan ${req.body.planId} version ${req.body.planVersion}`,
      );
    if (!environments.has(req.body.environment)) {
      return problem(
        reply,
        404,
        'NOT_FOUND',
        `no environment ${req.body.environment} in project ${projectId}; create it first`,
      );
    }
    const runId = keys.get(key) ?? randomUUID();
    if (!runs.has(runId)) {
      keys.set(key, runId);
      runs.set(runId, scriptRun(runId, projectId, req.body.environment, plan, options.failStep));
    }
    const base = `http://127.0.0.1/v1/runs/${runId}`;
    return reply.code(202).send({
      runId,
      status: 'QUEUED',
      links: {
        self: base,
        events: `${base}/events`,
        temporalUi: `http://localhost:8088/namespaces/default/workflows/run-${runId}`,
      },
    });
  });

  app.get<{ Params: { projectId: string }; Querystring: { status?: string; limit?: string } }>(
    '/v1/projects/:projectId/runs',
    async (req) => {
      const list = [...runs.values()]
        .filter((r) => r.projectId === req.params.projectId)
        .map(runView);
      const filtered = req.query.status ? list.filter((r) => r.status === req.query.status) : list;
      return { runs: filtered.slice(0, Number(req.query.limit ?? 50)), nextCursor: null };
    },
  );

  app.get<{ Params: { runId: string } }>('/v1/runs/:runId', async (req, reply) => {
    const run = runs.get(req.params.runId);
    if (!run) return problem(reply, 404, 'RUN_NOT_FOUND', `no run ${req.params.runId}`);
    return runView(run);
  });

  app.get<{ Params: { runId: string }; Querystring: { afterSeq?: string; limit?: string } }>(
    '/v1/runs/:runId/events',
    async (req, reply) => {
      const run = runs.get(req.params.runId);
      if (!run) return problem(reply, 404, 'RUN_NOT_FOUND', `no run ${req.params.runId}`);
      const after = Number(req.query.afterSeq ?? 0);
      const limit = Number(req.query.limit ?? 100);
      return { events: run.events.filter((e) => e.runSeq > after).slice(0, limit) };
    },
  );

  app.get<{ Params: { runId: string }; Querystring: { afterSeq?: string } }>(
    '/v1/runs/:runId/events/stream',
    async (req, reply) => {
      const run = runs.get(req.params.runId);
      if (!run) return problem(reply, 404, 'RUN_NOT_FOUND', `no run ${req.params.runId}`);
      if (options.streamBroken)
        return problem(reply, 501, 'INTERNAL_ERROR', 'streams are switched off');
      const after = Number(req.query.afterSeq ?? 0);
      streamConnections.push(after);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
      });
      res.write('retry: 20\n\n');
      const pending = run.events.filter((e) => e.runSeq > after);
      const drop = options.dropStreamAfter !== undefined && !dropped.has(run.runId);
      let sent = 0;
      for (const event of pending) {
        if (drop && sent === options.dropStreamAfter) {
          dropped.add(run.runId);
          // Half a frame, then the connection dies: the client must not take the partial event.
          res.write(`id: ${event.runSeq}\nevent: run-event\ndata: {"runSeq":`);
          await new Promise((r) => setTimeout(r, 20));
          res.destroy();
          return;
        }
        res.write(`: heartbeat lastSeq=${event.runSeq - 1}\n\n`);
        res.write(`id: ${event.runSeq}\nevent: run-event\ndata: ${JSON.stringify(event)}\n\n`);
        sent += 1;
        await new Promise((r) => setTimeout(r, 2));
      }
      const last = run.events[run.events.length - 1]!;
      res.write(
        `event: end\ndata: ${JSON.stringify({ lastSeq: last.runSeq, status: statusOf(run) })}\n\n`,
      );
      res.end();
    },
  );

  app.post<{ Params: { runId: string }; Body: Record<string, unknown> }>(
    '/v1/runs/:runId/signals',
    async (req, reply) => {
      const run = runs.get(req.params.runId);
      if (!run) return problem(reply, 404, 'RUN_NOT_FOUND', `no run ${req.params.runId}`);
      if (statusOf(run) !== 'RUNNING' && req.body.type !== 'RETRY_RUN') {
        return problem(
          reply,
          409,
          'RUN_TERMINAL',
          `run ${run.runId} has ended (${statusOf(run)}); the signal is not allowed`,
        );
      }
      signals.push(req.body);
      return reply.code(202).send({
        signalId: req.body.signalId,
        type: req.body.type,
        runId: run.runId,
        accepted: true,
      });
    },
  );

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    app,
    projects,
    environments,
    runs,
    requests,
    streamConnections,
    signals,
    close: () => app.close(),
  };
}

function statusOf(run: FakeRun): string {
  const last = run.events[run.events.length - 1]?.eventType;
  return last === 'RunCompleted'
    ? 'COMPLETED'
    : last === 'RunFailed'
      ? 'FAILED'
      : last === 'RunCancelled'
        ? 'CANCELLED'
        : 'RUNNING';
}

function runView(run: FakeRun) {
  const steps = new Map<
    string,
    { stepId: string; status: string; attempts: number; lastError: unknown; reason: string | null }
  >();
  for (const e of run.events) {
    if (!e.stepId) continue;
    const s = steps.get(e.stepId) ?? {
      stepId: e.stepId,
      status: 'PENDING',
      attempts: 0,
      lastError: null,
      reason: null,
    };
    if (e.eventType === 'StepStarted') Object.assign(s, { status: 'RUNNING', attempts: e.attempt });
    if (e.eventType === 'StepCompleted') s.status = 'COMPLETED';
    if (e.eventType === 'StepFailed')
      Object.assign(s, { status: 'FAILED', lastError: e.payload.error });
    if (e.eventType === 'StepSkipped')
      Object.assign(s, { status: 'SKIPPED', reason: e.payload.reason });
    steps.set(e.stepId, s);
  }
  const list = [...steps.values()];
  const count = (st: string) => list.filter((s) => s.status === st).length;
  const first = run.events[0]!;
  const last = run.events[run.events.length - 1]!;
  return {
    runId: run.runId,
    tenantId: 'dev',
    projectId: run.projectId,
    environment: run.environment,
    planId: run.planId,
    planVersion: run.planVersion,
    status: statusOf(run),
    substatus: null,
    originalRunId: null,
    createdAt: first.emittedAt,
    startedAt: first.emittedAt,
    endedAt: last.emittedAt,
    updatedAt: last.emittedAt,
    lastSeq: last.runSeq,
    stepCounts: {
      total: run.steps.length,
      pending: count('PENDING'),
      running: count('RUNNING'),
      completed: count('COMPLETED'),
      failed: count('FAILED'),
      skipped: count('SKIPPED'),
    },
    error: statusOf(run) === 'FAILED' ? last.payload.error : null,
    steps: list.map((s) => ({
      ...s,
      startedAt: first.emittedAt,
      endedAt: last.emittedAt,
      output: null,
    })),
  };
}

function scriptRun(
  runId: string,
  projectId: string,
  environment: string,
  plan: { steps: FakeStep[]; planId: string; planVersion: string },
  failStep: string | undefined,
): FakeRun {
  const events: FakeRunEvent[] = [];
  const t0 = Date.parse('2025-06-01T10:00:00.000Z');
  const add = (
    eventType: string,
    stepId: string | null,
    attempt: number | null,
    payload: Record<string, unknown>,
  ) => {
    const runSeq = events.length + 1;
    const at = new Date(t0 + runSeq * 100).toISOString();
    events.push({
      eventId: randomUUID(),
      runId,
      runSeq,
      idempotencyKey: createHash('sha256')
        .update(`${runId}|${stepId ?? 'RUN'}|${runSeq}|${eventType}`)
        .digest('hex'),
      tenantId: 'dev',
      projectId,
      environment,
      planId: plan.planId,
      planVersion: plan.planVersion,
      stepId,
      logicalAttemptId: stepId ? `${stepId}#${attempt ?? 1}` : eventType,
      attempt,
      eventType,
      payload,
      emittedAt: at,
      persistedAt: at,
    });
  };
  const ids = plan.steps.map((s) => s.id);
  add('RunQueued', null, null, { stepIds: ids });
  add('RunStarted', null, null, { stepIds: ids });
  let failed = false;
  for (const level of levels(plan.steps)) {
    for (const id of level) {
      if (failed) {
        add('StepSkipped', id, null, { reason: 'an upstream step failed' });
        continue;
      }
      add('StepStarted', id, 1, {});
      if (id === failStep) {
        add('StepFailed', id, 1, {
          error: { code: 'SQL_ERROR', message: 'relation "orders" does not exist' },
          willRetry: true,
        });
        add('StepStarted', id, 2, {});
        add('StepFailed', id, 2, {
          error: { code: 'SQL_ERROR', message: 'relation "orders" does not exist' },
          willRetry: false,
        });
        failed = true;
        continue;
      }
      add('StepCompleted', id, 1, { durationMs: 250 });
    }
  }
  if (failed)
    add('RunFailed', null, null, {
      error: { code: 'STEP_FAILED', message: `step ${failStep} failed`, stepId: failStep },
    });
  else add('RunCompleted', null, null, {});
  return {
    runId,
    projectId,
    environment,
    planId: plan.planId,
    planVersion: plan.planVersion,
    events,
    steps: plan.steps,
  };
}
