import { ProblemError } from '@dvt/service-kit';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Principal } from '../auth/authenticator.ts';
import { allows, formatGrant } from '../auth/roles.ts';
import type { ApiRoute } from '../http/route-table.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors, Problem, Sha256, Slug } from './schemas.ts';

const StoredSchema = z.object({ sha256: z.string(), sizeBytes: z.number().int(), uri: z.string() });

export function artifactRoutes(deps: RouteDeps): ApiRoute[] {
  const maxBytes = deps.config.ARTIFACT_MAX_BYTES;
  return [
    {
      id: 'artifacts.upload',
      method: 'POST',
      url: '/v1/artifacts',
      summary:
        'Upload an artifact (raw body, any content type; e.g. a dbt manifest) → sha256 and size. With ?projectId= it belongs to that project (author on it suffices); without, it is tenant-level and needs a tenant-wide author grant',
      tag: 'artifacts',
      permission: 'author',
      scope: 'tenant',
      rawBody: true,
      schema: {
        querystring: z.strictObject({ projectId: Slug.optional() }),
        response: { 201: StoredSchema, 200: StoredSchema, 413: Problem, ...commonErrors },
      },
      async handler({ principal, query, body, req, reply }) {
        const raw = body as IncomingMessage;
        const projectId = (query as { projectId?: string }).projectId;
        try {
          await checkUploadTarget(deps, principal, projectId);
        } catch (error) {
          reply.header('connection', 'close');
          throw error;
        }
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          // Refuse before reading: the client learns at once, nothing is stored, and the
          // connection closes instead of draining the rest of the body.
          reply.header('connection', 'close');
          throw tooLarge(maxBytes);
        }
        const contentType = req.headers['content-type'];
        let stored;
        try {
          stored = await deps.artifacts.put(principal.tenantId, raw, {
            kind: 'upload',
            createdBy: principal.subject,
            ...(contentType ? { contentType } : {}),
          });
        } catch (error) {
          if (!raw.complete) reply.header('connection', 'close');
          throw error;
        }
        if (projectId) {
          await deps.artifactLinks.link({
            tenantId: principal.tenantId,
            sha256: stored.sha256,
            projectId,
            createdBy: principal.subject,
          });
        }
        return reply
          .code(stored.created ? 201 : 200)
          .header('location', `/v1/artifacts/${stored.sha256}`)
          .send({ sha256: stored.sha256, sizeBytes: stored.sizeBytes, uri: stored.uri });
      },
    },
    {
      id: 'artifacts.download',
      method: 'GET',
      url: '/v1/artifacts/:sha256',
      // Tenant-wide grants read every artifact of the tenant; a project-scoped grant reads those
      // of its projects (uploaded for it, plans stored for it, artifacts named by its runs'
      // events; see data/artifact-links.ts). Any other artifact answers 404, as one of another
      // tenant does, so a project-scoped caller learns nothing about other projects' artifacts.
      summary:
        'Download an artifact of the caller’s tenant (project-scoped grants: artifacts of their projects and runs only)',
      tag: 'artifacts',
      permission: 'read',
      scope: 'tenant',
      schema: {
        params: z.strictObject({ sha256: Sha256 }),
        response: { 200: z.any(), ...commonErrors },
      },
      async handler({ principal, params, reply }) {
        if (!(await canReadArtifact(deps, principal, params.sha256))) {
          // Worded as the store words a missing one, so the answer does not tell them apart.
          throw new ProblemError(
            'ARTIFACT_NOT_FOUND',
            `no artifact ${params.sha256} in this tenant`,
            {
              sha256: params.sha256,
            },
          );
        }
        const { stream, meta } = await deps.artifacts.get(principal.tenantId, params.sha256);
        return reply
          .header('content-type', meta.contentType)
          .header('content-length', String(meta.sizeBytes))
          .header('etag', `"${params.sha256}"`)
          .header('cache-control', 'private, max-age=31536000, immutable')
          .send(stream);
      },
    },
  ];
}

export function tooLarge(maxBytes: number): ProblemError {
  return new ProblemError(
    'ARTIFACT_TOO_LARGE',
    `the artifact exceeds the limit of ${maxBytes} bytes (ARTIFACT_MAX_BYTES)`,
    {
      limitBytes: maxBytes,
    },
  );
}

/** Whether the principal may read the tenant's artifact `sha256` (see the download route). */
export async function canReadArtifact(
  deps: RouteDeps,
  principal: Principal,
  sha256: string,
): Promise<boolean> {
  if (allows(principal.grants, 'read', null)) return true;
  const projects = [
    ...new Set(principal.grants.flatMap((g) => (g.projectId === null ? [] : [g.projectId]))),
  ];
  return deps.artifactLinks.linkedToAny(principal.tenantId, sha256, projects);
}

async function checkUploadTarget(
  deps: RouteDeps,
  principal: Principal,
  projectId: string | undefined,
): Promise<void> {
  const held = principal.grants.map(formatGrant).join(', ') || 'none';
  if (projectId === undefined) {
    if (allows(principal.grants, 'author', null)) return;
    throw new ProblemError(
      'FORBIDDEN',
      `a tenant-level upload needs a tenant-wide author or admin grant; the credential grants: ${held}. Upload for one of your projects with ?projectId=<project>`,
    );
  }
  if (!(await deps.projects.get(principal.tenantId, projectId))) {
    throw new ProblemError(
      'NOT_FOUND',
      `no project ${projectId}; create it with POST /v1/projects`,
    );
  }
  if (!allows(principal.grants, 'author', projectId)) {
    throw new ProblemError(
      'FORBIDDEN',
      `uploading for project ${projectId} needs the role author or admin on it; the credential grants: ${held}`,
    );
  }
}
