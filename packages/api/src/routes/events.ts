import { z } from 'zod';
import type { ApiRoute } from '../http/route-table.ts';
import { streamOverSse, streamOverWebSocket } from '../streams/transports.ts';
import type { RouteDeps } from './deps.ts';
import { commonErrors, RunEventSchema, RunParams } from './schemas.ts';

const Seq = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const PageQuery = z.strictObject({
  afterSeq: Seq.default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Stream routes also take the token as `access_token`, for clients that cannot set headers. */
const StreamQuery = z.strictObject({
  afterSeq: Seq.optional(),
  access_token: z
    .string()
    .optional()
    .meta({ description: 'the bearer token, for clients that cannot set headers; never logged' }),
});

export function eventRoutes(deps: RouteDeps): ApiRoute[] {
  return [
    {
      id: 'events.list',
      method: 'GET',
      url: '/v1/runs/:runId/events',
      summary: 'A run’s events by runSeq, paginated with afterSeq',
      tag: 'events',
      permission: 'read',
      scope: 'run',
      schema: {
        params: RunParams,
        querystring: PageQuery,
        response: {
          200: z.object({
            events: z.array(RunEventSchema),
            nextAfterSeq: z.number().int(),
            hasMore: z.boolean(),
          }),
          ...commonErrors,
        },
      },
      async handler({ run, query }) {
        const page = await deps.runs.listEvents(run!.runId, {
          afterSeq: query.afterSeq,
          limit: query.limit,
        });
        const nextAfterSeq = page.at(-1)?.runSeq ?? query.afterSeq;
        const hasMore =
          page.length === query.limit &&
          (await deps.runs.listEvents(run!.runId, { afterSeq: nextAfterSeq, limit: 1 })).length > 0;
        return { events: page, nextAfterSeq, hasMore };
      },
    },
    {
      id: 'events.sse',
      method: 'GET',
      url: '/v1/runs/:runId/events/stream',
      summary: 'Live events over Server-Sent Events, after afterSeq (or Last-Event-ID)',
      tag: 'events',
      permission: 'read',
      scope: 'run',
      queryToken: true,
      schema: {
        params: RunParams,
        querystring: StreamQuery,
        response: { 200: z.string().meta({ description: 'text/event-stream' }), ...commonErrors },
      },
      async handler({ req, reply, run, principal, query }) {
        const lastEventId = Number(req.headers['last-event-id']);
        const afterSeq =
          query.afterSeq ??
          (Number.isSafeInteger(lastEventId) && lastEventId >= 0 ? lastEventId : 0);
        await streamOverSse(req, reply, deps.streams, {
          runId: run!.runId,
          afterSeq,
          expiresAt: principal.expiresAt,
        });
      },
    },
    {
      kind: 'websocket',
      id: 'events.ws',
      method: 'GET',
      url: '/v1/runs/:runId/events/ws',
      summary: 'Live events over WebSocket, after afterSeq',
      tag: 'events',
      permission: 'read',
      scope: 'run',
      schema: { params: RunParams, querystring: StreamQuery },
      async handler(socket, { run, principal, query }) {
        await streamOverWebSocket(socket, deps.streams, {
          runId: run!.runId,
          afterSeq: query.afterSeq ?? 0,
          expiresAt: principal.expiresAt,
        });
      },
    },
  ];
}
