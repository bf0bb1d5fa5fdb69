/** Read commands: `dvt runs`, `dvt status`, `dvt events`. */
import { runStatuses } from '@dvt/contracts';
import type { CliContext } from '../context.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { eventsOf } from '../follow.ts';
import { formatDuration } from '../plan-view.ts';
import { describeEvent, errorText } from '../progress.ts';
import { watchRun } from './plan.ts';

type Obj = Record<string, unknown>;

export function parseCount(
  text: string | undefined,
  option: string,
  command: string,
  max: number,
  min = 1,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(
      `--${option} ${JSON.stringify(text)} must be an integer from ${min} to ${max}`,
      command,
    );
  }
  return n;
}

/** Rows as aligned columns; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function text(value: unknown): string {
  return value === null || value === undefined ? '-' : String(value);
}

function span(start: unknown, end: unknown): string {
  if (typeof start !== 'string') return '-';
  const to = typeof end === 'string' ? Date.parse(end) : NaN;
  return Number.isNaN(to) ? '-' : formatDuration(to - Date.parse(start));
}

export async function runsCommand(ctx: CliContext): Promise<number> {
  const statusText = ctx.string('status');
  const status = statusText?.toUpperCase();
  if (status !== undefined && !(runStatuses as readonly string[]).includes(status)) {
    throw new UsageError(
      `--status ${JSON.stringify(statusText)} is not a run status; use one of ${runStatuses.join(', ')}`,
      'runs',
    );
  }
  const limit = parseCount(ctx.string('limit'), 'limit', 'runs', 500) ?? 20;
  const client = await ctx.client();
  const { body } = await client.get<Obj | Obj[]>(
    `/v1/projects/${encodeURIComponent(ctx.project)}/runs`,
    {
      query: { status, limit, cursor: ctx.string('cursor') },
    },
  );
  if (ctx.flag('json')) {
    ctx.json(body);
    return ExitCode.ok;
  }
  const runs = (Array.isArray(body) ? body : Array.isArray(body.runs) ? body.runs : []) as Obj[];
  if (runs.length === 0) {
    ctx.out(`no runs in project ${ctx.project}${status ? ` with status ${status}` : ''}`);
    return ExitCode.ok;
  }
  const rows = runs.map((r) => {
    const counts = (r.stepCounts ?? {}) as Obj;
    const done =
      Number(counts.completed ?? 0) + Number(counts.failed ?? 0) + Number(counts.skipped ?? 0);
    return [
      text(r.runId),
      text(r.status) + (r.substatus ? ` (${String(r.substatus)})` : ''),
      `${text(r.planId)}@${text(r.planVersion)}`,
      text(r.environment),
      counts.total !== undefined ? `${done}/${text(counts.total)}` : '-',
      text(r.createdAt),
    ];
  });
  for (const line of table(['RUN', 'STATUS', 'PLAN', 'ENV', 'STEPS', 'CREATED'], rows))
    ctx.out(line);
  const next = Array.isArray(body) ? undefined : body.nextCursor;
  if (typeof next === 'string') ctx.out(`more: dvt runs --project ${ctx.project} --cursor ${next}`);
  return ExitCode.ok;
}

export async function statusCommand(ctx: CliContext, [runId]: string[]): Promise<number> {
  const client = await ctx.client();
  const { body: run } = await client.get<Obj>(`/v1/runs/${encodeURIComponent(runId!)}`);
  if (ctx.flag('json')) {
    ctx.json(run);
    return ExitCode.ok;
  }
  for (const line of renderRunStatus(run)) ctx.out(line);
  return ExitCode.ok;
}

/** A run and its step states as text. */
export function renderRunStatus(run: Obj): string[] {
  const counts = (run.stepCounts ?? {}) as Obj;
  const steps = (Array.isArray(run.steps) ? run.steps : []) as Obj[];
  const lines = [
    `run ${text(run.runId)}  ${text(run.status)}${run.substatus ? ` (${String(run.substatus)})` : ''}`,
    `  project ${text(run.projectId)}  environment ${text(run.environment)}  plan ${text(run.planId)} version ${text(run.planVersion)}`,
    `  created ${text(run.createdAt)}  started ${text(run.startedAt)}  ended ${text(run.endedAt)}`,
  ];
  if (run.originalRunId) lines.push(`  retry of ${String(run.originalRunId)}`);
  if (counts.total !== undefined) {
    const parts = ['completed', 'failed', 'skipped', 'running', 'pending']
      .filter((k) => Number(counts[k] ?? 0) > 0)
      .map((k) => `${String(counts[k])} ${k}`);
    lines.push(`  steps ${String(counts.total)}${parts.length ? `: ${parts.join(', ')}` : ''}`);
  }
  if (run.error !== null && run.error !== undefined) lines.push(`  error ${errorText(run.error)}`);
  if (steps.length) {
    lines.push('');
    const rows = steps.map((s) => {
      const detail =
        s.lastError !== null && s.lastError !== undefined && s.status === 'FAILED'
          ? errorText(s.lastError)
          : typeof s.reason === 'string'
            ? s.reason
            : '';
      return [
        text(s.stepId),
        text(s.status),
        text(s.attempts),
        span(s.startedAt, s.endedAt),
        detail,
      ];
    });
    lines.push(...table(['STEP', 'STATUS', 'ATTEMPTS', 'TIME', 'DETAIL'], rows));
  }
  return lines;
}

export async function eventsCommand(ctx: CliContext, [runId]: string[]): Promise<number> {
  const afterSeq =
    parseCount(ctx.string('after-seq'), 'after-seq', 'events', Number.MAX_SAFE_INTEGER, 0) ?? 0;
  const limit = parseCount(ctx.string('limit'), 'limit', 'events', 1000);
  if (limit !== undefined && ctx.flag('follow')) {
    throw new UsageError('--limit applies without --follow only', 'events');
  }
  const client = await ctx.client();
  const json = ctx.flag('json');
  if (ctx.flag('follow')) {
    return watchRun(ctx, client, runId!, {
      expectedSteps: 0,
      afterSeq,
      lines: true,
      jsonLines: json,
    });
  }
  const { body } = await client.get<unknown>(`/v1/runs/${encodeURIComponent(runId!)}/events`, {
    query: { afterSeq, limit: limit ?? 100 },
  });
  const events = eventsOf(body);
  for (const event of events) {
    if (json) ctx.out(JSON.stringify(event));
    else ctx.out(`${event.emittedAt ?? ''} ${describeEvent(event, null)}`.trim());
  }
  if (!json && events.length === 0) ctx.out(`no events after runSeq ${afterSeq}`);
  return ExitCode.ok;
}
