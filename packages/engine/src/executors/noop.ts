import { sleep } from '@dvt/service-kit';
import type { NoopParams } from '@dvt/contracts';
import { StepError, type ExecutorContext, type ExecutorResult } from './types.ts';

/** Waits `delayMs` (stopping at once when aborted); fails its first `failTimes` attempts. */
export async function runNoop(
  params: NoopParams,
  attempt: number,
  ctx: ExecutorContext,
): Promise<ExecutorResult> {
  if (params.delayMs) await sleep(params.delayMs, ctx.signal);
  if (params.failTimes !== undefined && attempt <= params.failTimes) {
    throw new StepError(
      'NOOP_PLANNED_FAILURE',
      `noop step fails its first ${params.failTimes} attempt(s); this was attempt ${attempt}`,
    );
  }
  return { output: params.delayMs ? { delayMs: params.delayMs } : {} };
}
