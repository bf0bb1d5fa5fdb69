/**
 * RFC 9457 problem details. Every error a DVT+ service sends is one of these, with a stable
 * `code` from the registry in `@dvt/contracts`.
 */
import { errorCodes, type ErrorCode } from '@dvt/contracts';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

export class ProblemError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly extensions: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    detail: string,
    extensions: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(detail, options);
    this.name = 'ProblemError';
    this.code = code;
    this.status = errorCodes[code].status;
    this.extensions = extensions;
  }

  toBody(instance?: string): ProblemBody {
    return problemBody(this.code, this.message, {
      ...this.extensions,
      ...(instance ? { instance } : {}),
    });
  }
}

export function problemBody(
  code: ErrorCode,
  detail: string,
  extensions: Record<string, unknown> = {},
): ProblemBody {
  return {
    type: `https://dvt.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    title: errorCodes[code].meaning,
    status: errorCodes[code].status,
    code,
    detail,
    ...extensions,
  };
}

/** Matches by code, not `instanceof`, so two copies of this package still agree. */
export function isProblemError(error: unknown): error is ProblemError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'ProblemError' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as { code: string }).code in errorCodes
  );
}
