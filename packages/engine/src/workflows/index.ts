/**
 * Workflow code. It runs inside Temporal's deterministic sandbox: import only from
 * `@temporalio/workflow`, from files of this folder, and type-only from elsewhere.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { EngineActivities } from '../activities.ts';

export { runWorkflow, signalUpdate, statusQuery } from './run.ts';
export type { RunOutcome } from './run.ts';

const { echo } = proxyActivities<EngineActivities>({ startToCloseTimeout: '10 seconds' });

/** A trivial workflow that proves the worker is wired end to end. */
export async function pingWorkflow(message: string): Promise<string> {
  return await echo(message);
}
