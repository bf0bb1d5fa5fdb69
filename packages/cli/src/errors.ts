/**
 * Exit codes and the errors that map to them. Every failure the CLI reports is one line on
 * stderr starting with `dvt:`; the exit code tells scripts what kind of failure it was.
 */

export const ExitCode = {
  /** The command did what it was asked; for `run --watch`, the run ended COMPLETED. */
  ok: 0,
  /** The watched run ended FAILED or CANCELLED. */
  runFailed: 1,
  /** The command line is wrong (unknown command or option, missing or bad value, bad file). */
  usage: 2,
  /** The api answered with an error, or could not be reached. */
  api: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake on the command line or in an input file; the message says how to fix it. */
export class UsageError extends Error {
  readonly code = 'USAGE' as const;
  /** The command whose help to point at, if any. */
  readonly command: string | undefined;

  constructor(message: string, command?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** One entry of a PLAN_INVALID problem's `errors`. */
export interface ProblemIssue {
  code?: string;
  path?: string;
  message?: string;
}

/** An RFC 9457 problem+json answer (or another non-2xx answer) of the api. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string;
  readonly problem: Record<string, unknown>;

  constructor(status: number, problem: Record<string, unknown>) {
    const code = typeof problem.code === 'string' ? problem.code : `HTTP_${status}`;
    const detail =
      typeof problem.detail === 'string'
        ? problem.detail
        : typeof problem.title === 'string'
          ? problem.title
          : `the api answered ${status}`;
    super(`${code}: ${detail}`);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.problem = problem;
  }

  /** The `errors` list of a PLAN_INVALID (or similar) problem, when present. */
  get issues(): ProblemIssue[] {
    const list = this.problem.errors;
    return Array.isArray(list) ? list.filter((e) => typeof e === 'object' && e !== null) : [];
  }
}

/** Nothing answered at the api's address (refused, reset, DNS, timeout). */
export class ConnectionError extends Error {
  readonly code = 'CONNECTION' as const;
  readonly baseUrl: string;

  /** `message` replaces the default "cannot reach" sentence (e.g. for a timeout). */
  constructor(baseUrl: string, options?: ErrorOptions & { message?: string }) {
    super(
      options?.message ?? `cannot reach the api at ${baseUrl} — is the stack up? (pnpm stack up)`,
      options,
    );
    this.name = 'ConnectionError';
    this.baseUrl = baseUrl;
  }
}

/** The lines to print for an error, and the exit code. Unknown errors are API-class (3). */
export function describeError(error: unknown): { lines: string[]; exitCode: ExitCode } {
  if (error instanceof UsageError) {
    const hint = error.command ? ` (see: dvt ${error.command} --help)` : ' (see: dvt --help)';
    return { lines: [`dvt: ${error.message}${hint}`], exitCode: ExitCode.usage };
  }
  if (error instanceof ApiError) {
    const lines = [`dvt: ${error.code}: ${error.detail}`];
    for (const issue of error.issues) {
      const where = issue.path ? `${issue.path}: ` : '';
      const code = issue.code ? ` [${issue.code}]` : '';
      lines.push(`  - ${where}${issue.message ?? '(no message)'}${code}`);
    }
    return { lines, exitCode: ExitCode.api };
  }
  if (error instanceof ConnectionError) {
    return { lines: [`dvt: ${error.message}`], exitCode: ExitCode.api };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { lines: [`dvt: ${message}`], exitCode: ExitCode.api };
}
