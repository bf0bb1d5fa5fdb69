/**
 * The Fastify instance every service starts from: request ids, problem+json errors,
 * `/healthz`, `/livez`, `/metrics`, and a guard for internal routes.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { HealthRegistry } from './health.ts';
import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import { isProblemError, problemBody, ProblemError } from './problem.ts';

export interface CreateHttpServerOptions {
  log: Logger;
  health: HealthRegistry;
  metrics: ServiceMetrics;
  /** Default body limit in bytes (Fastify's own default is 1 MiB). */
  bodyLimit?: number;
  /** Extra fields merged into the `/healthz` body, e.g. the worker's polling state. */
  healthExtras?: () => Record<string, unknown>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createHttpServer(options: CreateHttpServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Requests are logged once, on completion, by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Step and run ids may be long (dbt unique_ids reach 309 characters).
    routerOptions: { maxParamLength: 1024 },
    // Errors the router raises before any route runs (bad URL encoding, too-long params)
    // are answered as problems too.
    frameworkErrors: (error, req, reply) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const tooLong = path.split('/').some((segment) => segment.length > 1024);
      const problem = tooLong
        ? new ProblemError(
            'URI_TOO_LONG',
            'a path segment is longer than 1024 characters; shorten the id',
          )
        : new ProblemError(
            'VALIDATION_FAILED',
            `the request URL cannot be read (${(error as { code?: string }).code ?? error.name})`,
          );
      // The offending URL is not echoed back: it may be huge.
      void sendProblem(reply, problem);
    },
    forceCloseConnections: 'idle',
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    options.metrics.httpDuration.observe(
      { method: req.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    // Level policy: probes and metrics at debug, client errors info, server errors error.
    const quiet = route === '/healthz' || route === '/livez' || route === '/metrics';
    const level = reply.statusCode >= 500 ? 'error' : quiet ? 'debug' : 'info';
    req.log[level](
      { method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
  });

  app.setErrorHandler((error, req, reply) => {
    if (isProblemError(error)) {
      return sendProblem(reply, error, req.url);
    }
    const fastifyCode = (error as { code?: string }).code;
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
      return sendProblem(
        reply,
        new ProblemError(
          'PAYLOAD_TOO_LARGE',
          `the body exceeds this route's limit of ${req.routeOptions.bodyLimit ?? options.bodyLimit} bytes`,
        ),
        req.url,
      );
    }
    if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
      return sendProblem(
        reply,
        new ProblemError(
          'UNSUPPORTED_MEDIA_TYPE',
          `content type ${req.headers['content-type'] ?? '(none)'} is not accepted here`,
        ),
        req.url,
      );
    }
    if (
      fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      fastifyCode === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      // Fastify's JSON parser passes JSON.parse's SyntaxError on with statusCode 400; any
      // other SyntaxError (a bad RegExp in a handler, say) is our bug, not the client's JSON.
      (error instanceof SyntaxError && status === 400)
    ) {
      return sendProblem(
        reply,
        new ProblemError(
          'MALFORMED_JSON',
          `the body is not valid JSON: ${(error as Error).message}`,
        ),
        req.url,
      );
    }
    if ((error as { validation?: unknown }).validation) {
      return sendProblem(
        reply,
        new ProblemError('VALIDATION_FAILED', (error as Error).message),
        req.url,
      );
    }
    if (status === 429) {
      return sendProblem(
        reply,
        new ProblemError('RATE_LIMITED', (error as Error).message),
        req.url,
      );
    }
    if (status >= 400 && status < 500) {
      return sendProblem(
        reply,
        new ProblemError('VALIDATION_FAILED', (error as Error).message),
        req.url,
      );
    }
    if (isPostgresUnavailable(error)) {
      req.log.warn({ err: error }, 'postgres unavailable');
      return sendProblem(
        reply,
        new ProblemError(
          'DEPENDENCY_UNAVAILABLE',
          'the database (postgres) is not reachable; retry shortly',
          { dependency: 'postgres' },
        ),
        req.url,
      );
    }
    req.log.error({ err: error }, 'unhandled error');
    return sendProblem(
      reply,
      new ProblemError('INTERNAL_ERROR', `unexpected error; quote request id ${req.id}`),
      req.url,
    );
  });

  app.setNotFoundHandler((req, reply) =>
    sendProblem(
      reply,
      new ProblemError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
      req.url,
    ),
  );

  app.get('/livez', async () => ({ status: 'ok' }));

  app.get('/healthz', async (_req, reply) => {
    const report = await options.health.check();
    for (const [dependency, result] of Object.entries(report.checks)) {
      options.metrics.dependencyUp.inc({ dependency, result: result.ok ? 'ok' : 'error' });
    }
    return reply
      .code(report.status === 'ok' ? 200 : 503)
      .send({ ...report, ...options.healthExtras?.() });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });

  return app;
}

export function sendProblem(
  reply: FastifyReply,
  error: ProblemError,
  instance?: string,
): FastifyReply {
  return reply
    .code(error.status)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .send(error.toBody(instance?.split('?')[0]));
}

/** A preHandler that admits only callers presenting the internal token. */
export function requireInternalToken(token: string) {
  const expected = Buffer.from(token);
  return async (req: FastifyRequest): Promise<void> => {
    const given = req.headers['x-internal-token'];
    const presented = Buffer.from(typeof given === 'string' ? given : '');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new ProblemError(
        'UNAUTHENTICATED',
        'internal routes need a valid X-Internal-Token header',
      );
    }
  };
}

export { problemBody };

// Socket errors reaching this handler unwrapped come from the database: the clients of other
// dependencies (internal services, S3, Temporal) turn theirs into problems naming them.
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT']);
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Cannot use a pool after calling end on the pool',
];

/**
 * Whether an error (or one of its causes) means PostgreSQL cannot be reached or is refusing
 * work: socket errors of node-postgres, its "Connection terminated" and pool timeouts,
 * SQLSTATE class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now) and
 * 53300 (too many connections). These are the database being away, not a bug: 503.
 */
function isPostgresUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const current = queue.shift();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const { code, message, cause, errors } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    if (typeof code === 'string') {
      if (CONNECTION_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code)) return true;
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    if (typeof message === 'string' && CONNECTION_MESSAGES.some((m) => message.includes(m)))
      return true;
    queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return false;
}
