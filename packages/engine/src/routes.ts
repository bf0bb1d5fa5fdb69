import type { FastifyInstance } from 'fastify';
import { RunSignal } from '@dvt/contracts';
import { ProblemError, requireInternalToken, type Logger } from '@dvt/service-kit';
import type { z } from 'zod';
import { engineCapabilities } from './capabilities.ts';
import type { EngineConfig } from './config.ts';
import { StartRunBody, type RunService } from './runs.ts';

export interface EngineRouteDeps {
  log: Logger;
  config: EngineConfig;
  runs: RunService;
  targets: string[];
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const errors = result.error.issues.map(
      (issue) => `${issue.path.map(String).join('.') || what}: ${issue.message}`,
    );
    throw new ProblemError('VALIDATION_FAILED', `invalid ${what}: ${errors.join('; ')}`, {
      errors,
    });
  }
  return result.data;
}

/** Internal routes (X-Internal-Token): capabilities, runs and signals. */
export function registerEngineRoutes(app: FastifyInstance, deps: EngineRouteDeps): void {
  const guard = requireInternalToken(deps.config.INTERNAL_API_TOKEN);

  app.get('/internal/v1/capabilities', { preHandler: guard }, async () =>
    engineCapabilities(deps.config, deps.targets),
  );

  app.post('/internal/v1/runs', { preHandler: guard }, async (req, reply) => {
    const body = parse(StartRunBody, req.body, 'run request');
    const started = await deps.runs.start(body);
    return reply.code(started.created ? 202 : 200).send(started);
  });

  app.post<{ Params: { runId: string } }>(
    '/internal/v1/runs/:runId/signals',
    { preHandler: guard },
    async (req, reply) => {
      const signal = parse(RunSignal, req.body, 'signal');
      const tenantId = req.headers['x-tenant-id'];
      const answer = await deps.runs.signal(
        req.params.runId,
        signal,
        typeof tenantId === 'string' ? tenantId : undefined,
      );
      return reply.code(202).send(answer);
    },
  );

  app.get<{ Params: { runId: string }; Querystring: { tenantId?: string; diagnostics?: string } }>(
    '/internal/v1/runs/:runId',
    { preHandler: guard },
    async (req) => {
      const { tenantId, diagnostics } = req.query;
      return deps.runs.get(req.params.runId, {
        ...(tenantId ? { tenantId } : {}),
        diagnostics: diagnostics === 'true' || diagnostics === '1',
      });
    },
  );
}
