/**
 * The one registry of error codes that DVT+ returns to callers (RFC 9457 `code` member).
 * Each code has the HTTP status it maps to and a documented meaning; `test/error-codes.test.ts`
 * checks that every code is documented. Codes are never renamed or reused once shipped.
 */
export const errorCodes = {
  // generic boundary errors
  VALIDATION_FAILED: {
    status: 400,
    meaning: 'The request body, query or headers do not match the schema.',
  },
  MALFORMED_JSON: { status: 400, meaning: 'The request body is not valid JSON.' },
  UNAUTHENTICATED: {
    status: 401,
    meaning: 'No credential, or the credential is invalid or expired.',
  },
  FORBIDDEN: {
    status: 403,
    meaning: 'The credential is valid but its roles do not allow this action.',
  },
  ORIGIN_NOT_ALLOWED: {
    status: 403,
    meaning: 'The request’s Origin header names a site this service does not accept requests from.',
  },
  NOT_FOUND: { status: 404, meaning: 'No such resource in the caller’s tenant.' },
  CONFLICT: {
    status: 409,
    meaning: 'The resource already exists or the request conflicts with its state.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'The body exceeds the route’s size limit.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    meaning: 'The body’s content type is not accepted by this route.',
  },
  URI_TOO_LONG: {
    status: 414,
    meaning: 'A path segment or the URL is longer than the server accepts.',
  },
  RATE_LIMITED: {
    status: 429,
    meaning: 'Too many requests for this credential; retry after the given delay.',
  },
  INTERNAL_ERROR: {
    status: 500,
    meaning: 'An unexpected server error; the log has the details under the request id.',
  },
  DEPENDENCY_UNAVAILABLE: {
    status: 503,
    meaning: 'A dependency (named in the problem) did not answer in time.',
  },

  // planner
  PLAN_INVALID: {
    status: 422,
    meaning: 'The plan failed validation; `errors` lists every problem with its path.',
  },
  PLAN_DUPLICATE_STEP_ID: { status: 422, meaning: 'Two steps share one id.' },
  PLAN_UNKNOWN_NEEDS: { status: 422, meaning: 'A step needs an id that no step has.' },
  PLAN_CYCLE: { status: 422, meaning: 'The steps’ needs form a cycle; the message spells it out.' },
  PLAN_UNKNOWN_KIND: { status: 422, meaning: 'A step has a kind the plan schema does not know.' },
  PLAN_BAD_PARAMETERS: { status: 422, meaning: 'A step’s parameters do not match its kind.' },
  PLAN_BAD_FIELD: {
    status: 422,
    meaning: 'A plan-level field (schemaVersion, planId, concurrency, defaults, …) is wrong.',
  },
  PLAN_LIMIT_EXCEEDED: {
    status: 422,
    meaning: 'The plan exceeds a limit (steps, depth or payload size).',
  },
  PLAN_CAPABILITY_MISSING: {
    status: 422,
    meaning: 'The engine cannot run some steps; the problem names them and what is missing.',
  },
  WEBHOOK_DESTINATION_FORBIDDEN: {
    status: 422,
    meaning:
      'A webhook URL points at a loopback, private, link-local or metadata address (or does not resolve).',
  },
  MANIFEST_INVALID: {
    status: 422,
    meaning:
      'The dbt manifest cannot be read (not JSON, unknown schema version, missing sections).',
  },
  MANIFEST_NOT_COMPILED: {
    status: 422,
    meaning:
      'The manifest has no compiled SQL; run `dbt compile` (or `dbt docs generate`) first, or ask for a preview.',
  },
  MANIFEST_UNSUPPORTED_RESOURCE: {
    status: 422,
    meaning:
      'The selection contains a resource the policy rejects (e.g. a snapshot with policy reject).',
  },
  SELECTOR_INVALID: { status: 422, meaning: 'A dbt selector expression cannot be parsed.' },

  // artifacts and engine
  PLAN_INTEGRITY_VALIDATION_FAILED: {
    status: 422,
    meaning: 'The stored plan’s bytes do not match the sha256 of its PlanRef.',
  },
  ARTIFACT_TOO_LARGE: { status: 413, meaning: 'The artifact exceeds the configured size limit.' },
  ARTIFACT_INTEGRITY_FAILED: {
    status: 500,
    meaning: 'A stored artifact’s bytes no longer match its sha256; it was altered in storage.',
  },
  ARTIFACT_NOT_FOUND: {
    status: 404,
    meaning: 'No artifact with this sha256 in the caller’s tenant.',
  },
  RUN_NOT_FOUND: { status: 404, meaning: 'No run with this id in the caller’s tenant.' },
  RUN_TERMINAL: { status: 409, meaning: 'The run has ended; the signal is not allowed.' },
  STEP_NOT_TERMINAL: {
    status: 409,
    meaning: 'The step is still pending or running; it cannot be retried yet.',
  },
  STEP_TERMINAL: { status: 409, meaning: 'The step has already ended; it cannot be skipped.' },
  STEP_NOT_FOUND: { status: 404, meaning: 'The run’s plan has no step with this id.' },
  SIGNAL_NOT_ALLOWED: {
    status: 409,
    meaning: 'The signal is not allowed in the run’s current state (e.g. RESUME of a running run).',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    meaning: 'The Idempotency-Key was used before with a different request body.',
  },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof errorCodes;

export function statusOf(code: ErrorCode): number {
  return errorCodes[code].status;
}
