/** `dvt plan` and `dvt run`: submit a plan (creating the project if needed), start a run, watch it. */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { ApiClient } from '../client.ts';
import type { CliContext } from '../context.ts';
import { ApiError, ExitCode, UsageError } from '../errors.ts';
import { followRunEvents } from '../follow.ts';
import { graphFormatOf, toMermaid, toSvg } from '../graph.ts';
import { planRequestBody, readPlanInput, type PlanSelection } from '../input.ts';
import { normalizeCompiledPlan, renderPlan, type CompiledPlanView } from '../plan-view.ts';
import { createLineRenderer, createTtyRenderer, RunProgress } from '../progress.ts';

function selectionOf(ctx: CliContext): PlanSelection {
  return {
    select: ctx.list('select'),
    exclude: ctx.list('exclude'),
    ...(ctx.string('indirect-selection') !== undefined
      ? { indirectSelection: ctx.string('indirect-selection') }
      : {}),
    fullRefresh: ctx.flag('full-refresh'),
    preview: ctx.flag('preview'),
    simulate: ctx.flag('simulate'),
  };
}

const projectPath = (projectId: string) => `/v1/projects/${encodeURIComponent(projectId)}`;

/** Creates the project; an existing one (409) is fine. */
export async function ensureProject(client: ApiClient, projectId: string): Promise<void> {
  await client.post('/v1/projects', { projectId, name: projectId }, { accept: [409] });
}

function isMissingProject(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 && error.code === 'NOT_FOUND';
}

/** POST …/plans; on "no such project" creates the project and tries once more. */
async function submitPlan(
  ctx: CliContext,
  client: ApiClient,
  file: string,
  command: string,
): Promise<{ answer: unknown; view: CompiledPlanView }> {
  const input = await readPlanInput(file, command);
  const body = planRequestBody(input, selectionOf(ctx), command);
  const path = `${projectPath(ctx.project)}/plans`;
  let answer: unknown;
  try {
    ({ body: answer } = await client.post(path, body));
  } catch (error) {
    if (!isMissingProject(error)) throw error;
    await ensureProject(client, ctx.project);
    ({ body: answer } = await client.post(path, body));
  }
  return { answer, view: normalizeCompiledPlan(answer) };
}

async function writeGraph(ctx: CliContext, file: string, view: CompiledPlanView): Promise<void> {
  const format = graphFormatOf(file);
  if (!format) {
    throw new UsageError(`--graph ${file}: the file must end in .svg or .mmd`, 'plan');
  }
  await writeFile(file, format === 'svg' ? toSvg(view) : toMermaid(view));
  ctx.err(`dvt: wrote the plan graph (${view.steps.length} steps) to ${file}`);
}

export async function planCommand(ctx: CliContext, [file]: string[]): Promise<number> {
  const graph = ctx.string('graph');
  if (graph !== undefined && !graphFormatOf(graph)) {
    throw new UsageError(`--graph ${graph}: the file must end in .svg or .mmd`, 'plan');
  }
  const client = await ctx.client();
  const { answer, view } = await submitPlan(ctx, client, file!, 'plan');
  if (ctx.flag('json')) ctx.json(answer);
  else for (const line of renderPlan(view)) ctx.out(line);
  if (graph !== undefined) await writeGraph(ctx, graph, view);
  return ExitCode.ok;
}

interface RunAnswer {
  runId?: string;
  status?: string;
  links?: Record<string, unknown>;
}

