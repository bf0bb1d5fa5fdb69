import { Allowlist, DestinationError, ProblemError, resolveGuarded } from '@dvt/service-kit';
import { z } from 'zod';
import type { ApiRoute } from '../http/route-table.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors, EventTypeSchema, Slug } from './schemas.ts';

const Subscription = z.object({
  id: z.string(),
  projectId: z.string(),
  url: z.string(),
  eventTypes: z.array(EventTypeSchema).nullable(),
  createdAt: z.string(),
});

export function webhookRoutes(deps: RouteDeps): ApiRoute[] {
  const allowlist = new Allowlist(deps.config.WEBHOOK_ALLOWLIST);
  return [
    {
      id: 'webhooks.create',
      method: 'POST',
      url: '/v1/projects/:projectId/webhooks',
      summary: 'Subscribe a URL to the project’s run events; the signing secret is shown once',
      tag: 'webhooks',
      permission: 'admin',
      scope: 'project',
      schema: {
        params: z.strictObject({ projectId: Slug }),
        body: z.strictObject({
          url: z.string().min(1).max(2000),
          eventTypes: z.array(EventTypeSchema).min(1).optional(),
          secret: z.string().min(16).max(512).optional(),
        }),
        response: { 201: Subscription.extend({ secret: z.string() }), ...commonErrors },
      },
      async handler({ principal, projectId, body, reply }) {
        await checkDestination(body.url, allowlist, deps);
        const created = await deps.webhooks.create({
          tenantId: principal.tenantId,
          projectId: projectId!,
          url: body.url,
          ...(body.secret ? { secret: body.secret } : {}),
          eventTypes: body.eventTypes ?? null,
        });
        const { tenantId: _t, ...view } = created;
        return reply.code(201).header('cache-control', 'no-store').send(view);
      },
    },
    {
      id: 'webhooks.list',
      method: 'GET',
      url: '/v1/projects/:projectId/webhooks',
      summary: 'List the project’s webhook subscriptions (without secrets)',
      tag: 'webhooks',
      permission: 'read',
      scope: 'project',
      schema: {
        params: z.strictObject({ projectId: Slug }),
        response: { 200: z.object({ webhooks: z.array(Subscription) }), ...commonErrors },
      },
      async handler({ principal, projectId }) {
        const list = await deps.webhooks.list({
          tenantId: principal.tenantId,
          projectId: projectId!,
        });
        return { webhooks: list.map(({ tenantId: _t, ...view }) => view) };
      },
    },
    {
      id: 'webhooks.delete',
      method: 'DELETE',
      url: '/v1/projects/:projectId/webhooks/:webhookId',
      summary: 'Delete a webhook subscription',
      tag: 'webhooks',
      permission: 'admin',
      scope: 'project',
      schema: {
        params: z.strictObject({ projectId: Slug, webhookId: z.string().min(1).max(100) }),
        response: { 204: z.null(), ...commonErrors },
      },
      async handler({ principal, projectId, params, reply }) {
        const deleted = await deps.webhooks.delete({
          tenantId: principal.tenantId,
          projectId: projectId!,
          id: params.webhookId,
        });
        if (!deleted)
          throw new ProblemError(
            'NOT_FOUND',
            `no webhook subscription ${params.webhookId} in project ${projectId}`,
          );
        return reply.code(204).send();
      },
    },
  ];
}

/**
 * The relay refuses off-limits destinations at delivery; checking at creation as well tells
 * the subscriber at once instead of failing every delivery later. The host is resolved (with
 * the same guard and allowlist format as the relay) but nothing is sent to it.
 */
async function checkDestination(url: string, allowlist: Allowlist, deps: RouteDeps) {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ProblemError('VALIDATION_FAILED', `invalid body: url: ${url} is not an absolute URL`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new ProblemError(
      'VALIDATION_FAILED',
      `invalid body: url: only http and https URLs can receive webhooks, not ${target.protocol}`,
    );
  }
  try {
    await resolveGuarded(target.hostname, allowlist, {
      setting: 'WEBHOOK_ALLOWLIST',
      ...(deps.resolver ? { resolver: deps.resolver } : {}),
    });
  } catch (error) {
    if (!(error instanceof DestinationError)) throw error;
    throw new ProblemError(
      'WEBHOOK_DESTINATION_FORBIDDEN',
      `webhook url refused: ${error.message}`,
      {
        host: error.host,
        ...(error.address ? { address: error.address } : {}),
        setting: 'WEBHOOK_ALLOWLIST',
      },
    );
  }
}
