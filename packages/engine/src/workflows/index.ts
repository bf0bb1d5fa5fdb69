/**
 * Workflow code. It runs inside Temporal's deterministic sandbox: import only from
 * `@temporalio/workflow` and type-only from elsewhere.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities.ts';

const { echo } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '10 seconds',
});

/** A trivial workflow that proves the worker is wired end to end. */
export async function pingWorkflow(message: string): Promise<string> {
  return await echo(message);
}
