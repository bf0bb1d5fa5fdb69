import { ProblemError } from '@dvt/service-kit';
import { z } from 'zod';
import { parseGrant } from '../auth/roles.ts';
import type { ApiRoute } from '../http/route-table.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors } from './schemas.ts';

const KeyView = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  roles: z.array(z.string()),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
});

const Grant = z
  .string()
  .min(1)
  .max(300)
  .refine(
    (v) => parseGrant(v) !== undefined,
    'must be viewer, operator, author or admin, optionally followed by :projectId',
  );

export function apiKeyRoutes(deps: RouteDeps): ApiRoute[] {
  return [
    {
      id: 'apiKeys.create',
      method: 'POST',
      url: '/v1/api-keys',
      summary: 'Create an API key for the tenant; the key is shown once and stored only hashed',
      tag: 'api-keys',
      permission: 'admin',
      scope: 'tenant-wide',
      schema: {
        body: z.strictObject({
          name: z.string().min(1).max(200),
          roles: z.array(Grant).min(1).max(50),
          expiresAt: z.iso.datetime({ offset: true }).optional(),
        }),
        response: { 201: KeyView.extend({ key: z.string() }), ...commonErrors },
      },
      async handler({ principal, body, reply }) {
        if (body.expiresAt && Date.parse(body.expiresAt) <= Date.now()) {
          throw new ProblemError('VALIDATION_FAILED', 'expiresAt must be in the future');
        }
        const created = await deps.apiKeys.create(
          principal.tenantId,
          { name: body.name, roles: body.roles, expiresAt: body.expiresAt ?? null },
          principal.subject,
        );
        return reply.code(201).header('cache-control', 'no-store').send(created);
      },
    },
    {
      id: 'apiKeys.list',
      method: 'GET',
      url: '/v1/api-keys',
      summary: 'List the tenant’s API keys (never the keys themselves)',
      tag: 'api-keys',
      permission: 'admin',
      scope: 'tenant-wide',
      schema: { response: { 200: z.object({ apiKeys: z.array(KeyView) }), ...commonErrors } },
      async handler({ principal }) {
        return { apiKeys: await deps.apiKeys.list(principal.tenantId) };
      },
    },
    {
      id: 'apiKeys.revoke',
      method: 'DELETE',
      url: '/v1/api-keys/:keyId',
      summary: 'Revoke an API key',
      tag: 'api-keys',
      permission: 'admin',
      scope: 'tenant-wide',
      schema: {
        params: z.strictObject({ keyId: z.string().min(1).max(100) }),
        response: { 204: z.null(), ...commonErrors },
      },
      async handler({ principal, params, reply }) {
        if (!(await deps.apiKeys.revoke(principal.tenantId, params.keyId))) {
          throw new ProblemError('NOT_FOUND', `no API key ${params.keyId} in this tenant`);
        }
        return reply.code(204).send();
      },
    },
  ];
}
