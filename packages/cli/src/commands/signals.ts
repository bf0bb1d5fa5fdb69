/** Signals: `dvt cancel | pause | resume | approve | retry-step | skip-step | retry-run`. */
import { randomUUID } from 'node:crypto';
import { signalCommands, type SignalCommand } from '../args.ts';
import type { CliContext } from '../context.ts';
import { ExitCode, UsageError } from '../errors.ts';

export async function signalCommand(
  ctx: CliContext,
  name: SignalCommand,
  [runId]: string[],
): Promise<number> {
  const spec = signalCommands[name];
  const stepId = ctx.string('step');
  if (spec.step === 'required' && stepId === undefined) {
    throw new UsageError(`${name} needs --step with the id of the step`, name);
  }
  if (spec.step === 'no' && stepId !== undefined) {
    throw new UsageError(`${name} is about the whole run; drop --step`, name);
  }
  const signal = {
    signalId: ctx.string('signal-id') ?? randomUUID(),
    type: spec.type,
    ...(stepId !== undefined ? { stepId } : {}),
    ...(ctx.string('reason') !== undefined ? { reason: ctx.string('reason') } : {}),
  };
  const client = await ctx.client();
  const { body } = await client.post<Record<string, unknown>>(
    `/v1/runs/${encodeURIComponent(runId!)}/signals`,
    signal,
  );
  if (ctx.flag('json')) {
    ctx.json(body);
    return ExitCode.ok;
  }
  const step = stepId !== undefined ? ` step ${stepId}` : '';
  ctx.out(`${spec.type}${step} sent to run ${runId} (signalId ${signal.signalId})`);
  const newRunId = body && typeof body.newRunId === 'string' ? body.newRunId : undefined;
  if (newRunId) ctx.out(`new run ${newRunId} (dvt status ${newRunId})`);
  return ExitCode.ok;
}