export async function runCommand(ctx: CliContext, [file]: string[]): Promise<number> {
  let planId = ctx.string('plan-id');
  let planVersion = ctx.string('plan-version');
  if (file === undefined && (planId === undefined || planVersion === undefined)) {
    throw new UsageError(
      'give a manifest or plan file, or both --plan-id and --plan-version of a submitted plan',
      'run',
    );
  }
  if (file !== undefined && (planId !== undefined || planVersion !== undefined)) {
    throw new UsageError(
      'give either a file or --plan-id/--plan-version, not both (a file carries its plan id and version)',
      'run',
    );
  }
  if (ctx.flag('preview')) {
    throw new UsageError(
      '--preview plans are compiled without compiled SQL and not stored, so they cannot run; drop --preview (or use --simulate)',
      'run',
    );
  }
  const environment = ctx.string('environment') ?? 'dev';
  const key = ctx.string('idempotency-key') ?? randomUUID();
  const client = await ctx.client();
  const json = ctx.flag('json');

  let expectedSteps = 0;
  if (file !== undefined) {
    const { view } = await submitPlan(ctx, client, file, 'run');
    planId = view.planId;
    planVersion = view.planVersion;
    expectedSteps = view.steps.length;
    if (!json) {
      const approval = view.requiresApproval ? ', requires approval' : '';
      ctx.out(
        `plan ${planId} version ${planVersion}: ${view.steps.length} steps in ${view.levels.length} levels${approval}`,
      );
    }
  }

  const runBody = { planId, planVersion, environment };
  const path = `${projectPath(ctx.project)}/runs`;
  const headers = { 'idempotency-key': key };
  let answer: RunAnswer;
  try {
    ({ body: answer } = await client.post<RunAnswer>(path, runBody, { headers }));
  } catch (error) {
    // An environment that does not exist yet is created, then the start is retried with the
    // same Idempotency-Key.
    if (!isMissingEnvironment(error)) throw error;
    await client.post(
      `${projectPath(ctx.project)}/environments`,
      { name: environment },
      { accept: [409] },
    );
    ({ body: answer } = await client.post<RunAnswer>(path, runBody, { headers }));
  }
  const runId = answer.runId;
  if (json) ctx.json(answer);
  else {
    ctx.out(
      `run ${runId ?? '?'} ${answer.status ?? 'QUEUED'} (project ${ctx.project}, environment ${environment})`,
    );
    for (const [name, href] of Object.entries(answer.links ?? {})) {
      const url = typeof href === 'string' ? href : (href as { href?: string } | null)?.href;
      if (url) ctx.out(`  ${linkLabel(name).padEnd(12)} ${url}`);
    }
  }
  if (!ctx.flag('watch')) return ExitCode.ok;
  if (!runId) throw new Error('the api started the run but sent no runId to watch');
  return watchRun(ctx, client, runId, { expectedSteps, afterSeq: 0 });
}

function isMissingEnvironment(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    [404, 409, 422].includes(error.status) &&
    /environment/i.test(error.detail) &&
    !/already exists/i.test(error.detail)
  );
}

function linkLabel(name: string): string {
  if (/temporal/i.test(name)) return 'temporal ui';
  return name;
}

export interface WatchOptions {
  expectedSteps: number;
  afterSeq: number;
  /** Print events as JSON lines instead of progress. */
  jsonLines?: boolean;
  /** Line output without progress counters, even on a TTY (dvt events --follow). */
  lines?: boolean;
}

/** Follows a run to its end; 0 COMPLETED, 1 FAILED or CANCELLED, 130 when interrupted. */
export async function watchRun(
  ctx: CliContext,
  client: ApiClient,
  runId: string,
  options: WatchOptions,
): Promise<number> {
  const { io } = ctx;
  const progress = new RunProgress(runId, options.expectedSteps);
  const write = (text: string) => void io.stdout.write(text);
  const renderer =
    io.isTTY && !options.jsonLines && !options.lines
      ? createTtyRenderer({
          write,
          progress,
          columns: io.columns,
          ...(io.now ? { now: io.now } : {}),
        })
      : createLineRenderer({ write, progress, counter: !options.lines });
  const ticker =
    io.isTTY && !options.jsonLines ? setInterval(() => renderer.tick(), 1000) : undefined;
  let end;
  try {
    const events = followRunEvents({
      client,
      runId,
      afterSeq: options.afterSeq,
      signal: io.signal,
      poll: ctx.flag('poll'),
      onNotice: (text) => (options.jsonLines ? ctx.err(`dvt: ${text}`) : renderer.notice(text)),
    });
    for (;;) {
      const next = await events.next();
      if (next.done) {
        end = next.value;
        break;
      }
      if (options.jsonLines) {
        progress.apply(next.value);
        io.stdout.write(JSON.stringify(next.value) + '\n');
      } else renderer.onEvent(next.value);
    }
  } finally {
    clearInterval(ticker);
    renderer.finish();
  }
  if (end.status === null) {
    ctx.err(`dvt: stopped watching; the run goes on (dvt status ${runId})`);
    return 130;
  }
  if (!options.jsonLines) {
    for (const failure of progress.failures.filter((f) => !f.willRetry)) {
      ctx.err(`dvt: step ${failure.stepId} failed: ${failure.error}`);
    }
    ctx.out(`run ${runId} ${end.status}${progress.runError ? `: ${progress.runError}` : ''}`);
  }
  return end.status === 'COMPLETED' ? ExitCode.ok : ExitCode.runFailed;
}
