/** zod schemas shared by the route definitions; they are also the OpenAPI components. */
import { eventTypes, runStatuses, signalTypes } from '@dvt/contracts';
import { z } from 'zod';

export const Slug = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[a-z0-9][a-z0-9-]*$/,
    'must be lower-case letters, digits and dashes, starting with a letter or digit',
  );

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

export const PlanIdText = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]*$');
export const PlanVersionText = z.string().min(1).max(64);
export const RunIdText = z.string().min(1).max(200);

export const ProjectParams = z.strictObject({ projectId: Slug });
export const RunParams = z.strictObject({ runId: RunIdText });

export const Problem = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string(),
    instance: z.string().optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details with a stable code' });

export const RunEventSchema = z
  .object({
    eventId: z.string(),
    runId: z.string(),
    runSeq: z.number().int(),
    idempotencyKey: z.string(),
    tenantId: z.string(),
    projectId: z.string(),
    environment: z.string(),
    planId: z.string(),
    planVersion: z.string(),
    stepId: z.string().nullable(),
    logicalAttemptId: z.string(),
    attempt: z.number().int().nullable(),
    eventType: z.enum(eventTypes),
    payload: z.record(z.string(), z.unknown()),
    emittedAt: z.string(),
    persistedAt: z.string(),
  })
  .meta({ id: 'RunEvent' });

export const RunLinks = z.object({
  self: z.string(),
  events: z.string(),
  stream: z.string(),
  websocket: z.string(),
  temporalUi: z.string(),
});

export const RunStatusSchema = z.enum(runStatuses);
export const SignalTypeSchema = z.enum(signalTypes);
export const EventTypeSchema = z.enum(eventTypes);

/** Problem responses every authenticated route can give. */
export const commonErrors = {
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  429: Problem,
};
