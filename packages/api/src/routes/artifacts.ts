import { ProblemError } from '@dvt/service-kit';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { ApiRoute } from '../http/route-table.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors, Problem, Sha256 } from './schemas.ts';

const StoredSchema = z.object({ sha256: z.string(), sizeBytes: z.number().int(), uri: z.string() });

export function artifactRoutes(deps: RouteDeps): ApiRoute[] {
  const maxBytes = deps.config.ARTIFACT_MAX_BYTES;
  return [
    {
      id: 'artifacts.upload',
      method: 'POST',
      url: '/v1/artifacts',
      summary:
        'Upload an artifact (raw body, any content type; e.g. a dbt manifest) → sha256 and size',
      tag: 'artifacts',
      permission: 'author',
      scope: 'tenant',
      rawBody: true,
      schema: { response: { 201: StoredSchema, 200: StoredSchema, 413: Problem, ...commonErrors } },
      async handler({ principal, body, req, reply }) {
        const raw = body as IncomingMessage;
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
      summary: 'Download an artifact of the caller’s tenant',
      tag: 'artifacts',
      permission: 'read',
      scope: 'tenant',
      schema: {
        params: z.strictObject({ sha256: Sha256 }),
        response: { 200: z.any(), ...commonErrors },
      },
      async handler({ principal, params, reply }) {
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
